"""Synthetic radiograph renderer: each finding shows where and how strongly the labels say."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from chestx_reasoner.data.synth.images import (
    cardiothoracic_ratio,
    encode_jpeg,
    finding_region,
    render_radiograph,
)
from chestx_reasoner.data.synth.preview import contact_sheet, save_contact_sheet
from chestx_reasoner.data.synth.spec import RENDERABLE, Anatomy, VisibleFinding

SIZE = 256
# (side, zone) each finding is drawn with in the per-finding tests
PLACEMENT = {
    "pleural effusion": ("left", None),
    "pneumothorax": ("right", None),
    "consolidation": ("right", "lower"),
    "lung opacity": ("left", "middle"),
    "pneumonia": ("left", "lower"),
    "edema": ("bilateral", None),
    "atelectasis": ("left", "lower"),
    "nodule": ("right", "upper"),
    "mass": ("left", "middle"),
    "pleural thickening": ("right", None),
    "fracture": ("left", "middle"),
    "central venous catheter": ("right", None),
    "pacemaker": ("left", None),
}


def patient(seed: int = 7, view: str = "PA") -> Anatomy:
    return Anatomy.sample(np.random.default_rng(seed), view=view)


def finding(name: str, severity: int = 2) -> VisibleFinding:
    side, zone = PLACEMENT.get(name, (None, None))
    return VisibleFinding(name, side, zone, severity)


def render(anatomy: Anatomy, findings: list[VisibleFinding], seed: int = 3) -> np.ndarray:
    return render_radiograph(anatomy, findings, SIZE, np.random.default_rng(seed))


def local_detail(image: np.ndarray, k: int = 5) -> np.ndarray:
    """Image minus its k x k box blur: the fine texture (lung markings, noise)."""
    a = np.pad(image.astype(np.float64), k // 2, mode="edge")
    c = np.cumsum(np.cumsum(np.pad(a, ((1, 0), (1, 0))), 0), 1)
    box = (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)
    return image - box


@pytest.mark.parametrize("size", [256, 97])
def test_output_is_square_uint8(size: int) -> None:
    image = render_radiograph(patient(), [finding("pleural effusion")], size)
    assert image.shape == (size, size)
    assert image.dtype == np.uint8
    assert 20 < image.mean() < 235 and image.std() > 20  # a picture, not a flat field


def test_deterministic_for_a_seed_and_varies_with_it() -> None:
    anatomy, fs = patient(), [finding("consolidation"), finding("pacemaker")]
    assert np.array_equal(render(anatomy, fs, 11), render(anatomy, fs, 11))
    assert np.array_equal(render_radiograph(anatomy, fs), render_radiograph(anatomy, fs))
    assert not np.array_equal(render(anatomy, fs, 11), render(anatomy, fs, 12))


def test_radiograph_convention_lungs_dark_mediastinum_bright() -> None:
    anatomy = replace(patient(), center_x=0.5, center_y=0.5, rotation_deg=0.0)
    image = render(anatomy, []).astype(float)
    lung_right_patient = image[100:140, 50:80].mean()  # image left
    lung_left_patient = image[100:140, 176:206].mean()
    mediastinum = image[60:90, 118:138].mean()
    heart = image[165:185, 135:160].mean()
    assert max(lung_right_patient, lung_left_patient) + 40 < min(mediastinum, heart)
    assert abs(lung_right_patient - lung_left_patient) < 25


@pytest.mark.parametrize("name", RENDERABLE)
def test_each_finding_changes_pixels_inside_its_region(name: str) -> None:
    anatomy, f = patient(), finding(name)
    region = finding_region(anatomy, f, SIZE)
    assert 0.0005 < region.mean() < 0.5, "region should be a visible but partial area"
    diff = np.abs(render(anatomy, [f]).astype(float) - render(anatomy, []).astype(float))
    inside, outside = diff[region].mean(), diff[~region].mean()
    assert inside > 4.0, f"{name}: barely visible ({inside:.2f} grey levels)"
    assert inside > 8 * outside, f"{name}: changes outside its region ({inside:.2f}/{outside:.2f})"


@pytest.mark.parametrize(
    ("name", "side"),
    [("pleural effusion", "left"), ("pleural effusion", "right"), ("pneumothorax", "left"),
     ("consolidation", "right"), ("nodule", "left"), ("mass", "right"), ("fracture", "right"),
     ("pleural thickening", "left"), ("pacemaker", "left"), ("central venous catheter", "left")],
)
def test_patient_left_is_image_right(name: str, side: str) -> None:
    anatomy = patient()
    f = VisibleFinding(name, side, PLACEMENT.get(name, (None, "middle"))[1], 3)
    diff = np.abs(render(anatomy, [f]).astype(float) - render(anatomy, []).astype(float))
    # CVCs and pacemaker leads end in the SVC/heart across the midline: compare the outer halves
    lo, hi = (0, SIZE * 2 // 5) if side == "right" else (SIZE * 3 // 5, SIZE)
    other = (SIZE * 3 // 5, SIZE) if side == "right" else (0, SIZE * 2 // 5)
    assert diff[:, lo:hi].sum() > 10 * diff[:, other[0] : other[1]].sum()
    _, xs = np.nonzero(finding_region(anatomy, f, SIZE))
    assert (xs.mean() < SIZE / 2) == (side == "right")


def test_left_effusion_brightens_image_right_lower_corner() -> None:
    anatomy = patient()
    effusion = VisibleFinding("pleural effusion", "left", None, 3)
    delta = render(anatomy, [effusion]).astype(float) - render(anatomy, []).astype(float)
    lower = slice(SIZE // 2, SIZE)
    right_lower = delta[lower, SIZE // 2 :].mean()
    left_lower = delta[lower, : SIZE // 2].mean()
    assert right_lower > 5 and abs(left_lower) < 0.5


def test_bilateral_findings_affect_both_lungs() -> None:
    anatomy = patient()
    for name in ("pleural effusion", "consolidation", "pneumothorax", "edema"):
        f = VisibleFinding(name, "bilateral", "lower", 3)
        diff = np.abs(render(anatomy, [f]).astype(float) - render(anatomy, []).astype(float))
        left, right = diff[:, : SIZE // 2].sum(), diff[:, SIZE // 2 :].sum()
        assert min(left, right) > 0.3 * max(left, right), name


@pytest.mark.parametrize("seed", range(12))
def test_cardiothoracic_ratio_for_sampled_anatomies(seed: int) -> None:
    pa, ap = patient(seed, "PA"), patient(seed, "AP")
    assert cardiothoracic_ratio(pa, []) == pytest.approx(pa.heart_ratio)
    assert cardiothoracic_ratio(pa, []) <= 0.48
    assert cardiothoracic_ratio(pa, []) <= cardiothoracic_ratio(ap, []) < 0.5
    ratios = [cardiothoracic_ratio(pa, [VisibleFinding("cardiomegaly", severity=s)])
              for s in (1, 2, 3)]
    assert 0.5 < ratios[0] < ratios[1] < ratios[2]
    assert cardiothoracic_ratio(pa, [finding("edema"), finding("nodule")]) <= 0.48


@pytest.mark.parametrize("severity", [None, 1, 3])
def test_drawn_heart_width_is_the_ratio(severity: int | None) -> None:
    """On an unrotated, noise-free film the heart border sits where the ratio puts it."""
    anatomy = replace(patient(4), center_x=0.5, center_y=0.5, rotation_deg=0.0, noise=0.0)
    fs = [] if severity is None else [VisibleFinding("cardiomegaly", severity=severity)]
    ctr = cardiothoracic_ratio(anatomy, fs)
    heart = finding_region(anatomy, VisibleFinding("cardiomegaly", severity=severity or 1), SIZE)
    if severity is not None:
        widest = heart.sum(axis=1).max()
        assert widest / (anatomy.thorax_width * SIZE) == pytest.approx(ctr, abs=2.5 / SIZE)
    image = render(anatomy, fs).astype(float)
    # rows where the lungs flank the heart: compare lung left and right of the drawn width
    from chestx_reasoner.data.synth.geometry import build_geometry, heart_extents

    g = build_geometry(anatomy, fs)
    row_y = g.heart_top + 0.6 * (g.heart_bottom - g.heart_top)
    row = round(row_y * SIZE - 0.5)
    _, left_extent = heart_extents(g, np.array([row_y]))
    border = round((0.5 + float(left_extent[0])) * SIZE)
    inside = image[row - 2 : row + 3, border - 6 : border - 2].mean()
    outside = image[row - 2 : row + 3, border + 2 : border + 6].mean()
    assert inside > outside + 30  # bright heart, dark lung just beyond the predicted border


@pytest.mark.parametrize(
    ("name", "side", "zone", "direction"),
    [("pleural effusion", "left", None, 1), ("consolidation", "right", "lower", 1),
     ("pneumonia", "left", "middle", 1), ("lung opacity", "right", "upper", 1),
     ("edema", "bilateral", None, 1), ("mass", "left", "middle", 1),
     ("pneumothorax", "right", None, -1)],
)
def test_severity_is_monotonic(name: str, side: str, zone: str | None, direction: int) -> None:
    anatomy = patient()
    largest = finding_region(anatomy, VisibleFinding(name, side, zone, 3), SIZE)
    means = [render(anatomy, [VisibleFinding(name, side, zone, s)]).astype(float)[largest].mean()
             for s in (1, 2, 3)]
    assert direction * (means[1] - means[0]) > 1 and direction * (means[2] - means[1]) > 1, means


@pytest.mark.parametrize(
    "name", ["pleural effusion", "pneumothorax", "nodule", "mass", "cardiomegaly",
             "atelectasis", "consolidation", "pleural thickening", "enlarged cardiomediastinum"],
)
def test_region_grows_with_severity(name: str) -> None:
    anatomy = patient()
    side, zone = PLACEMENT.get(name, (None, None))
    areas = [finding_region(anatomy, VisibleFinding(name, side, zone, s), SIZE).sum()
             for s in (1, 2, 3)]
    assert areas[0] < areas[1] < areas[2], areas


def erode(mask: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        inner = mask.copy()
        inner[1:] &= mask[:-1]
        inner[:-1] &= mask[1:]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        mask = inner
    return mask


def test_pneumothorax_rim_lacks_lung_markings() -> None:
    """Lung markings are the texture that changes with the rng (anatomy does not): two seeds
    differ inside a normal lung's periphery but hardly inside a pneumothorax rim."""
    anatomy = replace(patient(), noise=0.0)
    ptx = VisibleFinding("pneumothorax", "right", None, 3)
    region = erode(finding_region(anatomy, ptx, SIZE), 3)  # the rim, without the pleural line
    assert region.sum() > 300

    def marking_texture(findings: list[VisibleFinding]) -> float:
        a, b = render(anatomy, findings, 1), render(anatomy, findings, 2)
        return float(local_detail(a.astype(float) - b.astype(float))[region].std())

    with_ptx, without = marking_texture([ptx]), marking_texture([])
    assert without > 1.0 and with_ptx < 0.3 * without
    # the rim is darker than the same lung was, and its own fine texture is not richer
    plain, collapsed = render(anatomy, []), render(anatomy, [ptx])
    assert collapsed[region].mean() < plain[region].mean() - 8
    inner = erode(region, 3)
    assert local_detail(collapsed)[inner].std() < local_detail(plain)[inner].std()


