"""Images for models: JPEG/PNG/DICOM in, 8-bit RGB PIL images out, one-line errors.

DICOM goes through `data.dicom.read_dicom_pixels` (modality LUT, VOI LUT or window,
MONOCHROME1 inverted, stretched to 8 bit): the same rendering the benchmark builder uses, so a
model sees a DICOM exactly as it would see the PNG `chestx build` makes of it. 16-bit PNGs are
stretched to 8 bit the same way.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from chestx_reasoner.data.sources.base import DatasetError

DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})


class ImageReadError(ValueError):
    """An image that exists but cannot be read; the message is one line naming the file."""


def resolve_image(path: str, root: Path) -> Path:
    """A Sample's image path (relative to the benchmark folder, or absolute) as a file path."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else root / candidate


def rebase_images(images: Any, source: Path, target: Path) -> Any:
    """Image paths that resolve from the folder `source` rewritten to resolve from `target`.

    A file derived from a benchmark (mined chains) is read with its own folder as the image
    root, so written to another folder it must carry paths relative to that folder; absolute
    where none exists (another drive). Folders are compared by their real paths so that `..`
    means what the operating system makes of it."""
    if not isinstance(images, list):
        return images
    source, target = Path(os.path.realpath(source)), Path(os.path.realpath(target))
    if source == target:
        return images
    out = []
    for image in images:
        path = Path(str(image))
        if path.is_absolute():
            out.append(str(image))
            continue
        try:
            out.append(os.path.relpath(source / path, target))
        except ValueError:
            out.append(str(source / path))
    return out


def missing_images_error(data: Path, root: Path, n: int, first: Path) -> str:
    """The one line for a data file none of whose images is found: where they were looked for
    and the option that points elsewhere (image paths are relative to the image root)."""
    return (f"{data}: no usable item: the images of {n} items are not in {root} (first: "
            f"{first}); pass --image-root with the folder the image paths are relative to "
            "(the benchmark folder)")


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with path.open("rb") as handle:  # DICOM Part 10: 128-byte preamble, then "DICM"
        handle.seek(128)
        return handle.read(4) == b"DICM"


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Stretch any grey range to 0-255 (a flat image renders black)."""
    values = pixels.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return np.rint((values - low) * scale).astype(np.uint8)


@contextmanager
def _read_errors(path: Path) -> Iterator[None]:
    """Any failure to read an image file becomes one ImageReadError line naming the file
    (Pillow raises SyntaxError for some damaged PNGs)."""
    try:
        yield
    except DatasetError as error:  # DICOM: already one line naming the file
        raise ImageReadError(str(error)) from error
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError) as error:  # a bomb: more pixels than Pillow's safety limit
        why = " ".join(str(error).split()) or type(error).__name__
        raise ImageReadError(f"{path}: unreadable image ({why})") from error


def load_image(path: str | Path) -> Image.Image:
    """The image as 8-bit RGB; raises FileNotFoundError if absent, ImageReadError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    with _read_errors(path):
        if _is_dicom(path):
            from chestx_reasoner.data.dicom import read_dicom_pixels

            return Image.fromarray(read_dicom_pixels(path)).convert("RGB")
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                return Image.fromarray(_to_uint8(np.asarray(image))).convert("RGB")
            return image.convert("RGB")
def check_image(path: str | Path) -> None:
    """A cheap readability check for models that send files as they are (no decoding):
    the DICOM header, or Pillow's verify(); raises ImageReadError naming the file."""
    path = Path(path)
    with _read_errors(path):
        if _is_dicom(path):
            from chestx_reasoner.data.dicom import read_dicom_header

            read_dicom_header(path, ["Rows", "Columns"])
            return
        with Image.open(path) as image:
            image.verify()


def data_url(path: str | Path) -> str:
    """The image as a base64 data URL for OpenAI-style `image_url` parts.

    JPEG and PNG files are sent as they are (no re-encoding, no quality loss); anything else
    (DICOM, 16-bit PNG) is rendered with `load_image` and sent as PNG.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:3] == b"\xff\xd8\xff":
        mime = "image/jpeg"
    elif raw[:8] == b"\x89PNG\r\n\x1a\n" and _png_is_8bit(raw):
        mime = "image/png"
    else:
        buffer = io.BytesIO()
        load_image(path).save(buffer, format="PNG")
        raw, mime = buffer.getvalue(), "image/png"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _png_is_8bit(raw: bytes) -> bool:
    """Bit depth from the IHDR chunk (byte 24): servers expect 8-bit PNGs."""
    return len(raw) > 24 and raw[24] == 8
