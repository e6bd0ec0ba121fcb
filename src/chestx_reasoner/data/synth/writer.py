"""Write a synthetic cohort to disk in the MIMIC-CXR-JPG 2.0.0 layout (plus MS-CXR-T pairs).

    DIR/files/p1N/p1NNNNNNN/s5NNNNNNN/<dicom_id>.jpg      images
    DIR/files/p1N/p1NNNNNNN/s5NNNNNNN.txt                 reports (MIMIC-CXR text layout)
    DIR/mimic-cxr-2.0.0-metadata.csv                      one row per image
    DIR/mimic-cxr-2.0.0-chexpert.csv                      one row per study, 14 columns
    DIR/mimic-cxr-2.0.0-split.csv                         train | validate | test, by patient
    DIR/MS_CXR_T_temporal_image_classification_v1.0.0.csv prior/current pairs, progression
    DIR/chestx-synth-truth.jsonl                          what each image shows (for checks)
    DIR/chestx-synth.json                                 manifest: version, seed, settings

Resumable: images are written atomically one by one and a rerun with the same settings skips
the ones on disk (every study has its own random stream, so order does not matter); tables and
the manifest's `complete` flag are written last.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chestx_reasoner.data.synth.cohort import (
    GENERATOR_VERSION,
    MIMIC_PREVALENCE,
    NORMAL_SHARE,
    PROGRESSION_FINDINGS,
    StudyPlan,
    plan_fingerprint,
    sample_cohort,
    study_rng,
)
from chestx_reasoner.data.synth.reports import SynthReport, state_summary, write_report
from chestx_reasoner.data.synth.spec import Anatomy, VisibleFinding
from chestx_reasoner.jsonl import write_atomic

METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv"
SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
MS_CXR_T_CSV = "MS_CXR_T_temporal_image_classification_v1.0.0.csv"
TRUTH_JSONL = "chestx-synth-truth.jsonl"
MANIFEST = "chestx-synth.json"
# mimic-cxr-2.0.0-chexpert.csv column order (alphabetical, as released).
CHEXPERT_COLUMNS = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
    "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other",
    "Pneumonia", "Pneumothorax", "Support Devices",
)
METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition",
    "Rows", "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning",
)


class CohortExistsError(ValueError):
    """The output folder holds a different cohort: refuse to mix two into one."""


@dataclass(frozen=True, slots=True)
class SynthConfig:
    n: int = 2000
    seed: int = 0
    size: int = 256
    prevalence: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: dict(MIMIC_PREVALENCE))
    normal_share: float = NORMAL_SHARE
    jpeg_quality: int = 90

    @property
    def fingerprint(self) -> str:
        return plan_fingerprint(self.n, self.seed, self.size, self.prevalence, self.normal_share)


@dataclass(slots=True)
class SynthSummary:
    out: Path
    studies: int
    patients: int
    images_written: int
    images_skipped: int
    pairs: int
    label_counts: dict[str, dict[str, int]]  # column -> {"1.0": n, "-1.0": n, "0.0": n, "": n}


def study_dir(root: Path, study: StudyPlan) -> Path:
    subject = f"p{study.subject_id}"
    return root / "files" / subject[:3] / subject / f"s{study.study_id}"


def image_path(root: Path, study: StudyPlan) -> Path:
    return study_dir(root, study) / f"{study.dicom_id}.jpg"


def report_path(root: Path, study: StudyPlan) -> Path:
    return study_dir(root, study).with_suffix(".txt")


def _image_complete(path: Path) -> bool:
    """A finished JPEG ends with the EOI marker; a torn one (power cut) does not."""
    try:
        with open(path, "rb") as handle:
            handle.seek(-2, 2)
            return handle.read(2) == b"\xff\xd9"
    except OSError:
        return False


def _render_job(job: tuple[str, Anatomy, list[VisibleFinding], int, int, int, int]) -> str:
    from chestx_reasoner.data.synth.images import encode_jpeg, render_radiograph

    path, anatomy, visible, size, seed, index, quality = job
    pixels = render_radiograph(anatomy, visible, size=size, rng=study_rng(seed, 4, index))
    write_atomic(path, encode_jpeg(pixels, quality=quality), durable=False)
    return path


def _check_manifest(out: Path, config: SynthConfig, overwrite: bool) -> None:
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            previous = json.loads(manifest.read_text())
        except (OSError, ValueError) as error:
            raise CohortExistsError(f"{manifest}: unreadable manifest ({error})") from error
        if previous.get("fingerprint") != config.fingerprint and not overwrite:
            raise CohortExistsError(
                f"{out} holds another synthetic cohort (n={previous.get('n')}, "
                f"seed={previous.get('seed')}, size={previous.get('size')}); "
                "choose another --out or pass --overwrite")
    elif (out / "files").exists() and any((out / "files").iterdir()) and not overwrite:
        raise CohortExistsError(f"{out}/files exists and is not a synthetic cohort of ours; "
                                "choose another --out or pass --overwrite")


def _manifest(config: SynthConfig, complete: bool, **extra: Any) -> str:
    record = {
        "generator": "chestx-reasoner synth", "generator_version": GENERATOR_VERSION,
        "fingerprint": config.fingerprint, "n": config.n, "seed": config.seed,
        "size": config.size, "normal_share": config.normal_share,
        "prevalence": {k: list(v) for k, v in config.prevalence.items()},
        "complete": complete, **extra,
    }
    return json.dumps(record, indent=2) + "\n"


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _label_text(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def plan_reports(config: SynthConfig) -> Iterator[tuple[StudyPlan, SynthReport]]:
    """The cohort's studies with their reports, without images: cheap, for checks and tests."""
    for study in sample_cohort(config.n, config.seed, config.prevalence, config.normal_share):
        yield study, write_report(study, study_rng(config.seed, 3, study.index),
                                  config.prevalence)


