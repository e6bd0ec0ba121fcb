"""Canonical-frame geometry of a synthetic chest: where the lungs, heart, diaphragm and ribs are.

Everything is drawn upright and centred in a canonical frame (x, y in [0, 1], y down, the
patient's right on the image's left). `pose_image` then moves the finished picture, and any
finding mask, by the study's centre and rotation, so pixels and masks always agree. Geometry is
a pure function of the `Anatomy` and the findings: the same patient gets the same heart, and a
nodule keeps its place from one study to the next.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .spec import Anatomy, VisibleFinding

CTR_CARDIOMEGALY = (0.54, 0.60, 0.66)  # cardiothoracic ratio drawn for severity 1, 2, 3
AP_MAGNIFICATION = 1.06  # AP films magnify the heart (it is far from the detector)
AP_CTR_CAP = 0.49  # ... but a normal heart stays normal
MEDIASTINUM_WIDENING = (0.07, 0.10, 0.13)  # added width, per 0.8 thoracic width
ATELECTASIS_RAISE = (0.012, 0.02, 0.03)  # volume loss lifts that hemidiaphragm
EDGE_PX = 1.8  # softness of anatomical edges, in pixels


def severity_index(finding: VisibleFinding) -> int:
    """0, 1, 2 for severity 1, 2, 3 (out-of-range severities are clamped)."""
    return min(max(int(finding.severity), 1), 3) - 1


def side_indices(side: str | None) -> tuple[int, ...]:
    """Image halves a side covers: 0 = image left (patient right), 1 = image right."""
    if side == "right":
        return (0,)
    if side == "left":
        return (1,)
    return (0, 1)


def side_sign(index: int) -> float:
    """-1 for the image-left lung, +1 for the image-right lung."""
    return -1.0 if index == 0 else 1.0


@functools.lru_cache(maxsize=8)
def coords(size: int) -> np.ndarray:
    """Pixel-centre coordinates in [0, 1] (read-only; broadcast as rows or columns)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    c.flags.writeable = False
    return c


def cardiothoracic_ratio(anatomy: Anatomy, findings: Sequence[VisibleFinding]) -> float:
    """Widest heart width over the thoracic width, exactly as drawn."""
    sev = [severity_index(f) for f in findings if f.name == "cardiomegaly"]
    if sev:
        return CTR_CARDIOMEGALY[max(sev)]
    ratio = anatomy.heart_ratio
    if anatomy.view.upper() == "AP":
        ratio = max(ratio, min(ratio * AP_MAGNIFICATION, AP_CTR_CAP))
    return float(ratio)


def habitus_seed(anatomy: Anatomy) -> int:
    """A seed from the patient's build only, so shapes survive `Anatomy.jitter`."""
    build = (
        anatomy.thorax_width, anatomy.thorax_top, anatomy.diaphragm_right,
        anatomy.diaphragm_drop_left, anatomy.heart_ratio, anatomy.mediastinum_width,
        anatomy.rib_spacing,
    )
    return zlib.crc32(repr(tuple(round(v, 5) for v in build)).encode())


@dataclass(frozen=True, slots=True)
class Geometry:
    """Canonical-frame landmarks; pairs are (image left = patient right, image right)."""

    half: float  # half the thoracic width
    top: float  # lung apices
    dome: tuple[float, float]  # hemidiaphragm dome heights
    cp: tuple[float, float]  # costophrenic angle depths
    qc: float  # distance from midline of the apex-ellipse centre
    heart_right: float  # heart extent to the image left of the midline
    heart_left: float  # ... and to the image right (the bulk)
    heart_top: float
    heart_bottom: float
    med_right: float  # upper mediastinal half-widths
    med_left: float
    carina: float
    hilum: float
    clavicle: float  # height of the clavicles' medial ends
    rib_spacing: float
    ap: bool
    seed: int

    @property
    def lung_a(self) -> float:
        """Horizontal semi-axis of the lateral/apical lung outline."""
        return self.half - self.qc

    def lung_b(self, s: int) -> float:
        """Vertical semi-axis of the lateral/apical lung outline of lung `s`."""
        return self.cp[s] - self.top


