"""How each visible finding changes the canonical-frame picture, and where (its mask).

Lung and pleural findings return a `Layer` (opacity that replaces lung air, extra lucency,
thin bright lines); devices are metal primitives (`devices`); cardiomegaly, mediastinal
widening, atelectatic volume loss and rib fractures change the anatomy itself (`geometry`).
Shapes and positions are a pure function of the patient's build and the finding (never of the
rendering rng), so `finding_region` is exact and a lesion keeps its place across studies.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .geometry import (
    Field,
    Geometry,
    central_edges,
    heart_extents,
    lateral_edge,
    rib_paths,
    severity_index,
    side_indices,
    side_sign,
)
from .spec import ZONES, VisibleFinding

ANATOMIC = ("cardiomegaly", "enlarged cardiomediastinum", "fracture")
DEFAULT_ZONE = {"nodule": "middle", "mass": "middle"}  # others default to the lower zone


@dataclass(slots=True)
class Layer:
    """One finding's contribution, canonical frame, full size."""

    mask: np.ndarray  # bool: where the finding is drawn
    opacity: np.ndarray | None = None  # replaces lung air, 0..1
    lucency: np.ndarray | None = None  # air outside the lung (pneumothorax), 0..1
    lines: np.ndarray | None = None  # additive thin bright lines, 0..1


def finding_rng(g: Geometry, f: VisibleFinding, stream: int = 0) -> np.random.Generator:
    """Shape randomness tied to the patient and the finding, not to severity or the study;
    `stream` separates independent uses (placement vs texture)."""
    key = zlib.crc32(f"{f.name}|{f.side}|{f.zone}".encode())
    return np.random.default_rng([g.seed, key, stream])


def blur121(a: np.ndarray, passes: int = 1) -> np.ndarray:
    """Separable [1, 2, 1] binomial blur (sigma ~0.7 px per pass); far cheaper than Pillow's."""
    a = a.astype(np.float32, copy=True)
    for _ in range(passes):
        a[1:-1] = 0.25 * (a[:-2] + a[2:]) + 0.5 * a[1:-1]
        a[:, 1:-1] = 0.25 * (a[:, :-2] + a[:, 2:]) + 0.5 * a[:, 1:-1]
    return a


def _cols(fd: Field, s: int) -> slice:
    split = fd.size // 2
    return slice(0, split) if s == 0 else slice(split, fd.size)


def _window(fd: Field, cx: float, cy: float, rx: float, ry: float) -> tuple[slice, slice]:
    n = fd.size
    x0, x1 = max(int((cx - rx) * n), 0), min(int((cx + rx) * n) + 2, n)
    y0, y1 = max(int((cy - ry) * n), 0), min(int((cy + ry) * n) + 2, n)
    return slice(max(min(y0, y1 - 1), 0), max(y1, 1)), slice(max(min(x0, x1 - 1), 0), max(x1, 1))


def zone_anchor(g: Geometry, s: int, zone: str | None, name: str) -> tuple[float, ...]:
    """Centre (x, y) of a lung zone and its half-width and height (zones are lung thirds)."""
    zone = zone if zone in ZONES else DEFAULT_ZONE.get(name, "lower")
    length = g.dome[s] - g.top
    y = g.top + (ZONES.index(zone) + 0.5) * length / 3
    if zone == "lower":
        y -= 0.03 * length
    edges = central_edges(g, np.array([y]))
    q_med = float(edges[s][0])
    q_lat = float(lateral_edge(g, s, y))
    qm = 0.5 * (q_med + q_lat)
    return 0.5 + side_sign(s) * qm, y, 0.5 * (q_lat - q_med), length / 3


def _draw_window(shape: tuple[int, int], lines: list, origin: tuple[int, int],
                 n: int) -> np.ndarray:
    """Rasterise polylines (points in canonical units) into a float window, 0..1."""
    im = Image.new("L", (shape[1], shape[0]))
    d = ImageDraw.Draw(im)
    for pts, width in lines:
        d.line([(x * n - origin[1], y * n - origin[0]) for x, y in pts], fill=255,
               width=max(1, round(width * n)), joint="curve")
    return np.asarray(im, dtype=np.float32) / 255.0


