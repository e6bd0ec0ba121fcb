"""MS-CXR-T 1.0.0 temporal image classification: progression labels over MIMIC-CXR-JPG pairs.

    PAIRS CSV  MS_CXR_T_temporal_image_classification_v1.0.0.csv: dicom_id, previous_dicom_id,
               subject_id, study_id, previous_study_id, <finding>_progression (improving |
               stable | worsening | empty) for consolidation, edema, pleural_effusion,
               pneumonia, pneumothorax
    ROOT       the MIMIC-CXR-JPG root the dicom ids point into (see `mimic_cxr`)

One Study per pair: the current image, the prior image and report, and `progression`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from chestx_reasoner.data.sources.base import SOURCES, DatasetError, find_file, read_table
from chestx_reasoner.data.sources.mimic_cxr import MimicCxrJpg
from chestx_reasoner.data.study import PROGRESSIONS, Study

PAIRS_CSV = "MS_CXR_T_temporal_image_classification_v1.0.0.csv"
PROGRESSION_COLUMNS = {
    "consolidation_progression": "Consolidation",
    "edema_progression": "Edema",
    "pleural_effusion_progression": "Pleural Effusion",
    "pneumonia_progression": "Pneumonia",
    "pneumothorax_progression": "Pneumothorax",
}
_NUMERIC = {"-1": "improving", "-1.0": "improving", "0": "stable", "0.0": "stable",
            "1": "worsening", "1.0": "worsening"}  # harmonised copies encode them as numbers


@dataclass(frozen=True, slots=True)
class Pair:
    dicom_id: str
    previous_dicom_id: str
    progression: dict[str, str]


def read_pairs(path: Path) -> dict[str, Pair]:
    """dicom_id of the current image -> its pair; rows without any label are left out."""
    pairs: dict[str, Pair] = {}
    for line, row in read_table(path, ("dicom_id", "previous_dicom_id",
                                       *PROGRESSION_COLUMNS)):
        progression = {}
        for column, finding in PROGRESSION_COLUMNS.items():
            value = (row[column] or "").strip().lower()
            value = _NUMERIC.get(value, value)
            if value and value not in PROGRESSIONS:
                raise DatasetError(f"{path}:{line}: column {column!r}: {row[column]!r} is not "
                                   "improving, stable or worsening")
            if value:
                progression[finding] = value
        if progression:
            pairs[row["dicom_id"].strip()] = Pair(row["dicom_id"].strip(),
                                                  row["previous_dicom_id"].strip(), progression)
    return pairs


@SOURCES.register("ms-cxr-t")
class MsCxrT(MimicCxrJpg):
    """MS-CXR-T pairs over a MIMIC-CXR-JPG root (`pairs_csv` defaults to ROOT/<the CSV>)."""

    name = "ms-cxr-t"

    def __init__(self, root: str | Path, pairs_csv: str | Path | None = None,
                 reports_root: str | Path | None = None) -> None:
        super().__init__(root, reports_root=reports_root)
        self.pairs_csv = Path(pairs_csv) if pairs_csv else find_file(self.root, PAIRS_CSV)

    def read(self) -> Iterator[Study]:
        pairs = read_pairs(self.pairs_csv)
        studies = list(super().read())
        by_dicom = {image.image_id: (study, image) for study in studies for image in study.images}
        for pair in pairs.values():
            if pair.dicom_id not in by_dicom or pair.previous_dicom_id not in by_dicom:
                self.skipped["pair image not in the MIMIC-CXR-JPG metadata"] += 1
                continue
            current, image = by_dicom[pair.dicom_id]
            prior, prior_image = by_dicom[pair.previous_dicom_id]
            yield replace(current, images=[image], prior_study_id=prior.study_id,
                          prior_image=prior_image, prior_report=prior.report,
                          progression=dict(pair.progression))