def build_geometry(anatomy: Anatomy, findings: Sequence[VisibleFinding]) -> Geometry:
    """Landmarks for this patient and exposure, including findings that move anatomy."""
    half = anatomy.thorax_width / 2
    top = anatomy.thorax_top
    lift = [0.0, 0.0]
    widen = 0.0
    for f in findings:
        if f.name == "atelectasis":
            for s in side_indices(f.side):
                lift[s] = max(lift[s], ATELECTASIS_RAISE[severity_index(f)])
        elif f.name == "enlarged cardiomediastinum":
            widen = max(widen, MEDIASTINUM_WIDENING[severity_index(f)])
    dome = (
        anatomy.diaphragm_right - lift[0],
        anatomy.diaphragm_right + anatomy.diaphragm_drop_left - lift[1],
    )
    length = anatomy.diaphragm_right - top
    ctr = cardiothoracic_ratio(anatomy, findings)
    heart_w = ctr * anatomy.thorax_width
    carina = top + 0.29 * length
    hilum = top + 0.40 * length
    med = anatomy.mediastinum_width + widen * anatomy.thorax_width / 0.8
    return Geometry(
        half=half,
        top=top,
        dome=dome,
        cp=(dome[0] + 0.075, dome[1] + 0.075),
        qc=0.3 * half,
        heart_right=0.36 * heart_w,
        heart_left=0.64 * heart_w,
        heart_top=hilum - 0.01 - 0.5 * (ctr - 0.44) * length,
        heart_bottom=max(dome) + 0.05,
        med_right=0.45 * med,
        med_left=0.55 * med,
        carina=carina,
        hilum=hilum,
        clavicle=top + (0.0 if anatomy.view.upper() == "AP" else 0.045),
        rib_spacing=anatomy.rib_spacing,
        ap=anatomy.view.upper() == "AP",
        seed=habitus_seed(anatomy),
    )


