"""models/images.py: JPEG, PNG (8 and 16 bit) and DICOM in, 8-bit RGB out; data URLs for APIs."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chestx_reasoner.models.images import ImageReadError, data_url, load_image
from dicom_files import write_dicom

ROWS, COLS = 20, 32  # not square, so a swapped width/height shows
GRADIENT8 = np.tile(np.arange(COLS, dtype=np.uint8) * 8, (ROWS, 1))  # 0 … 248, left to right
GRADIENT16 = np.tile(np.arange(COLS, dtype=np.uint16) * 100, (ROWS, 1))  # 0 … 3100


def grey(image: Image.Image) -> np.ndarray:
    """The single channel of an RGB image whose channels must all be equal."""
    assert image.mode == "RGB"
    array = np.asarray(image)
    assert array.shape == (ROWS, COLS, 3)
    assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()
    return array[..., 0].astype(int)


def one_line_naming(error: pytest.ExceptionInfo[ImageReadError], path: Path) -> str:
    text = str(error.value)
    assert "\n" not in text and str(path) in text
    return text


# --- DICOM ----------------------------------------------------------------------------------

def test_dicom_monochrome2_8bit_is_kept_as_stored(tmp_path: Path) -> None:
    image = load_image(write_dicom(tmp_path / "a.dcm", GRADIENT8))
    assert image.size == (COLS, ROWS)
    assert (grey(image) == GRADIENT8).all()


def test_dicom_monochrome1_8bit_is_inverted(tmp_path: Path) -> None:
    image = load_image(write_dicom(tmp_path / "a.dcm", GRADIENT8, photometric="MONOCHROME1"))
    values = grey(image)
    assert (values == 255 - GRADIENT8.astype(int)).all()
    # the stored-brightest column renders darkest, the stored-darkest brightest
    assert values[0].argmin() == GRADIENT8[0].argmax() == COLS - 1
    assert values[0, 0] == 255


def test_dicom_monochrome2_16bit_is_stretched_to_8bit(tmp_path: Path) -> None:
    values = grey(load_image(write_dicom(tmp_path / "a.dcm", GRADIENT16)))
    assert values.min() == 0 and values.max() == 255
    assert values[0, 0] == 0 and values[0, -1] == 255
    assert (np.diff(values[0]) > 0).all()  # monotonic: the gradient survives
    assert (values == values[0]).all()  # every row alike


def test_dicom_monochrome1_16bit_is_stretched_and_inverted(tmp_path: Path) -> None:
    values = grey(load_image(write_dicom(tmp_path / "a.dcm", GRADIENT16,
                                         photometric="MONOCHROME1")))
    assert values[0, 0] == 255 and values[0, -1] == 0  # stored-brightest renders darkest
    assert (np.diff(values[0]) < 0).all()


def test_dicom_rescale_then_window(tmp_path: Path) -> None:
    # Rescaled value = 2 * stored - 1000; the window 1000 ± 200 is on rescaled values, so it
    # covers stored 900 … 1100 (columns 9 … 11). Without the rescale it would cover 800 … 1200.
    path = write_dicom(tmp_path / "a.dcm", GRADIENT16, RescaleSlope=2, RescaleIntercept=-1000,
                       WindowCenter=1000, WindowWidth=400)
    values = grey(load_image(path))[0]
    assert (values[:10] == 0).all()  # stored <= 900: at or below the window
    assert (values[11:] == 255).all()  # stored >= 1100: above it
    assert 100 < values[10] < 155  # stored 1000 = rescaled 1000: the window's centre


def test_dicom_identity_rescale_keeps_8bit_pixels(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT8, RescaleSlope=1, RescaleIntercept=0)
    assert (grey(load_image(path)) == GRADIENT8).all()


def test_dicom_without_suffix_is_found_by_its_preamble(tmp_path: Path) -> None:
    dicom = write_dicom(tmp_path / "a.dcm", GRADIENT16)
    bare = tmp_path / "scan"
    bare.write_bytes(dicom.read_bytes())
    misnamed = tmp_path / "scan.img"
    misnamed.write_bytes(dicom.read_bytes())
    expected = grey(load_image(dicom))
    assert (grey(load_image(bare)) == expected).all()
    assert (grey(load_image(misnamed)) == expected).all()


def test_garbage_dicom_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.dcm"
    path.write_bytes(b"this is not a DICOM file at all\n" * 3)
    with pytest.raises(ImageReadError) as error:
        load_image(path)
    assert "DICOM" in one_line_naming(error, path)


def test_dicom_without_pixel_data_is_a_one_line_error(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT8)
    import pydicom

    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageReadError) as error:
        load_image(path)
    one_line_naming(error, path)


# --- JPEG and PNG ---------------------------------------------------------------------------

def test_jpeg_loads_as_rgb(tmp_path: Path) -> None:
    colour = tmp_path / "colour.jpg"
    Image.new("RGB", (COLS, ROWS), (200, 40, 40)).save(colour, quality=95)
    gray = tmp_path / "gray.jpeg"
    Image.new("L", (COLS, ROWS), 90).save(gray, quality=95)
    image = load_image(colour)
    assert image.mode == "RGB" and image.size == (COLS, ROWS)
    assert np.allclose(np.asarray(image)[5, 5], (200, 40, 40), atol=6)
    image = load_image(gray)
    assert image.mode == "RGB" and image.size == (COLS, ROWS)
    assert np.allclose(np.asarray(image), 90, atol=3)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P"])
def test_png_8bit_loads_as_rgb_losslessly(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(GRADIENT8).convert(mode).save(path)
    assert grey(load_image(path)).tolist() == GRADIENT8.astype(int).tolist()


def test_png_16bit_is_stretched_to_8bit(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    source = Image.fromarray(GRADIENT16 + 500)  # 500 … 3600: the stretch moves the low end too
    assert source.mode == "I;16"
    source.save(path)
    with Image.open(path) as reread:
        assert reread.mode.startswith("I")
    values = grey(load_image(path))
    assert values[0, 0] == 0 and values[0, -1] == 255
    assert (np.diff(values[0]) > 0).all()
    expected = np.rint(np.arange(COLS) * 100 * 255 / 3100).astype(int)
    assert (values[0] == expected).all()


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.dcm")
    with pytest.raises(FileNotFoundError):
        data_url(tmp_path / "absent.png")


def test_truncated_jpeg_is_a_one_line_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
                    ).save(whole, quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole.read_bytes()[:400])
    with pytest.raises(ImageReadError) as error:
        load_image(path)
    one_line_naming(error, path)


def test_garbage_jpeg_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(b"\x00garbage\nnot an image\n" * 20)
    with pytest.raises(ImageReadError) as error:
        load_image(path)
    assert "unreadable image" in one_line_naming(error, path)


# --- data URLs ------------------------------------------------------------------------------

def decode(url: str, mime: str) -> bytes:
    prefix = f"data:{mime};base64,"
    assert url.startswith(prefix), url[:40]
    return base64.b64decode(url[len(prefix):], validate=True)


def test_data_url_sends_jpeg_bytes_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    Image.new("RGB", (COLS, ROWS), (10, 120, 200)).save(path, quality=70)
    assert decode(data_url(path), "image/jpeg") == path.read_bytes()


def test_data_url_goes_by_content_not_suffix(tmp_path: Path) -> None:
    path = tmp_path / "really-a-jpeg.png"
    Image.new("RGB", (COLS, ROWS), (10, 120, 200)).save(path, format="JPEG")
    assert decode(data_url(path), "image/jpeg") == path.read_bytes()


def test_data_url_sends_8bit_png_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(GRADIENT8).save(path)
    assert decode(data_url(path), "image/png") == path.read_bytes()


def rendered_png(url: str) -> Image.Image:
    raw = decode(url, "image/png")
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[24] == 8  # IHDR bit depth: 8
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def test_data_url_renders_dicom_as_8bit_png(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "a.dcm", GRADIENT16, photometric="MONOCHROME1")
    image = rendered_png(data_url(path))
    assert image.size == (COLS, ROWS)
    assert (np.asarray(image.convert("RGB")) == np.asarray(load_image(path))).all()
    assert grey(image.convert("RGB"))[0, 0] == 255  # MONOCHROME1 inverted in the PNG too


def test_data_url_renders_16bit_png_as_8bit_png(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(GRADIENT16).save(path)
    assert path.read_bytes()[24] == 16
    image = rendered_png(data_url(path))
    values = grey(image.convert("RGB"))
    assert values[0, 0] == 0 and values[0, -1] == 255


def test_data_url_of_garbage_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.dcm"
    path.write_bytes(b"nothing here")
    with pytest.raises(ImageReadError) as error:
        data_url(path)
    one_line_naming(error, path)