def test_atelectasis_lifts_its_hemidiaphragm() -> None:
    from chestx_reasoner.data.synth.geometry import build_geometry

    anatomy = patient()
    g0 = build_geometry(anatomy, [])
    g1 = build_geometry(anatomy, [VisibleFinding("atelectasis", "left", "lower", 2)])
    assert g1.dome[1] < g0.dome[1] and g1.dome[0] == g0.dome[0]


def test_region_follows_the_pose() -> None:
    base = replace(patient(), center_x=0.5, center_y=0.5, rotation_deg=0.0)
    moved = replace(base, center_x=0.56)
    nodule = finding("nodule")
    x0 = np.nonzero(finding_region(base, nodule, SIZE))[1].mean()
    x1 = np.nonzero(finding_region(moved, nodule, SIZE))[1].mean()
    assert x1 - x0 == pytest.approx(0.06 * SIZE, abs=1.5)
    diff = np.abs(render(moved, [nodule]).astype(float) - render(moved, []).astype(float))
    region = finding_region(moved, nodule, SIZE)
    assert diff[region].mean() > 8 * diff[~region].mean()


def test_encode_jpeg_is_deterministic_and_decodes() -> None:
    image = render(patient(), [finding("pacemaker")])
    data = encode_jpeg(image, quality=90)
    assert data == encode_jpeg(image, quality=90) and data[:2] == b"\xff\xd8"
    decoded = np.asarray(Image.open(io.BytesIO(data)))
    assert decoded.shape == image.shape and np.abs(decoded.astype(int) - image).mean() < 3
    assert len(encode_jpeg(image, quality=30)) < len(data)
    with pytest.raises(ValueError):
        encode_jpeg(image.astype(np.float32))


