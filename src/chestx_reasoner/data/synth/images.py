"""Procedural frontal chest radiographs: anatomy, findings, devices, exposure and noise.

The picture is built in a canonical upright frame (see `geometry`) as a brightness map:
soft tissue minus lung air, plus bone and metal, with findings replacing air (opacities),
adding air (pneumothorax) or moving anatomy (heart, mediastinum, diaphragm, a broken rib).
The study's centre and rotation are applied last, to the picture and to any finding mask
alike. Only lung-marking texture and quantum noise come from `rng`; everything a label or a
report talks about is a pure function of the `Anatomy` and the findings.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .devices import DEVICES, device_primitives, draw_primitives
from .draw_findings import ANATOMIC, anatomic_region, blur121, lung_layer, rib_breaks
from .geometry import (
    Field,
    build_geometry,
    central_edges,
    make_field,
    pose_image,
    rib_paths,
    side_sign,
)
from .geometry import cardiothoracic_ratio as _ctr
from .spec import RENDERABLE, Anatomy, VisibleFinding

__all__ = ["cardiothoracic_ratio", "encode_jpeg", "finding_region", "render_radiograph"]

DEFAULT_SEED = 1729
AIR = 0.38  # how much darker fully aerated lung is than soft tissue
MARKINGS = 0.15  # vessel brightness over aerated lung
BONE = 0.16
AIRWAY = 0.16
PTX_DARK = 0.11  # pleural air is darker than lung: no vessels, no parenchyma
PLEURAL_LINE = 0.2
N_RIBS = 10


def cardiothoracic_ratio(anatomy: Anatomy, findings: Sequence[VisibleFinding]) -> float:
    """Cardiothoracic ratio as drawn: `anatomy.heart_ratio` (AP: slightly magnified, < 0.5),
    or 0.54/0.60/0.66 with cardiomegaly of severity 1/2/3."""
    return _ctr(anatomy, findings)


def _soft_tissue(fd: Field) -> tuple[np.ndarray, np.ndarray]:
    """Body outline (neck, shoulders, chest wall), thicker centrally; and the mediastinum."""
    g, y, q = fd.g, fd.y, fd.q
    t = np.clip((y - (g.top - 0.10)) / 0.17, 0.0, 1.0)
    body_half = 0.085 + g.half * t * t * (3 - 2 * t)  # neck widening into the shoulders
    body = np.clip((body_half - q) * fd.k, 0.0, 1.0)
    thick = np.clip(1.0 - (q / body_half) ** 2, 0.0, 1.0)
    shoulders = 0.07 * np.clip((g.top + 0.14 - y) / 0.14, 0.0, 1.0)  # muscle over the apices
    rows = (y > g.top - 0.06) & (y < g.heart_bottom)
    central = np.clip((fd.edge - q) * fd.k, 0.0, 1.0) * rows
    return 0.04 + body * (0.46 + 0.10 * thick + shoulders) + 0.05 * central, central


def _bones(fd: Field, findings: Sequence[VisibleFinding]) -> np.ndarray:
    """Posterior/anterior rib arcs (with any fracture), clavicles, spine and pedicles."""
    g, n = fd.g, fd.size
    im = Image.new("L", (n, n))
    d = ImageDraw.Draw(im)
    breaks = rib_breaks(g, findings)
    w = max(2, round(0.38 * g.rib_spacing * n))

    def rib(xs: np.ndarray, ys: np.ndarray, width: int, grey: int) -> None:
        pts = list(zip((xs * n).tolist(), (ys * n).tolist(), strict=True))
        d.line(pts, fill=grey, width=width)

    for s in (0, 1):
        sg = side_sign(s)
        for k in range(N_RIBS):
            xs, ys = rib_paths(g, s, k)
            q_end, y_end = abs(xs[-1] - 0.5), ys[-1]
            ax = 0.5 + sg * q_end * np.array([1.0, 0.985, 0.93, 0.7, 0.45])
            ay = y_end + np.array([0.0, 0.018, 0.035, 0.09, 0.13])
            rib(ax[:3], ay[:3], w, 150)  # the lateral turn ...
            rib(ax[2:], ay[2:], max(2, w - 2), 60)  # ... into the faint anterior rib
            if (s, k) not in breaks:
                rib(xs, ys, w, 185)
                continue
            tb, gap, step = breaks[(s, k)]
            arc = float(np.sum(np.hypot(np.diff(xs), np.diff(ys))))
            gt = gap / arc / 2
            base = np.linspace(0, 1, len(xs))
            t_med = np.linspace(0, tb - gt, 12)
            t_lat = np.linspace(tb + gt, 1, 12)
            rib(np.interp(t_med, base, xs), np.interp(t_med, base, ys), w, 185)
            shift = step * (1 - (t_lat - tb) / (1 - tb))
            rib(np.interp(t_lat, base, xs), np.interp(t_lat, base, ys) + shift, w, 185)
            # Callus / overlapping fragment ends: a bright knot at the break, so the fracture
            # reads at 256 px where a thin gap alone drowns in the lung markings.
            bx, by = float(np.interp(tb, base, xs)) * n, float(np.interp(tb, base, ys)) * n
            r = 0.9 * w
            d.ellipse((bx - r, by - r + step * n / 2, bx + r, by + r + step * n / 2),
                      fill=255)
        cx = 0.5 + sg * np.array([0.025, 0.08, 0.16, 0.24, 0.3, g.half - 0.01])
        cy = g.clavicle + np.array([0.0, -0.008, -0.012, -0.018, -0.03, -0.05])
        rib(cx, cy, max(3, round(0.034 * n)), 230)
    for k in range(N_RIBS + 2):  # pedicles: paired ovals down the spine
        yc = (g.top - 0.012 + (k + 0.3) * g.rib_spacing) * n
        for sx in (-1, 1):
            xc = (0.5 + sx * 0.03) * n
            d.ellipse((xc - 0.006 * n, yc - 0.009 * n, xc + 0.006 * n, yc + 0.009 * n),
                      outline=110, width=1)
    bones = blur121(np.asarray(im), 2) / 255.0
    dx = np.abs(fd.x - 0.5)
    body = np.clip(1 - (dx / 0.038) ** 2, 0, 1)
    col = np.clip((0.038 - dx) * fd.k, 0.0, 1.0) * (0.6 + 0.4 * body)
    phase = 2 * np.pi * (fd.y - g.top + 0.012) / g.rib_spacing
    row = 1.0 - 0.35 * np.clip((np.cos(phase) - 0.75) / 0.25, 0.0, 1.0)
    return bones + 0.18 * col * row


def _airways(fd: Field) -> np.ndarray:
    """Tracheal air column, main bronchi and the gastric bubble under the left dome."""
    g, n = fd.g, fd.size
    im = Image.new("L", (n, n))
    d = ImageDraw.Draw(im)
    c = g.carina * n
    d.line([(0.5 * n, -2), (0.5 * n, c)], fill=255, width=max(2, round(0.034 * n)))
    d.line([(0.5 * n, c - 2), ((0.5 - 0.05) * n, c + 0.055 * n)], fill=230,
           width=max(2, round(0.024 * n)))
    d.line([(0.5 * n, c - 2), ((0.5 + 0.065) * n, c + 0.05 * n)], fill=230,
           width=max(2, round(0.022 * n)))
    bx, by = (0.5 + 0.55 * g.half) * n, (g.dome[1] + 0.06) * n
    d.ellipse((bx - 0.05 * n, by - 0.028 * n, bx + 0.05 * n, by + 0.03 * n), fill=200)
    return blur121(np.asarray(im), 2) / 255.0


BANK = 24  # pre-drawn vascular trees per image size; each lung picks one by rng


@functools.lru_cache(maxsize=4)
def _vessel_bank(size: int) -> tuple[tuple[np.ndarray, ...], tuple[int, int]]:
    """Vascular trees for the image-right lung (mirrored for the left), hilum at `origin`.

    Drawing 400 tapering, kinked vessel segments per image would cost more than the rest of
    the picture, so trees are drawn once per size and each image picks and places two.
    """
    rng = np.random.default_rng(DEFAULT_SEED + 1)
    w, h = round(0.42 * size), round(0.9 * size)
    origin = (round(0.02 * size), round(0.4 * size))
    widths = [max(1, round(v * size / 256)) for v in (3.4, 2.4, 1.6, 1.0)]
    trees = []
    for _ in range(BANK):
        im = Image.new("L", (w, h))
        d = ImageDraw.Draw(im)
        ox, oy = origin
        d.ellipse((ox, oy - 0.035 * size, ox + 0.05 * size, oy + 0.045 * size), fill=110)
        m = 15
        ang = np.sort(rng.uniform(-1.5, 1.4, m))
        length = (0.075 + 0.035 * rng.random(m)) * (1 + 0.4 * np.abs(ang))
        x0, y0 = np.full(m, 0.015), rng.normal(0, 0.015, m)
        for gen, grey in enumerate((190, 165, 140, 115)):
            kink = ang + rng.normal(0, 0.2, ang.size)
            xm, ym = x0 + 0.5 * length * np.cos(ang), y0 + 0.5 * length * np.sin(ang)
            x1, y1 = xm + 0.5 * length * np.cos(kink), ym + 0.5 * length * np.sin(kink)
            pts = np.stack([x0, y0, xm, ym, x1, y1], axis=1) * size + np.tile(origin, 3)
            for row in pts.tolist():
                d.line(row, fill=grey, width=widths[gen], joint="curve")
            k = 2 * ang.size
            ang = np.repeat(kink, 2) + np.tile([-0.42, 0.42], k // 2) * (0.6 + 0.8 * rng.random(k))
            length = np.repeat(length, 2) * (0.68 + 0.2 * rng.random(k))
            x0, y0 = np.repeat(x1, 2), np.repeat(y1, 2)
        tree = blur121(np.asarray(im), 1) / 255.0
        tree.flags.writeable = False
        trees.append(tree)
    return tuple(trees), origin


@functools.lru_cache(maxsize=4)
def _texture_bank(size: int) -> np.ndarray:
    """Zero-mean reticular parenchymal texture (the ridges of smooth noise: a fine network of
    small overlapping vessels), twice the image size; each image reads a random window."""
    rng = np.random.default_rng(DEFAULT_SEED + 2)
    coarse = rng.standard_normal((size // 3, size // 3)).astype(np.float32)
    smooth = np.asarray(Image.fromarray(coarse, "F").resize((2 * size, 2 * size),
                                                             Image.Resampling.BICUBIC))
    tex = np.clip(1.0 - np.abs(smooth) / (smooth.std() + 1e-6), 0.0, 1.0) ** 2
    tex = (tex - tex.mean()) / tex.std()
    tex.flags.writeable = False
    return tex


def _paste_max(out: np.ndarray, tile: np.ndarray, top: int, left: int) -> None:
    """out[top:, left:] = max(out, tile), clipped to out's bounds."""
    h, w = tile.shape
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, out.shape[0]), min(left + w, out.shape[1])
    if y1 > y0 and x1 > x0:
        part = tile[y0 - top : y1 - top, x0 - left : x1 - left]
        np.maximum(out[y0:y1, x0:x1], part, out=out[y0:y1, x0:x1])


