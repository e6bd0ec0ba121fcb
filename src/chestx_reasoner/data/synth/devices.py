"""Support devices as metal primitives: tubes, lines, a pacemaker generator and its leads.

Positions follow the patient's landmarks (carina, heart, clavicles, left dome), so a tube tip
sits where the report says it does on any build; `draw_primitives` with `widen` gives the mask.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from .geometry import Geometry, heart_extents, side_indices, side_sign
from .spec import VisibleFinding

DEVICES = ("endotracheal tube", "central venous catheter", "pacemaker", "enteric tube")

Prim = tuple[str, list[tuple[float, float]], float, int]  # kind, points, width, grey value


def _spline(points: list[tuple[float, float]], per: int = 8) -> list[tuple[float, float]]:
    """Catmull-Rom through the points, for smooth tubes and leads."""
    p = np.array([points[0], *points, points[-1]], dtype=np.float64)
    t = np.linspace(0, 1, per, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        seg = 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                     + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        out.extend(map(tuple, seg))
    out.append(tuple(p[-2]))
    return out


def device_primitives(g: Geometry, f: VisibleFinding) -> list[Prim]:
    """Metal shapes of a support device, canonical units (width as a fraction of the image)."""
    hr, _ = heart_extents(g, np.array([g.heart_top + 0.35 * (g.heart_bottom - g.heart_top)]))
    if f.name == "endotracheal tube":
        tip = g.carina - 0.045
        return [("line", [(0.5 - 0.011, -0.02), (0.5 - 0.011, tip)], 0.004, 170),
                ("line", [(0.5 + 0.011, -0.02), (0.5 + 0.011, tip)], 0.004, 170),
                ("line", [(0.5 - 0.004, -0.02), (0.5 - 0.004, tip)], 0.009, 245)]
    if f.name == "central venous catheter":
        s = side_indices(f.side if f.side in ("left", "right") else "right")[0]
        sg = side_sign(s)
        pts = [(0.5 + sg * g.half * 0.8, g.clavicle + 0.05), (0.5 + sg * 0.16, g.clavicle + 0.045),
               (0.5 + sg * 0.07, g.clavicle + 0.06)]
        if s == 1:
            pts.append((0.5 + 0.01, g.carina - 0.07))
        pts += [(0.5 - 0.035, g.carina - 0.03), (0.5 - 0.033, g.carina + 0.065)]
        return [("line", _spline(pts), 0.006, 230)]
    if f.name == "pacemaker":
        s = side_indices(f.side if f.side in ("left", "right") else "left")[0]
        sg = side_sign(s)
        gx, gy = 0.5 + sg * g.half * 0.62, g.clavicle + 0.075
        svc = [(0.5 + sg * 0.10, g.clavicle + 0.05), (0.5 - 0.03, g.carina - 0.02),
               (0.5 - 0.035, g.heart_top + 0.02)]
        ra = (0.5 - 0.5 * float(hr[0]), g.heart_top + 0.06)
        rv = (0.5 + 0.55 * g.heart_left, g.heart_bottom - 0.09)
        atrial = _spline([(gx, gy), *svc, (ra[0], ra[1] + 0.04), ra])
        ventricular = _spline([(gx, gy), *svc, (0.5, g.heart_bottom - 0.12), rv])
        return [("box", [(gx - 0.045, gy - 0.03), (gx + 0.045, gy + 0.03)], 0.0, 250),
                ("box", [(gx - 0.03, gy - 0.01), (gx + 0.035, gy + 0.022)], 0.0, 225),
                ("line", atrial, 0.006, 245), ("line", ventricular, 0.006, 245)]
    if f.name == "enteric tube":
        dl = g.dome[1]
        pts = [(0.5 + 0.012, -0.02), (0.5 + 0.014, g.carina), (0.5 + 0.03, dl - 0.03),
               (0.5 + 0.09, dl + 0.06), (0.5 + 0.16, dl + 0.08), (0.5 + 0.2, dl + 0.05)]
        return [("line", _spline(pts), 0.008, 230)]
    return []


def draw_primitives(draw: ImageDraw.ImageDraw, prims: list[Prim], n: int,
                    widen: float = 0.0, value: int | None = None) -> None:
    """Rasterise device primitives; `widen` and `value` turn them into a region mask."""
    for kind, pts, width, grey in prims:
        fill = grey if value is None else value
        xy = [(x * n, y * n) for x, y in pts]
        if kind == "box":
            pad = widen * n / 2
            box = (xy[0][0] - pad, xy[0][1] - pad, xy[1][0] + pad, xy[1][1] + pad)
            draw.rounded_rectangle(box, radius=max(1, n * 0.01), fill=fill)
        else:
            draw.line(xy, fill=fill, width=max(2, round((width + widen) * n)), joint="curve")
