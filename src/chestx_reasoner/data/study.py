"""`Study`: the one record every dataset adapter yields, whatever the release layout.

A study is one imaging exam of one patient: its images (with view), its report split into
sections, its labels on the 14 CheXpert columns, and a link to the patient's prior study. Task
builders only ever see `Study` records, so adding a dataset never touches them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

FRONTAL_VIEWS = frozenset({"PA", "AP", "AP AXIAL", "PA RLD", "PA LLD", "AP RLD", "AP LLD",
                           "FRONTAL"})
LabelValue = float | None  # 1.0 present, 0.0 absent, -1.0 uncertain, None not mentioned
PROGRESSIONS = ("improving", "stable", "worsening")


@dataclass(frozen=True, slots=True)
class StudyImage:
    """One image file of a study (absolute path) and its view position."""

    path: Path
    view: str | None = None  # PA | AP | LATERAL | LL | ... as the release spells it, upper case
    image_id: str | None = None  # dicom_id or file stem

    @property
    def frontal(self) -> bool:
        return (self.view or "").upper() in FRONTAL_VIEWS


@dataclass(slots=True)
class Study:
    """One exam, as every adapter yields it."""

    source: str
    patient_id: str
    study_id: str
    images: list[StudyImage]
    report: str = ""  # the full report text ("" where the dataset has none: SIIM, RSNA)
    sections: dict[str, str] = field(default_factory=dict)  # findings / impression / …
    labels: dict[str, LabelValue] = field(default_factory=dict)  # CheXpert column -> value
    date: str | None = None  # ISO date (time), shifted as the release ships it
    split: str | None = None  # the release's own split (train | validate | test), if any
    prior_study_id: str | None = None
    prior_image: StudyImage | None = None  # the frontal image of the prior study
    prior_report: str | None = None
    progression: dict[str, str] = field(default_factory=dict)  # column -> improving|stable|…

    def frontal_image(self) -> StudyImage | None:
        """The first frontal image (PA preferred over AP), or None."""
        frontal = [image for image in self.images if image.frontal]
        frontal.sort(key=lambda image: (image.view or "").upper() != "PA")
        return frontal[0] if frontal else None

    def label(self, column: str) -> LabelValue:
        return self.labels.get(column)

    def __post_init__(self) -> None:
        unknown = set(self.labels) - set(CHEXPERT_OBSERVATIONS)
        if unknown:
            raise ValueError(f"study {self.study_id}: labels outside the 14 CheXpert columns: "
                             f"{sorted(unknown)}")
