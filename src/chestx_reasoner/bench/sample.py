"""The benchmark item (`Sample`, DESIGN.md's contract) and the finding names questions use."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chestx_reasoner.data.study import Study

BENCH_VERSION = "1"  # bump whenever a question, option or answer format changes

# CheXpert column -> the words questions and options use (each maps back onto the vocabulary).
FINDING_NAMES: dict[str, str] = {
    "Atelectasis": "atelectasis",
    "Cardiomegaly": "cardiomegaly",
    "Consolidation": "consolidation",
    "Edema": "edema",
    "Enlarged Cardiomediastinum": "enlarged cardiomediastinum",
    "Fracture": "fracture",
    "Lung Lesion": "lung lesion",
    "Lung Opacity": "lung opacity",
    "Pleural Effusion": "pleural effusion",
    "Pleural Other": "pleural thickening",
    "Pneumonia": "pneumonia",
    "Pneumothorax": "pneumothorax",
    "Support Devices": "support devices",
}
FINDINGS = tuple(FINDING_NAMES)  # the 13 columns items ask about ("No Finding" is `anomaly`)
PATHOLOGIES = tuple(c for c in FINDINGS if c != "Support Devices")
LETTERS = "ABCDEFGH"
UNCERTAIN_POLICIES = ("ignore", "ones", "zeros")


@dataclass(slots=True)
class Sample:
    """One question about one study (temporal: a prior/current pair). See DESIGN.md."""

    id: str
    source: str
    task: str
    split: str
    images: list[str]  # relative to the benchmark folder; temporal: [prior, current]
    question: str
    options: list[str]
    answer: str  # a letter; multi_open: comma-separated findings
    report: str
    reasoning: list[str] = field(default_factory=list)
    patient_id: str = ""
    study_id: str = ""
    finding: str | None = None  # the column a binary / temporal item asks about

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LabelReader:
    """Reads a study's labels as present / absent under the uncertain-label policy.

    `blank_is_absent`: in report-labelled datasets an unmentioned finding is normal (blank =
    absent); in label-only datasets (SIIM, RSNA) a blank column is simply unknown.
    """

    uncertain: str = "ignore"  # ignore: neither present nor absent | ones | zeros
    blank_is_absent: bool = True

    def present(self, study: Study, column: str) -> bool:
        value = study.label(column)
        return value == 1.0 or (value == -1.0 and self.uncertain == "ones")

    def absent(self, study: Study, column: str) -> bool:
        value = study.label(column)
        if value is None:  # a study without any label row is unknown, never normal
            return self.blank_is_absent and bool(study.labels)
        return value == 0.0 or (value == -1.0 and self.uncertain == "zeros")

    def positives(self, study: Study, columns: tuple[str, ...] = FINDINGS) -> list[str]:
        return [c for c in columns if self.present(study, c)]

    def absents(self, study: Study, columns: tuple[str, ...] = FINDINGS) -> list[str]:
        return [c for c in columns if self.absent(study, c)]