def _markings(fd: Field, rng: np.random.Generator) -> np.ndarray:
    """Lung markings: a vascular tree from each hilum plus faint parenchymal texture,
    fading towards the chest wall."""
    g, n = fd.g, fd.size
    trees, (ox, oy) = _vessel_bank(n)
    picks = rng.integers(0, BANK, 2)
    out = np.zeros((n, n), np.float32)
    edges = central_edges(g, np.array([g.hilum]))
    for s in (0, 1):
        tree = trees[int(picks[s])]
        hx = round((0.5 + side_sign(s) * (float(edges[s][0]) + 0.005)) * n)
        hy = round(g.hilum * n)
        if s == 0:
            _paste_max(out, tree[:, ::-1], hy - oy, hx - (tree.shape[1] - 1 - ox))
        else:
            _paste_max(out, tree, hy - oy, hx - ox)
    ty, tx = (int(v) for v in rng.integers(0, n, 2))
    out *= np.clip((1.0 - fd.r) / 0.22, 0.0, 1.0)
    tex = _texture_bank(n)[ty : ty + n, tx : tx + n]
    return out + 0.11 * tex * np.clip((1.0 - fd.r) / 0.06, 0.0, 1.0)


def _metal(fd: Field, findings: Sequence[VisibleFinding]) -> np.ndarray | None:
    """Devices drawn at twice the size and box-reduced: thin wires stay smooth, not dashed."""
    prims = [p for f in findings if f.name in DEVICES for p in device_primitives(fd.g, f)]
    if not prims:
        return None
    im = Image.new("L", (2 * fd.size, 2 * fd.size))
    draw_primitives(ImageDraw.Draw(im), prims, 2 * fd.size)
    return np.minimum(np.asarray(im.reduce(2), dtype=np.float32) * (1.2 / 255.0), 1.0)


