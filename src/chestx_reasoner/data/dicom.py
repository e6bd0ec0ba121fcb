"""DICOM in, 8-bit grayscale out: the one place the toolkit reads DICOM (SIIM-ACR, RSNA).

Benchmarks ship PNGs, so every DICOM is rendered once the way a viewer would show it: modality
LUT (rescale slope/intercept), then the VOI LUT or window, then MONOCHROME1 inverted so that
air is always dark. pydicom is imported lazily so that adapters for JPEG/PNG releases (and
the source registry, which imports every adapter) work where pydicom is not installed.

Uncompressed transfer syntaxes need nothing else; JPEG Baseline (what the RSNA and SIIM
releases use) is decoded by pydicom through Pillow. Other compressed syntaxes (JPEG Lossless,
JPEG-LS, JPEG 2000) need a pydicom decoder plugin; without one the error says which to install.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chestx_reasoner.data.sources.base import DatasetError

if TYPE_CHECKING:
    from pydicom.dataset import FileDataset

PLUGIN_HINT = "install a pydicom decoder plugin: pip install pylibjpeg pylibjpeg-libjpeg " \
              "pylibjpeg-openjpeg (or python-gdcm)"


def _one_line(error: BaseException, limit: int = 300) -> str:
    """pydicom's messages span lines; DatasetError promises one."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dcmread(path: Path, **options: Any) -> FileDataset:
    try:
        import pydicom
    except ImportError:
        raise DatasetError(f"{path}: unreadable DICOM (pydicom is not installed: "
                           "pip install pydicom)") from None
    try:
        return pydicom.dcmread(path, **options)
    except Exception as error:  # pydicom raises many types for a damaged file
        raise DatasetError(f"{path}: unreadable DICOM ({_one_line(error)})") from error


def read_dicom_header(path: str | Path, keywords: Iterable[str]) -> dict[str, str | None]:
    """Keyword -> stripped text ('' or absent -> None), reading only those tags (fast)."""
    path = Path(path)
    keywords = list(keywords)
    ds = _dcmread(path, stop_before_pixels=True, specific_tags=keywords)
    out: dict[str, str | None] = {}
    for keyword in keywords:
        value = ds.get(keyword)
        text = "" if value is None else str(value).strip()
        out[keyword] = text or None
    return out


def dicom_view(path: str | Path) -> str | None:
    """ViewPosition (PA, AP, LL, …) upper-cased, or None when the tag is absent or empty."""
    view = read_dicom_header(path, ["ViewPosition"])["ViewPosition"]
    return view.upper() if view else None


def dicom_patient_id(path: str | Path) -> str | None:
    """PatientID, or None when the tag is absent or empty."""
    return read_dicom_header(path, ["PatientID"])["PatientID"]


def _pixels(path: Path, ds: FileDataset) -> np.ndarray:
    """The stored pixel values; a decode failure says whether a plugin would help."""
    try:
        return ds.pixel_array
    except Exception as error:  # RuntimeError (no plugin), ValueError, AttributeError, …
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        why = _one_line(error)
        if "PixelData" not in ds:
            why = "no Pixel Data element"
        elif syntax is not None and syntax.is_compressed:
            why = f"cannot decode {syntax.name} pixel data: {why}; {PLUGIN_HINT}"
        raise DatasetError(f"{path}: unreadable DICOM ({why})") from error


def read_dicom_pixels(path: str | Path) -> np.ndarray:
    """The image as a viewer shows it: 2-D uint8, 0 = black, LUTs and window applied.

    8-bit unsigned images with no LUT or window are returned as stored (RSNA and SIIM ship
    display-ready 8-bit pixels: stretching them would change the released image); anything
    else is stretched linearly from its lowest to its highest value (after the LUTs) to 0-255.
    A window clips to its bounds first, so pixels on both sides of it render exactly as the
    window says.
    """
    path = Path(path)
    ds = _dcmread(path)  # first: it explains a missing pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    arr = _pixels(path, ds)
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise DatasetError(f"{path}: unreadable DICOM (colour image: "
                           f"{ds.get('PhotometricInterpretation')}, expected grayscale)")
    if arr.ndim == 3:  # multi-frame: a radiograph has one, keep the first
        arr = arr[0]
    if arr.ndim != 2:
        raise DatasetError(f"{path}: unreadable DICOM (pixel array of shape {arr.shape})")
    try:
        out = apply_voi_lut(apply_modality_lut(arr, ds), ds)
    except Exception as error:  # a malformed LUT or window element
        raise DatasetError(f"{path}: unreadable DICOM (LUT or window: "
                           f"{_one_line(error)})") from error
    if arr.dtype == np.uint8 and out.shape == arr.shape and np.array_equal(out, arr):
        out = arr  # an identity rescale (slope 1, intercept 0) changes nothing
    if out.dtype != np.uint8:
        out = np.asarray(out, dtype=np.float64)
        low, high = float(out.min()), float(out.max())
        scale = 255.0 / (high - low) if high > low else 0.0  # a flat image renders black
        out = np.rint((out - low) * scale).astype(np.uint8)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        out = 255 - out  # MONOCHROME1: high values are dark
    return np.ascontiguousarray(out, dtype=np.uint8)


def dicom_to_png(src: str | Path, dst: str | Path) -> Path:
    """Render `src` to the PNG `dst` atomically (temp file beside it, then os.replace).

    A build that is interrupted never leaves a truncated PNG that a rerun would keep.
    """
    from PIL import Image

    src, dst = Path(src), Path(dst)
    pixels = read_dicom_pixels(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            Image.fromarray(pixels).save(stream, format="PNG")
        os.replace(temp, dst)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return dst