def synthesize(out: str | Path, config: SynthConfig, *, overwrite: bool = False,
               workers: int = 1, progress: Callable[[int], None] | None = None) -> SynthSummary:
    """Generate the cohort into `out` (resuming a previous run with the same settings)."""
    out = Path(out)
    _check_manifest(out, config, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / MANIFEST, _manifest(config, complete=False))
    planned = list(plan_reports(config))
    jobs, skipped = [], 0
    for study, report in planned:
        text_path = report_path(out, study)
        if not text_path.exists() or text_path.read_text() != report.text:
            write_atomic(text_path, report.text, durable=False)
        path = image_path(out, study)
        if _image_complete(path):
            skipped += 1
            if progress:
                progress(1)
            continue
        jobs.append((str(path), study.anatomy, study.visible(), config.size, config.seed,
                     study.index, config.jpeg_quality))
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for _ in pool.imap_unordered(_render_job, jobs, chunksize=8):
                if progress:
                    progress(1)
    else:
        for job in jobs:
            _render_job(job)
            if progress:
                progress(1)
    pairs = _write_tables(out, config, planned)
    counts = {c: {"1.0": 0, "-1.0": 0, "0.0": 0, "": 0} for c in CHEXPERT_COLUMNS}
    for _, report in planned:
        for column in CHEXPERT_COLUMNS:
            counts[column][_label_text(report.labels[column])] += 1
    summary = SynthSummary(out=out, studies=len(planned),
                           patients=len({s.subject_id for s, _ in planned}),
                           images_written=len(jobs), images_skipped=skipped, pairs=pairs,
                           label_counts=counts)
    write_atomic(out / MANIFEST, _manifest(config, complete=True, studies=summary.studies,
                                           patients=summary.patients, pairs=pairs))
    return summary


def _write_tables(out: Path, config: SynthConfig,
                  planned: list[tuple[StudyPlan, SynthReport]]) -> int:
    metadata, chexpert, split, pairs, truth = [], [], [], [], []
    for study, report in planned:
        portable = study.view == "AP"
        procedure = "CHEST (PORTABLE AP)" if portable else "CHEST (PA AND LAT)"
        metadata.append({
            "dicom_id": study.dicom_id, "subject_id": study.subject_id,
            "study_id": study.study_id, "PerformedProcedureStepDescription": procedure,
            "ViewPosition": study.view, "Rows": config.size, "Columns": config.size,
            "StudyDate": study.when.strftime("%Y%m%d"),
            "StudyTime": f"{study.when.strftime('%H%M%S')}.{study.index % 1000:03d}",
            "ProcedureCodeSequence_CodeMeaning": procedure,
            "ViewCodeSequence_CodeMeaning": "antero-posterior" if portable else "postero-anterior",
            "PatientOrientationCodeSequence_CodeMeaning": "Recumbent" if portable else "Erect",
        })
        chexpert.append({"subject_id": study.subject_id, "study_id": study.study_id,
                         **{c: _label_text(report.labels[c]) for c in CHEXPERT_COLUMNS}})
        split.append({"dicom_id": study.dicom_id, "study_id": study.study_id,
                      "subject_id": study.subject_id, "split": study.split})
        if study.prior is not None and study.progression:
            pairs.append({
                "dicom_id": study.dicom_id, "previous_dicom_id": study.prior.dicom_id,
                "subject_id": study.subject_id, "study_id": study.study_id,
                "previous_study_id": study.prior.study_id,
                **{f"{column}_progression": study.progression.get(obs, "")
                   for obs, column in PROGRESSION_FINDINGS.items()},
            })
        truth.append(json.dumps({
            "subject_id": study.subject_id, "study_id": study.study_id,
            "dicom_id": study.dicom_id, "split": study.split, "view": study.view,
            "visit": study.visit,
            "prior_study_id": study.prior.study_id if study.prior else None,
            "image": str(image_path(Path("."), study)), "report": str(report_path(Path("."),
                                                                                   study)),
            "label_section": report.label_section,
            "labels": {c: report.labels[c] for c in CHEXPERT_COLUMNS},
            "findings": [state_summary(s) for s in study.findings.values()],
            "progression": study.progression,
        }))
    pair_columns = ("dicom_id", "previous_dicom_id", "subject_id", "study_id",
                    "previous_study_id",
                    *(f"{c}_progression" for c in PROGRESSION_FINDINGS.values()))
    write_atomic(out / METADATA_CSV, _csv_text(METADATA_COLUMNS, metadata))
    write_atomic(out / CHEXPERT_CSV, _csv_text(("subject_id", "study_id", *CHEXPERT_COLUMNS),
                                               chexpert))
    write_atomic(out / SPLIT_CSV, _csv_text(("dicom_id", "study_id", "subject_id", "split"),
                                            split))
    write_atomic(out / MS_CXR_T_CSV, _csv_text(pair_columns, pairs))
    write_atomic(out / TRUTH_JSONL, "\n".join(truth) + "\n")
    return len(pairs)