def _blob(fd: Field, f: VisibleFinding, scale: float, n_blobs: int,
          sigma: tuple[float, float]) -> list[tuple]:
    """A union (max) of Gaussians spread over the zone, per side; extents grow with `scale`.

    Offsets are drawn in unit terms and then scaled, so a more severe finding is the same
    shape, larger (severity is monotonic in area). Returns (side, window, field, anchor).
    """
    g, rng = fd.g, finding_rng(fd.g, f)
    out = []
    for s in side_indices(f.side):
        cx, cy, hw, zh = zone_anchor(g, s, f.zone, f.name)
        ex, ey = scale * hw, scale * 0.45 * zh
        unit = rng.uniform(-1, 1, (n_blobs, 2))
        sig = rng.uniform(*sigma, n_blobs) * max(ex, ey)
        pad = 3.2 * float(sig.max())
        win = _window(fd, cx, cy, ex + pad, ey + pad)
        xs, ys = fd.x[:, win[1]], fd.y[win[0]]
        field = np.zeros((ys.shape[0], xs.shape[1]), np.float32)
        for (ux, uy), sg in zip(unit, sig, strict=True):
            k = -0.5 / (sg * sg)
            bump = np.exp(k * (xs - (cx + ux * ex)) ** 2) * np.exp(k * (ys - (cy + uy * ey)) ** 2)
            np.maximum(field, bump, out=field)
        out.append((s, win, field, (cx, cy, ex, ey)))
    return out


