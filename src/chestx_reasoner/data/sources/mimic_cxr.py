"""MIMIC-CXR-JPG 2.0.0 images and labels with the MIMIC-CXR 2.0.0 reports.

    ROOT/mimic-cxr-2.0.0-metadata.csv[.gz]    dicom_id, subject_id, study_id, ViewPosition,
                                              StudyDate, StudyTime, ...
    ROOT/mimic-cxr-2.0.0-chexpert.csv[.gz]    subject_id, study_id, 14 label columns
    ROOT/mimic-cxr-2.0.0-split.csv[.gz]       dicom_id, study_id, subject_id, split (optional)
    ROOT/files/pNN/pNNNNNNNN/sNNNNNNNN/<dicom_id>.jpg
    REPORTS/files/pNN/pNNNNNNNN/sNNNNNNNN.txt  (REPORTS defaults to ROOT)

`labels="negbio"` reads mimic-cxr-2.0.0-negbio.csv instead. A patient's prior study is the
one before it by StudyDate/StudyTime. The synthetic cohort is written in this very layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from chestx_reasoner.data.sources.base import (
    SOURCES,
    DatasetError,
    SourceAdapter,
    find_file,
    parse_label,
    read_table,
    read_text,
)
from chestx_reasoner.data.study import Study, StudyImage
from chestx_reasoner.reports.sections import ReportError, parse_sections
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

METADATA = "mimic-cxr-2.0.0-metadata.csv"
LABEL_FILES = {"chexpert": "mimic-cxr-2.0.0-chexpert.csv", "negbio": "mimic-cxr-2.0.0-negbio.csv"}
SPLIT = "mimic-cxr-2.0.0-split.csv"


def study_folder(subject_id: str, study_id: str) -> Path:
    """files/p10/p10000032/s50414267 for subject 10000032, study 50414267."""
    return Path("files") / f"p{subject_id[:2]}" / f"p{subject_id}" / f"s{study_id}"


def report_sections(text: str) -> dict[str, str]:
    """Section name -> text (the first of each name), {} for an unusable report."""
    try:
        sections = parse_sections(text)
    except ReportError:
        return {}
    out: dict[str, str] = {}
    for section in sections:
        out.setdefault(section.name, " ".join(section.text.split()))
    return out


def _iso_datetime(path: Path, line: int, date: str, time: str) -> str:
    """StudyDate 21800506 + StudyTime 84345.0 (float, leading zeros lost) -> ISO."""
    try:
        day = f"{int(float(date)):08d}"
        clock = f"{int(float(time or 0)):06d}"
    except ValueError:
        raise DatasetError(f"{path}:{line}: column 'StudyDate'/'StudyTime': "
                           f"{date!r} {time!r} is not a date and time") from None
    return f"{day[:4]}-{day[4:6]}-{day[6:]}T{clock[:2]}:{clock[2:4]}:{clock[4:]}"


@SOURCES.register("mimic-cxr")
class MimicCxrJpg(SourceAdapter):
    """MIMIC-CXR-JPG + reports: one Study per study_id (see the module docstring for layout)."""

    name = "mimic-cxr"
    study_ids = "mimic-cxr"  # MS-CXR-T inherits these: its studies are MIMIC-CXR studies

    def __init__(self, root: str | Path, reports_root: str | Path | None = None,
                 labels: str = "chexpert") -> None:
        super().__init__(root)
        if labels not in LABEL_FILES:
            raise DatasetError(f"unknown MIMIC-CXR label file {labels!r}; "
                               f"choose from {sorted(LABEL_FILES)}")
        self.reports_root = Path(reports_root) if reports_root else self.root
        self.label_file = LABEL_FILES[labels]

    def read(self) -> Iterator[Study]:
        studies = self._studies_from_metadata()
        self._add_labels(studies)
        self._add_splits(studies)
        by_subject: dict[str, list[Study]] = {}
        for study in studies.values():
            by_subject.setdefault(study.patient_id, []).append(study)
        for subject_studies in by_subject.values():
            subject_studies.sort(key=lambda s: (s.date or "", s.study_id))
            prior: Study | None = None
            for study in subject_studies:
                folder = study_folder(study.patient_id, study.study_id)
                study.report = read_text(self.reports_root / folder.with_suffix(".txt"))
                study.sections = report_sections(study.report)
                if prior is not None:
                    study.prior_study_id = prior.study_id
                    study.prior_image = prior.frontal_image()
                    study.prior_report = prior.report
                prior = study
                yield study

    def _studies_from_metadata(self) -> dict[str, Study]:
        path = find_file(self.root, METADATA)
        studies: dict[str, Study] = {}
        for line, row in read_table(path, ("dicom_id", "subject_id", "study_id",
                                           "ViewPosition", "StudyDate", "StudyTime")):
            subject, study_id = row["subject_id"].strip(), row["study_id"].strip()
            if not (subject.isdigit() and study_id.isdigit()):
                raise DatasetError(f"{path}:{line}: column 'subject_id'/'study_id': "
                                   f"{subject!r}/{study_id!r} are not numeric ids")
            image = StudyImage(
                path=self.root / study_folder(subject, study_id) / f"{row['dicom_id']}.jpg",
                view=row["ViewPosition"].strip().upper() or None, image_id=row["dicom_id"])
            study = studies.get(study_id)
            if study is None:
                study = studies[study_id] = Study(
                    source=self.name, patient_id=subject, study_id=study_id, images=[],
                    date=_iso_datetime(path, line, row["StudyDate"], row["StudyTime"]))
            study.images.append(image)
        return studies

    def _add_labels(self, studies: dict[str, Study]) -> None:
        path = find_file(self.root, self.label_file)
        for line, row in read_table(path, ("subject_id", "study_id", *CHEXPERT_OBSERVATIONS)):
            study = studies.get(row["study_id"].strip())
            if study is not None:
                study.labels = {c: parse_label(path, line, c, row[c])
                                for c in CHEXPERT_OBSERVATIONS}

    def _add_splits(self, studies: dict[str, Study]) -> None:
        try:
            path = find_file(self.root, SPLIT)
        except DatasetError:
            return  # the split file is optional: builders then split by patient themselves
        for line, row in read_table(path, ("dicom_id", "study_id", "subject_id", "split")):
            split = row["split"].strip()
            if split not in ("train", "validate", "test"):
                raise DatasetError(f"{path}:{line}: column 'split': {split!r} is not "
                                   "train, validate or test")
            study = studies.get(row["study_id"].strip())
            if study is not None:
                study.split = split
