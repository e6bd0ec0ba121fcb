"""Contact sheets: many synthetic studies on one PNG, each captioned with its labels.

A person checking a synthetic cohort needs to see at a glance whether each image shows what
its labels claim, so captions colour positives, uncertains and "No Finding" differently.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (24, 24, 28)
TITLE = (235, 235, 235)
POSITIVE = (120, 220, 120)
UNCERTAIN = (245, 180, 60)
NO_FINDING = (110, 180, 255)
OTHER = (160, 160, 160)
PAD = 4

Item = tuple["np.ndarray | Image.Image", str, Sequence[str]]


def _label_colour(line: str) -> tuple[int, int, int]:
    """Colour of a label line, in either caption style.

    "Edema: 1" / "Edema: -1" / "Edema: 0" (CheXpert values after the last colon), or
    "+ Edema (...)" / "? Edema" / "- Edema" (marks first); a bare "No Finding" counts as 1.
    """
    text = line.strip()
    mark = text[:2]
    if mark in ("+ ", "? ", "- "):
        name, number = text[2:], {"+ ": 1.0, "? ": -1.0, "- ": 0.0}[mark]
    else:
        name, colon, value = text.rpartition(":")
        try:
            number = float(value) if colon else None
        except ValueError:
            number = None
        if number is None:
            name, number = text, (1.0 if text.lower() == "no finding" else None)
    if number == 1 and name.strip().lower().startswith("no finding"):
        return NO_FINDING
    if number is None:
        return OTHER
    return {1.0: POSITIVE, -1.0: UNCERTAIN}.get(number, OTHER)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    """Greedy word wrap to a pixel width (a single over-long word is left whole)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and font.getlength(trial) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return [*lines, current] if current else lines or [""]


def _as_tile(image: np.ndarray | Image.Image, tile: int) -> Image.Image:
    if isinstance(image, Image.Image):
        im = image if image.mode in ("L", "RGB") else image.convert("L")
    else:
        arr = np.asarray(image)
        if arr.dtype != np.uint8:  # stretch any other range onto 0..255
            lo, hi = float(arr.min()), float(arr.max())
            arr = ((arr - lo) * (255.0 / max(hi - lo, 1e-12))).astype(np.uint8)
        im = Image.fromarray(arr)
    return im.convert("RGB").resize((tile, tile), Image.Resampling.BILINEAR)


def contact_sheet(
    items: Sequence[Item], columns: int = 6, tile: int = 256
) -> Image.Image:
    """An RGB grid of tiles, each image above its title and colour-coded label lines.

    Rows grow with the number of items; every caption block gets the height of the longest,
    so tiles stay on a regular grid.
    """
    if columns < 1 or tile < 16:
        raise ValueError("columns must be >= 1 and tile >= 16")
    font = ImageFont.load_default(size=max(9, tile // 22))
    line_h = int(font.getbbox("Ag")[3]) + 2
    captions = []
    for _image, title, labels in items:
        rows = [(line, TITLE) for line in _wrap(title, font, tile - 2 * PAD)]
        for label in labels:
            rows += [(line, _label_colour(label)) for line in _wrap(label, font, tile - 2 * PAD)]
        captions.append(rows)
    caption_h = max((len(c) for c in captions), default=0) * line_h + 2 * PAD
    cols = max(1, min(columns, len(items)))
    nrows = max(1, math.ceil(len(items) / cols))
    cell_w, cell_h = tile + PAD, tile + caption_h + PAD
    sheet = Image.new("RGB", (cols * cell_w + PAD, nrows * cell_h + PAD), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, ((image, _title, _labels), rows) in enumerate(zip(items, captions, strict=True)):
        x0 = PAD + (i % cols) * cell_w
        y0 = PAD + (i // cols) * cell_h
        sheet.paste(_as_tile(image, tile), (x0, y0))
        for j, (line, colour) in enumerate(rows):
            draw.text((x0 + PAD, y0 + tile + PAD + j * line_h), line, fill=colour, font=font)
    return sheet


def save_contact_sheet(image: Image.Image, path: str | os.PathLike[str]) -> Path:
    """Write the sheet as PNG atomically: readers never see a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