def _mottle(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth random 0..1 texture with blobs about `cell` pixels across."""
    h, w = shape
    coarse = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
    smooth = Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(smooth), 0.0, 1.0)


def _lung_layer(fd: Field, op: np.ndarray, threshold: float = 0.06) -> Layer:
    return Layer(mask=(op > threshold) & (fd.air > 0.1), opacity=op)


def _consolidation(fd: Field, f: VisibleFinding) -> Layer:
    sev = severity_index(f)
    op = np.zeros((fd.size, fd.size), np.float32)
    rng = finding_rng(fd.g, f, 1)
    cell = max(2, fd.size // 32)
    for s, win, field, (cx, cy, ex, _ey) in _blob(fd, f, (0.5, 0.72, 0.95)[sev], 10, (0.3, 0.45)):
        ragged = field * (0.75 + 0.5 * _mottle(rng, field.shape, cell))
        dense = blur121(np.clip((ragged - 0.25) / 0.35, 0.0, 1.0), 1)
        sign, branches = side_sign(s), []
        for i in range(3):  # air bronchograms: lucent branching tubes from the hilar side
            a = (i - 1) * 0.45 + rng.normal(0, 0.1)
            x0, y0 = cx - sign * 0.7 * ex, cy + (i - 1) * 0.2 * ex
            x1, y1 = x0 + sign * np.cos(a) * 1.1 * ex, y0 + np.sin(a) * 1.1 * ex
            xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
            branches.append(([(x0, y0), (xm, ym + 0.1 * ex), (x1, y1)], 0.008))
            branches.append(([(xm, ym + 0.1 * ex), (xm + sign * 0.4 * ex, ym + 0.4 * ex)], 0.005))
        origin = (win[0].start, win[1].start)
        tubes = blur121(_draw_window(dense.shape, branches, origin, fd.size), 2)
        op[win] = np.maximum(op[win], (0.64 + 0.08 * sev) * dense * (1 - 0.55 * tubes))
    return _lung_layer(fd, op)


def _lung_opacity(fd: Field, f: VisibleFinding) -> Layer:
    sev = severity_index(f)
    op = np.zeros((fd.size, fd.size), np.float32)
    for _s, win, field, _a in _blob(fd, f, (0.55, 0.75, 0.95)[sev], 4, (0.45, 0.6)):
        op[win] = np.maximum(op[win], (0.35 + 0.12 * sev) * np.clip(field * 1.25, 0.0, 1.0))
    return _lung_layer(fd, op)


def _pneumonia(fd: Field, f: VisibleFinding) -> Layer:
    sev = severity_index(f)
    op = np.zeros((fd.size, fd.size), np.float32)
    rng = finding_rng(fd.g, f, 1)
    cell = max(2, fd.size // 40)
    for _s, win, field, _a in _blob(fd, f, (0.55, 0.75, 0.95)[sev], 14, (0.15, 0.3)):
        mottle = _mottle(rng, field.shape, cell)
        patchy = np.clip((field * (0.4 + mottle) - 0.25) / 0.6, 0.0, 1.0)
        op[win] = np.maximum(op[win], (0.5 + 0.08 * sev) * blur121(patchy, 1))
    return _lung_layer(fd, op)


def _edema(fd: Field, f: VisibleFinding) -> Layer:
    g, sev, rng = fd.g, severity_index(f), finding_rng(fd.g, f)
    op = np.zeros((fd.size, fd.size), np.float32)
    hy = g.hilum + 0.03
    sx, sy = (0.09, 0.11, 0.13)[sev], (0.11, 0.14, 0.17)[sev]
    rows = np.exp(-(((fd.y - hy) / sy) ** 2))
    edges = central_edges(g, np.array([hy]))
    for s in (0, 1):  # bat wings: haze fanning out from both hila, densest centrally
        hx = 0.5 + side_sign(s) * (float(edges[s][0]) + 0.035)
        op += (0.45 + 0.15 * sev) * rows * np.exp(-(((fd.x - hx) / sx) ** 2))
    fluffy = 0.75 + 0.25 * _mottle(rng, op.shape, max(2, fd.size // 40))
    layer = _lung_layer(fd, np.minimum(op * fluffy, 1.0), 0.08)
    if sev == 2:  # Kerley B: short horizontal septal lines at the lateral lung bases
        lines = []
        for s in (0, 1):
            y = g.dome[s] - 0.02
            for _ in range(6):
                q = float(lateral_edge(g, s, y)) - 0.003
                length = rng.uniform(0.015, 0.03)
                lines.append(([(0.5 + side_sign(s) * q, y),
                               (0.5 + side_sign(s) * (q - length), y + rng.normal(0, 0.002))],
                              0.003))
                y -= rng.uniform(0.011, 0.02)
        kerley = blur121(_draw_window((fd.size, fd.size), lines, (0, 0), fd.size))
        layer.opacity = np.maximum(layer.opacity, 0.6 * kerley)
        layer.mask |= (kerley > 0.1) & (fd.air > 0.1)
    return layer


def _atelectasis(fd: Field, f: VisibleFinding) -> Layer:
    sev, rng = severity_index(f), finding_rng(fd.g, f)
    op = np.zeros((fd.size, fd.size), np.float32)
    for s in side_indices(f.side):
        cx, cy, hw, _zh = zone_anchor(fd.g, s, f.zone, f.name)
        tilt, bow = rng.uniform(-0.1, 0.1), rng.uniform(-0.012, 0.012)
        half_len = 0.75 * hw
        t = np.linspace(-1, 1, 7)
        xs = cx + t * half_len
        ys = cy + t * tilt * half_len + bow * (1 - t * t) + rng.normal(0, 0.002, t.size)
        pts = list(zip(xs.tolist(), ys.tolist(), strict=True))
        thick = (0.010, 0.015, 0.021)[sev]
        win = _window(fd, cx, cy, half_len + 0.03, 0.06)
        shape = (win[0].stop - win[0].start, win[1].stop - win[1].start)
        band = _draw_window(shape, [(pts, 0.5 * thick), (pts[1:-1], 0.8 * thick),
                                    (pts[2:-2], thick)], (win[0].start, win[1].start), fd.size)
        op[win] = np.maximum(op[win], 0.75 * blur121(band, 3))  # plate: tapered, soft-edged
    return _lung_layer(fd, op, 0.1)


def _round(fd: Field, f: VisibleFinding, radius: float, lobes: int) -> Layer:
    """Nodule (one disc) or mass (a lobulated cluster of discs), kept inside the lung."""
    g, rng = fd.g, finding_rng(fd.g, f)
    op = np.zeros((fd.size, fd.size), np.float32)
    for s in side_indices(f.side):
        cx, cy, hw, zh = zone_anchor(g, s, f.zone, f.name)
        room = max(hw - radius, 0.0)
        cx += rng.uniform(-0.5, 0.5) * room
        cy += rng.uniform(-0.25, 0.25) * max(zh - 2 * radius, 0.0)
        win = _window(fd, cx, cy, 1.8 * radius, 1.8 * radius)
        xs, ys = fd.x[:, win[1]], fd.y[win[0]]
        disc = np.zeros((ys.shape[0], xs.shape[1]), np.float32)
        for i in range(lobes):
            a = rng.uniform(0, 2 * np.pi)
            off, rr = (0.0, radius) if i == 0 else (0.55 * radius, 0.6 * radius)
            bx, by = cx + off * np.cos(a), cy + off * np.sin(a)
            d = np.sqrt((xs - bx) ** 2 + (ys - by) ** 2)
            core = 1 - 0.25 * np.clip(d / rr, 0, 1) ** 2
            disc = np.maximum(disc, np.clip((rr - d) * fd.k + 0.5, 0.0, 1.0) * core)
        op[win] = np.maximum(op[win], 0.88 * disc)
    return _lung_layer(fd, op, 0.1)


def _rim_rows(g: Geometry, s: int, zone: str | None, y: np.ndarray) -> np.ndarray:
    if zone in ZONES:
        third = (g.dome[s] - g.top) / 3
        lo = g.top - 0.02 if zone == "upper" else g.top + ZONES.index(zone) * third
        hi = g.top + (ZONES.index(zone) + 1) * third
    else:
        lo, hi = g.top - 0.02, g.dome[s] - 0.1
    return np.clip((y - lo) / 0.02, 0, 1) * np.clip((hi - y) / 0.02, 0, 1)


def _wall_depth(fd: Field, c: slice) -> np.ndarray:
    """Pixels from the lateral/apical chest wall inwards (negative outside), so rims and bands
    have the same thickness at the apex as along the side wall."""
    r = fd.r[:, c]
    gy, gx = np.gradient(r)
    return (1.0 - r) / np.maximum(np.hypot(gx, gy), 1e-4)


def _pleural_thickening(fd: Field, f: VisibleFinding) -> Layer:
    g, sev, rng = fd.g, severity_index(f), finding_rng(fd.g, f)
    op = np.zeros((fd.size, fd.size), np.float32)
    for s in side_indices(f.side):
        c = _cols(fd, s)
        wavy = 1 + 0.3 * np.sin(fd.y * 45 + rng.uniform(0, 6))  # plaque-like, uneven
        thick = (0.012, 0.018, 0.026)[sev] * fd.size * wavy
        band = np.clip(thick - _wall_depth(fd, c), 0.0, 1.0)
        op[:, c] = band * _rim_rows(g, s, f.zone, fd.y)
    layer = _lung_layer(fd, op, 0.1)
    layer.lines = 0.15 * op * fd.air  # seen en face the thickened pleura is denser than muscle
    return layer


def _effusion(fd: Field, f: VisibleFinding) -> Layer:
    g, sev = fd.g, severity_index(f)
    op = np.zeros((fd.size, fd.size), np.float32)
    for s in side_indices(f.side):
        c = _cols(fd, s)
        scale = (g.dome[s] - g.top) / 0.66
        level = g.dome[s] + (0.02, -0.045, -0.10)[sev] * scale  # medial fluid level
        rise = (0.08, 0.12, 0.16)[sev] * scale  # meniscus: fluid climbs the lateral wall
        u = np.clip((fd.q[:, c] - 0.08) / (g.half - 0.08), 0.0, 1.0)
        surface = level - rise * u * u - 0.05 * scale * u**10  # thin lateral climb
        op[:, c] = np.clip((fd.y - surface) / 0.035, 0.0, 1.0) ** 0.7
    return _lung_layer(fd, op, 0.15)


def _pneumothorax(fd: Field, f: VisibleFinding) -> Layer:
    """Apical rim (severity 1) reaching further down the lateral wall and wider with severity:
    pleural air without vessels, medial to it a thin bright visceral pleural line."""
    g, sev = fd.g, severity_index(f)
    shape = (fd.size, fd.size)
    lucent, line = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    for s in side_indices(f.side):
        c = _cols(fd, s)
        b = g.lung_b(s)
        reach = g.top + (0.55, 0.8, 1.0)[sev] * b
        taper = np.clip((reach - fd.y) / (0.35 * b), 0.0, 1.0)
        width = (0.035, 0.055, 0.085)[sev] * fd.size * taper  # rim width, pixels
        dr = _wall_depth(fd, c) - width  # < 0 in the rim, 0 on the pleural line
        air = fd.air[:, c]
        lucent[:, c] = np.clip(-dr / 1.2, 0.0, 1.0) * air * (width > 1.0)
        line[:, c] = np.exp(-((dr / 0.8) ** 2)) * air * np.clip(taper * 4 - 0.4, 0.0, 1.0)
    return Layer(mask=(lucent > 0.2) | (line > 0.3), lucency=lucent, lines=line)


LUNG_DRAWERS = {
    "pleural effusion": _effusion,
    "pneumothorax": _pneumothorax,
    "consolidation": _consolidation,
    "lung opacity": _lung_opacity,
    "pneumonia": _pneumonia,
    "edema": _edema,
    "atelectasis": _atelectasis,
    "nodule": lambda fd, f: _round(fd, f, (0.010, 0.015, 0.020)[severity_index(f)], 1),
    "mass": lambda fd, f: _round(fd, f, (0.040, 0.055, 0.070)[severity_index(f)], 3),
    "pleural thickening": _pleural_thickening,
}


def lung_layer(fd: Field, f: VisibleFinding) -> Layer | None:
    """The finding's layer, or None when it is anatomic or a device."""
    drawer = LUNG_DRAWERS.get(f.name)
    return drawer(fd, f) if drawer else None


def rib_breaks(g: Geometry, findings: list[VisibleFinding] | tuple) -> dict:
    """(side, rib) -> (break position along the arc, gap, step-off) for each fracture."""
    out = {}
    for f in findings:
        if f.name != "fracture":
            continue
        rng, sev = finding_rng(g, f), severity_index(f)
        zone = f.zone if f.zone in ZONES else "middle"
        rib = 2 + 2 * ZONES.index(zone) + int(rng.integers(0, 2))
        t = 0.58 + rng.uniform(-0.06, 0.06)
        # Gap and step-off wide enough to read at 256 px; worse fractures break two ribs.
        for s in side_indices(f.side if f.side else "right"):
            for extra in range(1 + (sev >= 1)):
                out[(s, rib + extra)] = (t + 0.03 * extra, (0.03, 0.04, 0.05)[sev],
                                         (0.026, 0.036, 0.048)[sev])
    return out


def anatomic_region(fd: Field, f: VisibleFinding) -> np.ndarray:
    """Masks of findings drawn by changing the anatomy (heart, mediastinum, a rib)."""
    g, x, y = fd.g, fd.x, fd.y
    if f.name == "cardiomegaly":
        hr, hl = heart_extents(g, y)
        return (x > 0.5 - hr) & (x < 0.5 + hl) & (y < max(g.cp)) & (hr > 0)
    if f.name == "enlarged cardiomediastinum":
        cl, cr = central_edges(g, y)
        pad = 2.0 / fd.size
        rows = (y > g.top - 0.03) & (y < g.heart_top + 0.04)
        return (x > 0.5 - cl - pad) & (x < 0.5 + cr + pad) & rows
    mask = np.zeros((fd.size, fd.size), bool)
    for (s, rib), (t, _gap, _step) in rib_breaks(g, [f]).items():
        xs, ys = rib_paths(g, s, rib)
        bx = np.interp(t, np.linspace(0, 1, len(xs)), xs)
        by = np.interp(t, np.linspace(0, 1, len(ys)), ys)
        mask |= (x - bx) ** 2 + (y - by) ** 2 < 0.03**2
    return mask
