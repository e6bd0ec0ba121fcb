"""SIIM-ACR Pneumothorax Segmentation (Kaggle 2019), training set: pneumothorax labels only.

    ROOT/train-rle.csv[.gz]    ImageId, " EncodedPixels" (the header has a leading space;
                               "EncodedPixels" without it is accepted too)
    ROOT/dicom-images-train/<StudyInstanceUID>/<SeriesInstanceUID>/<ImageId>.dcm

ImageId is the SOP Instance UID (1.2.276.0.7230010.3.1.4.…; the two folders are the study
(…3.1.2.…) and series (…3.1.3.…) UIDs). EncodedPixels is a relative run-length mask, or -1
(written " -1" in the original file) for an image without pneumothorax; an image with several
pneumothorax regions has one row per mask. Evidence: the competition's data description as
quoted in public READMEs (dicom-images-train, dicom-images-test, train-rle.csv; "-1" for no
mask; "some training images have multiple annotations") and public code reading
`df[' EncodedPixels'] == ' -1'` and globbing `dicom-images-train/*/*/*.dcm`.

One Study per ImageId: `Pneumothorax` 1.0 if any of its rows has a mask, else 0.0 (no other
label: the release says nothing about the other 13 observations); view and patient come from
the DICOM's ViewPosition and PatientID; no report (`has_reports = False`). The DICOM folder is
walked once for `*.dcm` (any depth, so a flattened copy works too); an ImageId without a DICOM
is skipped and counted under "image file missing". Masks are checked (integers, in pairs) but
not decoded: the benchmark uses the image-level label only.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path

from chestx_reasoner.data.dicom import read_dicom_header
from chestx_reasoner.data.sources.base import (
    SOURCES,
    DatasetError,
    SourceAdapter,
    find_file,
    read_table,
)
from chestx_reasoner.data.study import Study, StudyImage

RLE_CSV = "train-rle.csv"
IMAGES = "dicom-images-train"
MASK_COLUMNS = (" EncodedPixels", "EncodedPixels")  # the original header, then a cleaned one
NO_MASK = "-1"


def csv_header(path: Path) -> list[str]:
    """The header row as written (spaces kept), to choose between column spellings."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:  # type: ignore[operator]
            return next(csv.reader(handle), [])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(f"{path}: unreadable ({error})") from error


def index_dicoms(folder: Path) -> dict[str, Path]:
    """File stem (the ImageId) -> path, for every .dcm under folder (walked once)."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: missing (the folder of training DICOMs)")
    index: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.dcm")):
        index.setdefault(path.stem, path)
    return index


def has_mask(path: Path, line: int, column: str, text: str | None) -> bool:
    """True for a run-length mask, False for -1; anything else is a DatasetError."""
    value = (text or "").strip()
    if value == NO_MASK:
        return False
    cells = value.split()
    if not cells or len(cells) % 2 or not all(cell.isdigit() for cell in cells):
        shown = value if len(value) <= 40 else value[:39] + "…"
        raise DatasetError(f"{path}:{line}: column {column!r}: {shown!r} is neither -1 nor a "
                           "run-length mask (start length pairs)")
    return True


@SOURCES.register("siim")
class SiimAcrPneumothorax(SourceAdapter):
    """SIIM-ACR training images, Pneumothorax 1.0/0.0 (see the module docstring for layout)."""

    name = "siim"
    has_reports = False

    def __init__(self, root: str | Path, rle_csv: str = RLE_CSV, images: str = IMAGES) -> None:
        super().__init__(root)
        self.rle_csv, self.images = rle_csv, images

    def read(self) -> Iterator[Study]:
        positive = self._labels()
        dicoms = index_dicoms(self.root / self.images)
        for image_id, label in positive.items():
            path = dicoms.get(image_id)
            if path is None:
                self.skipped["image file missing"] += 1
                continue
            header = read_dicom_header(path, ("ViewPosition", "PatientID"))
            view = header["ViewPosition"]
            yield Study(
                source=self.name, patient_id=header["PatientID"] or image_id,
                study_id=image_id,
                images=[StudyImage(path=path, view=view.upper() if view else None,
                                   image_id=image_id)],
                labels={"Pneumothorax": 1.0 if label else 0.0})

    def _labels(self) -> dict[str, bool]:
        """ImageId -> any mask, in file order (one entry however many rows)."""
        path = find_file(self.root, self.rle_csv)
        header = csv_header(path)
        column = next((c for c in MASK_COLUMNS if c in header), None)
        if column is None:
            raise DatasetError(f"{path}:1: missing column 'EncodedPixels' (header has: "
                               f"{', '.join(header) or 'nothing'})")
        positive: dict[str, bool] = {}
        for line, row in read_table(path, ("ImageId", column)):
            image_id = row["ImageId"].strip()
            if not image_id:
                raise DatasetError(f"{path}:{line}: column 'ImageId': empty")
            mask = has_mask(path, line, column, row[column])
            positive[image_id] = positive.get(image_id, False) or mask
        return positive