def heart_extents(g: Geometry, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heart half-widths to the image left and right of the midline at heights `y`.

    Both borders are widest at the same height, so the widest row is exactly the CTR width.
    """
    t = (y - g.heart_top) / (g.heart_bottom - g.heart_top)
    rise = np.sin(np.pi / 2 * np.clip(t / 0.6, 0.0, 1.0))
    after = np.clip((t - 0.6) / 0.4, 0.0, 1.0) ** 2
    cap = np.sqrt(np.clip(t / 0.12, 0.0, 1.0)) * (t <= 1.0)
    right = g.heart_right * (0.55 + 0.45 * rise) * (1 - 0.10 * after) * cap
    left = g.heart_left * (0.35 + 0.65 * rise) * (1 - 0.35 * after) * cap
    return right, left


def central_edges(g: Geometry, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mediastinum-plus-heart half-widths to the image left and right at heights `y`."""
    inlet = 0.85 + 0.15 * np.clip((y - g.top) / 0.06, 0.0, 1.0)
    knob_y = g.carina - 0.035
    knob = 0.35 * g.med_left * np.exp(-(((y - knob_y) / 0.03) ** 2))
    hr, hl = heart_extents(g, y)
    return np.maximum(g.med_right * inlet, hr), np.maximum(g.med_left * inlet + knob, hl)


def lateral_edge(g: Geometry, s: int, y: np.ndarray | float) -> np.ndarray:
    """Distance from the midline of lung `s`'s lateral wall at heights `y`."""
    v = np.clip((g.cp[s] - np.asarray(y, dtype=np.float64)) / g.lung_b(s), 0.0, 1.0)
    return g.qc + g.lung_a * np.sqrt(1.0 - v * v)


def diaphragm_y(g: Geometry, s: int, q: np.ndarray) -> np.ndarray:
    """Hemidiaphragm height over distance-from-midline `q`: dome, deep sharp lateral recess."""
    qd = 0.45 * g.half
    lat = np.clip((q - qd) / (g.half - qd), 0.0, 1.0)
    med = np.clip((qd - q) / qd, 0.0, 1.0)
    return g.dome[s] + (g.cp[s] - g.dome[s]) * lat**2.2 + 0.05 * med**2


def rib_paths(g: Geometry, s: int, k: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Posterior arc of rib `k` (0 = first) on image half `s`: x, y from spine to chest wall."""
    y0 = g.top - 0.012 + k * g.rib_spacing
    t = np.linspace(0.0, 1.0, n)
    q_end = float(lateral_edge(g, s, y0 + 0.06)) + 0.012
    q = 0.03 + t * (q_end - 0.03)
    y = y0 - 0.06 * t + 0.17 * t**3
    return 0.5 + side_sign(s) * q, y


@dataclass(frozen=True, slots=True)
class Field:
    """Per-image arrays the drawing shares: coordinates, lung air and the lung-outline radius."""

    size: int
    g: Geometry
    x: np.ndarray  # (1, N) column coordinates
    y: np.ndarray  # (N, 1) row coordinates
    q: np.ndarray  # (1, N) distance from the midline
    right: np.ndarray  # (1, N) bool: image right half (patient left)
    edge: np.ndarray  # (N, N) mediastinum/heart half-width on each pixel's side
    air: np.ndarray  # (N, N) lung air fraction, soft-edged
    r: np.ndarray  # (N, N) 1 on the lateral/apical chest wall, smaller inside
    dia: np.ndarray  # (1, N) hemidiaphragm height over each column
    k: float  # edge steepness per unit length


def make_field(g: Geometry, size: int) -> Field:
    """Lung fields for both sides at once, vectorised over the canonical grid."""
    c = coords(size)
    x, y = c[None, :], c[:, None]
    q = np.abs(x - 0.5)
    right = x >= 0.5
    k = size / EDGE_PX
    cl, cr = central_edges(g, c.astype(np.float64))
    cl = cl.astype(np.float32)[:, None]
    cr = cr.astype(np.float32)[:, None]
    edge = cl + right * (cr - cl)
    cp = np.where(right, g.cp[1], g.cp[0]).astype(np.float32)
    b = np.where(right, g.lung_b(1), g.lung_b(0)).astype(np.float32)
    dq = np.clip((q - g.qc) / g.lung_a, 0.0, None)
    dq = dq * dq + (0.45 * np.clip((g.qc - q) / g.qc, 0.0, 1.0)) ** 2  # rounds the apex medially
    dy = np.clip((cp - y) / b, 0.0, None)
    r = np.sqrt(dq + dy * dy)
    qf = q[0].astype(np.float64)
    dia = np.where(right[0], diaphragm_y(g, 1, qf), diaphragm_y(g, 0, qf)).astype(np.float32)
    air = np.clip((1.0 - r) * (g.lung_a * k), 0.0, 1.0)
    air *= np.clip((dia[None, :] - y) * k, 0.0, 1.0)
    air *= np.clip((q - edge) * k, 0.0, 1.0)
    return Field(size, g, x, y, q, right, edge, air, r, dia[None, :], k)


def pose_affine(anatomy: Anatomy, size: int) -> tuple[float, ...]:
    """Pillow AFFINE data mapping output pixels to canonical pixels (centre shift + rotation)."""
    th = math.radians(anatomy.rotation_deg)
    co, si = math.cos(th), math.sin(th)
    cxo, cyo = anatomy.center_x * size, anatomy.center_y * size
    ci = 0.5 * size
    return (co, -si, ci - co * cxo + si * cyo, si, co, ci - si * cxo - co * cyo)


def is_identity_pose(anatomy: Anatomy, size: int) -> bool:
    """True when the pose moves nothing by more than a hundredth of a pixel."""
    return (
        abs(anatomy.rotation_deg) < 1e-4
        and abs(anatomy.center_x - 0.5) * size < 0.01
        and abs(anatomy.center_y - 0.5) * size < 0.01
    )


def pose_image(image: Image.Image, anatomy: Anatomy, resample: int, fill: int = 0) -> Image.Image:
    """Move a canonical-frame image to the study's position and rotation."""
    if is_identity_pose(anatomy, image.size[0]):
        return image
    data = pose_affine(anatomy, image.size[0])
    return image.transform(image.size, Image.Transform.AFFINE, data, resample, fillcolor=fill)
