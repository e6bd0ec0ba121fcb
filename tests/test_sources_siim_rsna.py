"""DICOM rendering and the SIIM-ACR / RSNA adapters, on DICOMs written here in the native layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import (
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
)

from chestx_reasoner.data.dicom import (
    dicom_patient_id,
    dicom_to_png,
    dicom_view,
    read_dicom_pixels,
)
from chestx_reasoner.data.sources import SOURCES, DatasetError
from chestx_reasoner.data.sources.rsna import RsnaPneumonia
from chestx_reasoner.data.sources.siim import SiimAcrPneumothorax
from dicom_files import write_dicom as write_any_dicom

GRADIENT16 = np.tile(np.arange(32, dtype=np.uint16) * 100, (32, 1))  # 0 … 3100, left to right
GRADIENT8 = np.tile(np.arange(32, dtype=np.uint8) * 8, (32, 1))  # 0 … 248


def write_dicom(path: Path, pixels: np.ndarray = GRADIENT8, **options: object) -> Path:
    """The shared test DICOM, by default this file's 8-bit gradient seen PA."""
    return write_any_dicom(path, pixels, **options)


def one_line(error: pytest.ExceptionInfo[DatasetError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


# --- DICOM rendering ------------------------------------------------------------------------

def test_16_bit_is_scaled_to_the_full_8_bit_range(tmp_path: Path) -> None:
    pixels = read_dicom_pixels(write_dicom(tmp_path / "a.dcm", GRADIENT16))
    assert pixels.dtype == np.uint8 and pixels.shape == (32, 32)
    assert pixels.min() == 0 and pixels.max() == 255
    assert (np.diff(pixels[0].astype(int)) > 0).all()


def test_8_bit_without_lut_is_kept_as_stored(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT8, RescaleSlope=1, RescaleIntercept=0)
    assert np.array_equal(read_dicom_pixels(path), GRADIENT8)


def test_window_is_applied(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT16, WindowCenter=1000, WindowWidth=400)
    row = read_dicom_pixels(path)[0]
    assert row[:8].max() == 0 and row[13:].min() == 255  # 0-700 black, 1300-3100 white
    assert 0 < row[10] < 255


def test_jpeg_baseline_decodes_through_pillow(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT8, syntax=JPEGBaseline8Bit)
    assert np.abs(read_dicom_pixels(path).astype(int) - GRADIENT8).max() <= 2


def test_png_round_trip_and_monochrome1_inversion(tmp_path: Path) -> None:
    mono2 = write_dicom(tmp_path / "m2.dcm", GRADIENT16)
    mono1 = write_dicom(tmp_path / "m1.dcm", GRADIENT16, photometric="MONOCHROME1")
    out2 = dicom_to_png(mono2, tmp_path / "png" / "deep" / "m2.png")
    out1 = dicom_to_png(mono1, tmp_path / "png" / "deep" / "m1.png")
    with Image.open(out2) as image2, Image.open(out1) as image1:
        assert image2.size == image1.size == (32, 32) and image2.mode == image1.mode == "L"
        array2, array1 = np.asarray(image2), np.asarray(image1)
    assert np.array_equal(array2, read_dicom_pixels(mono2))
    assert np.array_equal(array1, 255 - array2)
    assert array1[0, 0] == 255 and array2[0, 0] == 0  # MONOCHROME1: low values are bright
    assert sorted(p.name for p in out1.parent.iterdir()) == ["m1.png", "m2.png"]  # no temps


def test_failed_png_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not a dicom")
    with pytest.raises(DatasetError):
        dicom_to_png(bad, tmp_path / "out" / "bad.png")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_header_tags(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", view="AP ", patient="P-7")
    assert dicom_view(path) == "AP" and dicom_patient_id(path) == "P-7"
    assert dicom_view(write_dicom(tmp_path / "b.dcm", view=None)) is None


def test_unreadable_dicom_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 10)
    for read in (read_dicom_pixels, dicom_view):
        with pytest.raises(DatasetError) as error:
            read(bad)
        assert one_line(error).startswith(f"{bad}: unreadable DICOM (")


def test_undecodable_compressed_pixels_name_the_plugin(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", syntax=JPEGLosslessSV1)  # baseline bytes: bad anyway
    with pytest.raises(DatasetError) as error:
        read_dicom_pixels(path)
    text = one_line(error)
    assert text.startswith(f"{path}: unreadable DICOM (cannot decode JPEG Lossless")
    assert "pylibjpeg" in text


# --- SIIM-ACR -------------------------------------------------------------------------------

SIIM_IDS = {"1.2.276.0.7230010.3.1.4.1": "PA", "1.2.276.0.7230010.3.1.4.2": "AP",
            "1.2.276.0.7230010.3.1.4.3": "PA"}  # .4 has rows but no DICOM


def make_siim(root: Path, column: str = " EncodedPixels", gz: bool = False,
              skip_dicom: bool = False) -> Path:
    """Image 1: two masks; image 2: " -1"; image 3: "-1" then a mask; image 4: no DICOM."""
    lines = [f"ImageId,{column}",
             "1.2.276.0.7230010.3.1.4.1,10 5 20 5", "1.2.276.0.7230010.3.1.4.1,300 2",
             "1.2.276.0.7230010.3.1.4.2, -1",
             "1.2.276.0.7230010.3.1.4.3,-1", "1.2.276.0.7230010.3.1.4.3, 7 3",
             "1.2.276.0.7230010.3.1.4.4,40 2"]
    text = "\n".join(lines) + "\n"
    if gz:
        (root / "train-rle.csv.gz").write_bytes(gzip.compress(text.encode()))
    else:
        (root / "train-rle.csv").write_text(text)
    if not skip_dicom:
        for n, (image_id, view) in enumerate(SIIM_IDS.items(), 1):
            folder = root / "dicom-images-train" / f"1.2.276.0.7230010.3.1.2.{n}" \
                / f"1.2.276.0.7230010.3.1.3.{n}"
            write_dicom(folder / f"{image_id}.dcm", view=view, patient=f"patient-{n}")
    return root


@pytest.mark.parametrize(("column", "gz"), [(" EncodedPixels", False), ("EncodedPixels", True)])
def test_siim_studies(tmp_path: Path, column: str, gz: bool) -> None:
    adapter = SOURCES.get("siim")(make_siim(tmp_path, column, gz))
    assert isinstance(adapter, SiimAcrPneumothorax) and adapter.has_reports is False
    studies = {s.study_id: s for s in adapter.studies()}
    assert sorted(studies) == sorted(SIIM_IDS)
    assert {k: s.labels for k, s in studies.items()} == {
        "1.2.276.0.7230010.3.1.4.1": {"Pneumothorax": 1.0},
        "1.2.276.0.7230010.3.1.4.2": {"Pneumothorax": 0.0},
        "1.2.276.0.7230010.3.1.4.3": {"Pneumothorax": 1.0}}
    for n, (image_id, view) in enumerate(SIIM_IDS.items(), 1):
        study = studies[image_id]
        (image,) = study.images
        assert image.path == tmp_path / "dicom-images-train" / f"1.2.276.0.7230010.3.1.2.{n}" \
            / f"1.2.276.0.7230010.3.1.3.{n}" / f"{image_id}.dcm"
        assert (image.view, image.image_id, image.frontal) == (view, image_id, True)
        assert (study.patient_id, study.report, study.source) == (f"patient-{n}", "", "siim")
    assert adapter.skipped == {"image file missing": 1}


def test_siim_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as error:
        list(SiimAcrPneumothorax(tmp_path).studies())
    assert "train-rle.csv: missing" in one_line(error)
    (tmp_path / "train-rle.csv").write_text("ImageId,Mask\nx,-1\n")
    with pytest.raises(DatasetError) as error:
        list(SiimAcrPneumothorax(tmp_path).studies())
    assert one_line(error).startswith(f"{tmp_path / 'train-rle.csv'}:1: missing column "
                                      "'EncodedPixels'")
    (tmp_path / "train-rle.csv").write_text("ImageId, EncodedPixels\nx,-1\ny,12 x\n")
    with pytest.raises(DatasetError) as error:
        list(SiimAcrPneumothorax(tmp_path).studies())
    assert one_line(error).startswith(f"{tmp_path / 'train-rle.csv'}:3: column ' EncodedPixels'")


def test_siim_missing_folder_and_unreadable_dicom(tmp_path: Path) -> None:
    make_siim(tmp_path, skip_dicom=True)
    with pytest.raises(DatasetError) as error:
        list(SiimAcrPneumothorax(tmp_path).studies())
    assert "dicom-images-train: missing" in one_line(error)
    bad = tmp_path / "dicom-images-train" / "s" / "r" / "1.2.276.0.7230010.3.1.4.1.dcm"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"garbage")
    with pytest.raises(DatasetError) as error:
        list(SiimAcrPneumothorax(tmp_path).studies())
    assert one_line(error).startswith(f"{bad}: unreadable DICOM (")


# --- RSNA -----------------------------------------------------------------------------------

RSNA_LABELS = ("patientId,x,y,width,height,Target\n"
               "p-two-boxes,264.0,152.0,213.0,379.0,1\n"
               "p-two-boxes,562.0,152.0,256.0,453.0,1\n"
               "p-normal,,,,,0\n"
               "p-other,,,,,0\n"
               "p-no-dicom,100.0,100.0,50.0,50.0,1\n"
               "p-lateral,,,,,0\n")
RSNA_CLASSES = ("patientId,class\n"
                "p-two-boxes,Lung Opacity\np-two-boxes,Lung Opacity\np-normal,Normal\n"
                "p-other,No Lung Opacity / Not Normal\np-no-dicom,Lung Opacity\n"
                "p-lateral,Normal\n")


def make_rsna(root: Path, labels: str = RSNA_LABELS, classes: str | None = RSNA_CLASSES) -> Path:
    (root / "stage_2_train_labels.csv").write_text(labels)
    if classes is not None:
        (root / "stage_2_detailed_class_info.csv").write_text(classes)
    images = root / "stage_2_train_images"
    write_dicom(images / "p-two-boxes.dcm", GRADIENT16, view="AP", patient="p-two-boxes")
    write_dicom(images / "p-normal.dcm", view="PA", patient="p-normal",
                syntax=JPEGBaseline8Bit)
    write_dicom(images / "p-other.dcm", GRADIENT16, view="PA", photometric="MONOCHROME1")
    write_dicom(images / "p-lateral.dcm", view="LL")
    return root


@pytest.mark.parametrize("classes", [RSNA_CLASSES, None])
def test_rsna_studies(tmp_path: Path, classes: str | None) -> None:
    adapter = SOURCES.get("rsna")(make_rsna(tmp_path, classes=classes))
    assert isinstance(adapter, RsnaPneumonia) and adapter.has_reports is False
    studies = {s.study_id: s for s in adapter.studies()}
    assert {k: (s.labels, s.images[0].view) for k, s in studies.items()} == {
        "p-two-boxes": ({"Pneumonia": 1.0}, "AP"),
        "p-normal": ({"Pneumonia": 0.0}, "PA"),
        "p-other": ({"Pneumonia": 0.0}, "PA")}
    for key, study in studies.items():
        (image,) = study.images
        assert image.path == tmp_path / "stage_2_train_images" / f"{key}.dcm"
        assert (study.patient_id, image.image_id, study.report) == (key, key, "")
    assert adapter.skipped == {"image file missing": 1, "no frontal image": 1}


@pytest.mark.parametrize(("labels", "classes", "expected"), [
    ("patientId,x,y,width,height\n", None, ":1: missing column 'Target'"),
    (RSNA_LABELS.replace("p-other,,,,,0", "p-other,,,,,2"), None, ":5: column 'Target': '2'"),
    (RSNA_LABELS, RSNA_CLASSES.replace("p-normal,Normal", "p-normal,Lung Opacity"),
     ":4: column 'class': 'Lung Opacity' contradicts Target 0"),
    (RSNA_LABELS, "patientId,class\np-normal,Pneumonia\n", ":2: column 'class': 'Pneumonia'"),
])
def test_rsna_bad_values(tmp_path: Path, labels: str, classes: str | None,
                         expected: str) -> None:
    make_rsna(tmp_path, labels, classes)
    with pytest.raises(DatasetError) as error:
        list(RsnaPneumonia(tmp_path).studies())
    text = one_line(error)
    assert text.startswith(str(tmp_path / ("stage_2_train_labels.csv" if classes is None
                                           else "stage_2_detailed_class_info.csv")))
    assert expected in text


def test_rsna_missing_csv_and_unreadable_dicom(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as error:
        list(RsnaPneumonia(tmp_path).studies())
    assert "stage_2_train_labels.csv: missing" in one_line(error)
    make_rsna(tmp_path)
    bad = tmp_path / "stage_2_train_images" / "p-normal.dcm"
    bad.write_bytes(b"DICM but not really")
    with pytest.raises(DatasetError) as error:
        list(RsnaPneumonia(tmp_path).studies())
    assert one_line(error).startswith(f"{bad}: unreadable DICOM (")