def test_contact_sheet_grows_with_items_and_shows_the_images(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64), dtype=np.uint8) for _ in range(8)]
    labels = ["Pleural Effusion: 1", "Cardiomegaly: -1", "No Finding: 1", "Edema: 0"]
    items = [(im, f"s5{i:07d}", labels) for i, im in enumerate(images)]
    small = contact_sheet(items[:3], columns=3, tile=64)
    large = contact_sheet(items, columns=3, tile=64)
    assert small.mode == "RGB" and large.width == small.width and large.height > small.height
    assert contact_sheet(items[:4], columns=3, tile=64).height < large.height
    sheet = np.asarray(large)
    pad, cell_w = 4, 64 + 4
    cell_h = (large.height - pad) // 3
    for i, im in enumerate(images):
        x0, y0 = pad + (i % 3) * cell_w, pad + (i // 3) * cell_h
        assert np.array_equal(sheet[y0 : y0 + 64, x0 : x0 + 64, 0], im)
    colours = {tuple(c) for c in sheet.reshape(-1, 3)[::7].astype(int).tolist()}
    assert any(g > r + 60 and g > b + 40 for r, g, b in colours)  # positive: green
    assert any(r > b + 100 and g > b + 60 for r, g, b in colours)  # uncertain: orange
    assert any(b > r + 100 for r, g, b in colours)  # No Finding: blue
    path = save_contact_sheet(large, tmp_path / "sheets" / "sheet.png")
    assert Image.open(path).size == large.size
    assert [p.name for p in path.parent.iterdir()] == ["sheet.png"]


def test_contact_sheet_colours_mark_style_captions() -> None:
    tile = np.full((32, 32), 90, np.uint8)
    lines = {"+ Pleural Effusion (left, large)": (120, 220, 120), "? Cardiomegaly": (245, 180, 60),
             "No Finding": (110, 180, 255)}
    for line, colour in lines.items():
        sheet = np.asarray(contact_sheet([(tile, "s1", [line])], tile=96)).reshape(-1, 3)
        distance = np.abs(sheet.astype(int) - np.array(colour)).sum(axis=1)
        assert distance.min() < 40, line  # anti-aliased text reaches its colour


def test_unknown_finding_names_are_refused() -> None:
    with pytest.raises(ValueError, match="not renderable"):
        render_radiograph(patient(), [VisibleFinding("pleural efusion", "left")])
    with pytest.raises(ValueError):
        finding_region(patient(), VisibleFinding("support devices"))


def test_contact_sheet_accepts_pil_images_and_wraps_long_labels() -> None:
    tile = Image.fromarray(np.full((32, 32), 200, np.uint8))
    long = ["Enlarged Cardiomediastinum: 1 " + "and a very long caption " * 4]
    short = contact_sheet([(tile, "s1", ["Edema: 1"])], tile=96)
    wrapped = contact_sheet([(tile, "s1", long)], tile=96)
    assert wrapped.height > short.height and wrapped.width == short.width