def _compose(fd: Field, findings: Sequence[VisibleFinding], rng: np.random.Generator) -> np.ndarray:
    """Canonical-frame brightness (0 black .. 1 white) before exposure, pose and noise."""
    shape = (fd.size, fd.size)
    opacity = np.zeros(shape, np.float32)
    lucent = np.zeros(shape, np.float32)
    lines = np.zeros(shape, np.float32)
    for f in findings:
        layer = lung_layer(fd, f)
        if layer is None:
            continue
        if layer.opacity is not None:
            opacity = 1.0 - (1.0 - opacity) * (1.0 - layer.opacity)
        if layer.lucency is not None:
            lucent = np.maximum(lucent, layer.lucency)
        if layer.lines is not None:
            lines = np.maximum(lines, layer.lines)
    # less air under the chest wall and apices (thinner lung, more soft tissue in the beam)
    air = fd.air * (1.0 - opacity) * (0.72 + 0.28 * np.clip(1.0 - fd.r * fd.r, 0.0, 1.0))
    vessels = _markings(fd, rng) * (1.0 - lucent)
    tissue, central = _soft_tissue(fd)
    # bone is washed out over the dense mediastinum and upper abdomen, as on a real film
    abdomen = np.clip((fd.y - fd.dia) * 20.0, 0.0, 1.0)
    washed = 1.0 - np.maximum(0.55 * central, 0.6 * abdomen)
    img = tissue + BONE * _bones(fd, findings) * washed - AIRWAY * _airways(fd)
    img += air * (MARKINGS * vessels - AIR) - PTX_DARK * lucent + PLEURAL_LINE * lines
    img = blur121(img, 1)
    metal = _metal(fd, findings)
    return img if metal is None else np.maximum(img, 0.97 * metal)


