"""CheXpert Plus (Stanford AIMI, 2024): CheXpert images with their reports, sections and labels.

    ROOT/df_chexpert_plus_240401.csv[.gz]   one row per image (223,462): path_to_image
        (train/patient42142/study5/view1_frontal.jpg), path_to_dcm, frontal_lateral (Frontal |
        Lateral), ap_pa (AP | PA | LL | RL, empty on laterals), deid_patient_id,
        patient_report_date_order (the patient's report order, 1, 2, …), report, section_narrative,
        section_clinical_history, section_history, section_comparison, section_technique,
        section_procedure_comments, section_findings, section_impression,
        section_end_of_impression, section_summary, section_accession_number, age, sex, race,
        ethnicity, interpreter_needed, insurance_type, recent_bmi, deceased, split (train | valid)
    ROOT/chexbert_labels/impression_fixed.json   JSON lines, one per image, keyed by
        path_to_image, the 14 CheXpert columns as 1.0 / 0.0 / -1.0 / null (or left out);
        findings_fixed.json and report_fixed.json label the other scopes. Also looked for
        under ROOT/labels/ and ROOT/ (copies differ), each also as .gz.
    Images: the first of these that exists, for P = path_to_image and P.png = P with .png:
        ROOT/P, ROOT/PNG/P.png (the PNG archives), ROOT/PNG/PNG/P.png (archives unzipped into
        their own PNG folder), ROOT/P.png, then ROOT/<path_to_dcm>, ROOT/DICOM/<path_to_dcm>;
        ROOT/P when none does (the benchmark builder then drops the items of that image).

Evidence: the Stanford-AIMI/chexpert-plus README (df_chexpert_plus_240401.csv,
section_findings), public schema audits listing the 27 columns, the value sets and the
chexbert_labels/{impression,findings,report}_fixed.json files joined one-to-one on
path_to_image, and archive listings mapping train/…/view1_frontal.jpg to
PNG/train/…/view1_frontal.png.

One Study per study folder (study id "patient42142_study5", patient id deid_patient_id). Views:
ap_pa upper-cased on frontal images ("FRONTAL" where it is empty or not a frontal view name, as
LL/RL on 17 images), "LATERAL" on laterals. Prior: the patient's previous study by
patient_report_date_order (an ordinal, not a date: `date` stays None), ties by study number.
Sections: the section_* columns (name without "section_", accession number left out). Report:
"FINDINGS: …\\n\\nIMPRESSION: …" from section_findings/section_impression (MIMIC-style), or the
`report` column where both are empty. Split: train -> train, valid -> validate. Labels: the
label file of `labels` scope, from the study's frontal image (else its first labelled image);
when that file is missing, or with labels="labeler", our `ReportLabeler` (impression scope)
labels the report instead, and `label_source` says which was used.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chestx_reasoner.data.sources.base import (
    SOURCES,
    DatasetError,
    SourceAdapter,
    find_file,
    parse_label,
    read_table,
)
from chestx_reasoner.data.sources.openi import assemble_report, label_reports
from chestx_reasoner.data.study import FRONTAL_VIEWS, Study, StudyImage
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

if TYPE_CHECKING:
    from chestx_reasoner.reports.labeler import ReportLabeler

log = logging.getLogger(__name__)

MAIN_CSV = "df_chexpert_plus_240401.csv"
LABEL_SCOPES = ("impression", "findings", "report")
LABEL_FOLDERS = ("chexbert_labels", "labels", ".")
REQUIRED = ("path_to_image", "frontal_lateral", "ap_pa", "deid_patient_id",
            "patient_report_date_order", "section_findings", "section_impression")
SECTION_COLUMNS = ("section_findings", "section_impression", "section_narrative",
                   "section_clinical_history", "section_history", "section_comparison",
                   "section_technique", "section_procedure_comments",
                   "section_end_of_impression", "section_summary")
SPLITS = {"train": "train", "valid": "validate", "validate": "validate", "test": "test"}


def read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a JSON-lines file (or .gz), blank lines skipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise DatasetError(f"{path}:{number}: not JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise DatasetError(f"{path}:{number}: not a JSON object (one per line)")
                yield number, record
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as error:
        raise DatasetError(f"{path}: unreadable ({error})") from error


def _view(path: Path, line: int, row: dict[str, str]) -> str:
    kind = row["frontal_lateral"].strip().lower()
    if kind == "frontal":
        ap_pa = row["ap_pa"].strip().upper()
        return ap_pa if ap_pa in FRONTAL_VIEWS else "FRONTAL"
    if kind == "lateral":
        return "LATERAL"
    raise DatasetError(f"{path}:{line}: column 'frontal_lateral': {row['frontal_lateral']!r} "
                       "is not Frontal or Lateral")


def _order(path: Path, line: int, text: str) -> float:
    """patient_report_date_order as a number (pandas writes 3 or 3.0); empty sorts last."""
    text = text.strip()
    if not text:
        return float("inf")
    try:
        return float(int(float(text)))
    except ValueError:
        raise DatasetError(f"{path}:{line}: column 'patient_report_date_order': {text!r} is "
                           "not a whole number") from None


def _split(path: Path, line: int, text: str | None) -> str | None:
    text = (text or "").strip().lower()
    if text and text not in SPLITS:
        raise DatasetError(f"{path}:{line}: column 'split': {text!r} is not train or valid")
    return SPLITS.get(text)


def _study_number(folder: str) -> int:
    digits = "".join(c for c in folder if c.isdigit())
    return int(digits) if digits else 0


def _cell(value: object) -> str | None:
    """A JSON label value as the text `parse_label` reads (null -> None)."""
    return None if value is None else str(value)


@SOURCES.register("chexpert-plus")
class ChexpertPlus(SourceAdapter):
    """CheXpert Plus: one Study per patient study folder (see the module docstring for layout).

    Args:
        root: the release folder.
        labels: "impression" (default), "findings" or "report": which CheXbert label file;
            "labeler": label the reports with our ReportLabeler even where a file is present.
        table: the main CSV's name (a renamed copy or subset).
        labeler: the ReportLabeler used when labelling reports (default: impression scope).
    """

    name = "chexpert-plus"

    def __init__(self, root: str | Path, labels: str = "impression", table: str = MAIN_CSV,
                 labeler: ReportLabeler | None = None) -> None:
        super().__init__(root)
        if labels not in (*LABEL_SCOPES, "labeler"):
            raise DatasetError(f"unknown CheXpert Plus labels {labels!r}; choose from "
                               f"{', '.join((*LABEL_SCOPES, 'labeler'))}")
        self.labels, self.table, self.labeler = labels, table, labeler
        self.label_source: str | None = None  # after read(): the label file, or "ReportLabeler"
        self._variant = 0  # the image-path variant that matched last: tried first next time
        self._root_text = str(self.root)

    def read(self) -> Iterator[Study]:
        studies, images, order = self._studies_from_table()
        self._add_labels(studies, images)
        by_patient: dict[str, list[Study]] = {}
        for study in studies.values():
            by_patient.setdefault(study.patient_id, []).append(study)
        for patient_studies in by_patient.values():
            patient_studies.sort(key=lambda s: order[s.study_id])
            prior: Study | None = None
            for study in patient_studies:
                if prior is not None:
                    study.prior_study_id = prior.study_id
                    study.prior_image = prior.frontal_image()
                    study.prior_report = prior.report
                prior = study
                yield study

    def _studies_from_table(self) -> tuple[dict[str, Study], dict[str, tuple[Study, bool]],
                                           dict[str, tuple[float, int, str]]]:
        """Studies by id, path_to_image -> (study, frontal?), and each study's sort key."""
        path = find_file(self.root, self.table)
        studies: dict[str, Study] = {}
        images: dict[str, tuple[Study, bool]] = {}
        order: dict[str, tuple[float, int, str]] = {}
        for line, row in read_table(path, REQUIRED):
            relative = row["path_to_image"].strip()
            parts = relative.split("/")
            if len(parts) < 3 or not all(parts[-3:]):
                raise DatasetError(f"{path}:{line}: column 'path_to_image': {relative!r} is not "
                                   "a <patient>/<study>/<view> image path")
            study_id = f"{parts[-3]}_{parts[-2]}"
            image = StudyImage(path=self._image_path(relative, row.get("path_to_dcm") or ""),
                               view=_view(path, line, row),
                               image_id=os.path.splitext(relative)[0])
            rank = (_order(path, line, row["patient_report_date_order"]),
                    _study_number(parts[-2]), study_id)
            study = studies.get(study_id)
            if study is None:
                study = studies[study_id] = Study(
                    source=self.name, patient_id=row["deid_patient_id"].strip() or parts[-3],
                    study_id=study_id, images=[], split=_split(path, line, row.get("split")),
                    sections={c.removeprefix("section_"): " ".join(row[c].split())
                              for c in SECTION_COLUMNS if (row.get(c) or "").strip()},
                    report=assemble_report(row["section_findings"], row["section_impression"])
                    or (row.get("report") or "").strip())
                order[study_id] = rank
            else:
                order[study_id] = min(order[study_id], rank)
            study.images.append(image)
            images[relative] = (study, image.frontal)
        return studies, images, order

    def _image_path(self, relative: str, dcm: str) -> Path:
        """The first image variant that exists (plain strings and os.stat: ~200k calls)."""
        root, png = self._root_text, os.path.splitext(relative)[0] + ".png"
        candidates = [f"{root}/{relative}", f"{root}/PNG/{png}", f"{root}/PNG/PNG/{png}",
                      f"{root}/{png}"]
        if dcm := dcm.strip():
            candidates += [f"{root}/{dcm}", f"{root}/DICOM/{dcm}"]
        if self._variant < len(candidates) and os.path.exists(candidates[self._variant]):
            return Path(candidates[self._variant])
        for variant, candidate in enumerate(candidates):
            if variant != self._variant and os.path.exists(candidate):
                self._variant = variant
                return Path(candidate)
        return Path(candidates[0])

    def _label_file(self) -> Path | None:
        if self.labels == "labeler":
            return None
        for folder in LABEL_FOLDERS:
            try:
                return find_file(self.root / folder, f"{self.labels}_fixed.json")
            except DatasetError:
                continue
        return None

    def _add_labels(self, studies: dict[str, Study],
                    images: dict[str, tuple[Study, bool]]) -> None:
        path = self._label_file()
        if path is None:
            if self.labels != "labeler":
                log.warning("%s: no %s_fixed.json under %s; labelling the reports with "
                            "ReportLabeler (impression scope)", self.name, self.labels,
                            ", ".join(LABEL_FOLDERS))
            self.label_source = "ReportLabeler"
            ordered = list(studies.values())
            labels = label_reports([study.report for study in ordered], self.labeler)
            for study, study_labels in zip(ordered, labels, strict=True):
                study.labels = study_labels
            return
        self.label_source = str(path)
        from_frontal: set[str] = set()
        for line, record in read_json_lines(path):
            key = record.get("path_to_image")
            if not isinstance(key, str):
                raise DatasetError(f"{path}:{line}: column 'path_to_image': missing or not text")
            hit = images.get(key.strip())
            if hit is None:
                continue
            study, frontal = hit
            if study.study_id in from_frontal or (study.labels and not frontal):
                continue
            study.labels = {c: parse_label(path, line, c, _cell(record.get(c)))
                            for c in CHEXPERT_OBSERVATIONS}
            if frontal:
                from_frontal.add(study.study_id)