@functools.lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """Gaussian noise twice the image size; each image reads a random window of it."""
    bank = np.random.default_rng(DEFAULT_SEED).standard_normal((2 * size, 2 * size), np.float32)
    bank.flags.writeable = False
    return bank


def render_radiograph(
    anatomy: Anatomy,
    findings: Sequence[VisibleFinding],
    size: int = 256,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A size x size uint8 frontal radiograph (PA display: patient's right on image left).

    Deterministic for a given rng state; rng only varies lung-marking texture, exposure
    gradient and noise, so the same findings look the same wherever a label refers to them.
    """
    unknown = sorted({f.name for f in findings} - set(RENDERABLE))
    if unknown:  # drawing nothing would make the image disagree with its report
        raise ValueError(f"not renderable: {unknown}; expected names from spec.RENDERABLE")
    rng = np.random.default_rng(DEFAULT_SEED) if rng is None else rng
    texture_seed, noise_seed = (int(v) for v in rng.integers(0, 2**32, size=2))
    findings = tuple(findings)
    fd = make_field(build_geometry(anatomy, findings), size)
    texture_rng = np.random.default_rng(texture_seed)
    img = _compose(fd, findings, texture_rng)
    heel = 1.0 + texture_rng.normal(0.0, 0.05) * (fd.y - 0.5)  # anode heel / grid gradient
    img = (0.5 + anatomy.contrast * (img - 0.5)) * (anatomy.exposure * 255.0) * heel
    canon = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "L")
    posed = np.asarray(pose_image(canon, anatomy, Image.Resampling.BILINEAR), np.float32)
    noise_rng = np.random.default_rng(noise_seed)
    oy, ox = (int(v) for v in noise_rng.integers(0, size, 2))
    noise = _noise_bank(size)[oy : oy + size, ox : ox + size]
    out = posed + noise * (0.7 * anatomy.noise * 255.0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def finding_region(anatomy: Anatomy, finding: VisibleFinding, size: int = 256) -> np.ndarray:
    """Bool mask (image coordinates, pose applied) of where `finding` is drawn.

    Computed for the finding alone on this anatomy; findings that move anatomy (atelectasis
    lifting its dome, a large heart narrowing the lungs) change other masks only slightly.
    """
    fd = make_field(build_geometry(anatomy, [finding]), size)
    if finding.name in DEVICES:
        im = Image.new("L", (size, size))
        prims = device_primitives(fd.g, finding)
        draw_primitives(ImageDraw.Draw(im), prims, size, widen=0.02, value=255)
        mask = np.asarray(im) > 0
    elif finding.name in ANATOMIC:
        mask = anatomic_region(fd, finding)
    else:
        layer = lung_layer(fd, finding)
        if layer is None:
            raise ValueError(f"not a renderable finding: {finding.name!r}")
        mask = layer.mask
    mask = np.broadcast_to(mask, (size, size)).astype(np.uint8) * 255
    posed = pose_image(Image.fromarray(mask, "L"), anatomy, Image.Resampling.NEAREST)
    return np.asarray(posed) > 127


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """Baseline greyscale JPEG bytes (deterministic: no optimisation pass, no metadata)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 image, got {arr.dtype} {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, format="JPEG", quality=quality, optimize=False)
    return buf.getvalue()
