"""MIMIC-CXR-JPG, MS-CXR-T and synthetic adapters on fixture files in their native layout."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from chestx_reasoner.data.sources import SOURCES, DatasetError
from chestx_reasoner.data.sources.mimic_cxr import MimicCxrJpg
from chestx_reasoner.data.sources.ms_cxr_t import PAIRS_CSV, MsCxrT
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

META_COLUMNS = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription",
                "ViewPosition", "Rows", "Columns", "StudyDate", "StudyTime"]
REPORT = "FINDINGS: Small left pleural effusion.\n\nIMPRESSION: Small left effusion.\n"


def _write_csv(path: Path, columns: list[str], rows: list[dict], gz: bool = False) -> None:
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def make_mimic(root: Path, gz: bool = True) -> Path:
    """Three patients: one with two studies (PA+lateral, then AP), one lateral-only, one
    without a report."""
    images = [  # dicom, subject, study, view, date, time
        ("d1", "10000001", "50000001", "PA", "21800101", "84345.0"),
        ("d2", "10000001", "50000001", "LATERAL", "21800101", "84345.0"),
        ("d3", "10000001", "50000002", "AP", "21800301", "120000.5"),
        ("d4", "10000002", "50000003", "LATERAL", "21810101", "1.0"),
        ("d5", "11000003", "50000004", "PA", "21820101", "235959.0"),
    ]
    rows = [dict(zip(META_COLUMNS, (d, s, st, "CHEST", v, 10, 10, dt, tm), strict=True))
            for d, s, st, v, dt, tm in images]
    suffix = ".gz" if gz else ""
    _write_csv(root / f"mimic-cxr-2.0.0-metadata.csv{suffix}", META_COLUMNS, rows, gz)
    label_columns = ["subject_id", "study_id", *sorted(CHEXPERT_OBSERVATIONS)]
    labels = [{"subject_id": "10000001", "study_id": "50000001", "Pleural Effusion": "1.0",
               "Pneumothorax": "0.0", "Edema": "-1.0"},
              {"subject_id": "10000001", "study_id": "50000002", "No Finding": "1.0"}]
    _write_csv(root / f"mimic-cxr-2.0.0-chexpert.csv{suffix}", label_columns, labels, gz)
    _write_csv(root / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id", "subject_id",
                                                     "split"],
               [{"dicom_id": d, "study_id": st, "subject_id": s,
                 "split": "test" if s == "10000001" else "train"}
                for d, s, st, *_ in images])
    for d, s, st, *_ in images:
        folder = root / "files" / f"p{s[:2]}" / f"p{s}" / f"s{st}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{d}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
        if st != "50000004":
            folder.with_suffix(".txt").write_text(REPORT)
    return root


def test_studies_views_labels_priors_and_skips(tmp_path: Path) -> None:
    adapter = MimicCxrJpg(make_mimic(tmp_path))
    studies = {s.study_id: s for s in adapter.studies()}
    assert set(studies) == {"50000001", "50000002"}
    assert adapter.skipped == {"no frontal image": 1, "empty or missing report": 1}
    first, second = studies["50000001"], studies["50000002"]
    assert [i.view for i in first.images] == ["PA", "LATERAL"]
    assert first.frontal_image().image_id == "d1" and first.frontal_image().path.exists()
    assert first.labels["Pleural Effusion"] == 1.0 and first.labels["Edema"] == -1.0
    assert first.labels["Atelectasis"] is None and set(first.labels) == set(CHEXPERT_OBSERVATIONS)
    assert first.date == "2180-01-01T08:43:45" and first.split == "test"
    assert first.sections["impression"] == "Small left effusion."
    assert first.prior_study_id is None
    assert second.prior_study_id == "50000001" and second.prior_image.image_id == "d1"
    assert second.prior_report == REPORT and second.labels["No Finding"] == 1.0


def test_plain_and_gzipped_tables_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = list(MimicCxrJpg(make_mimic(tmp_path / "a", gz=False)).studies())
    gz = list(MimicCxrJpg(make_mimic(tmp_path / "b", gz=True)).studies())
    assert len(plain) == 2
    assert [(s.study_id, s.labels) for s in plain] == [(s.study_id, s.labels) for s in gz]


@pytest.mark.parametrize(("damage", "message"), [
    (lambda r: (r / "mimic-cxr-2.0.0-metadata.csv.gz").unlink(),
     "mimic-cxr-2.0.0-metadata.csv: missing"),
    (lambda r: _write_csv(r / "mimic-cxr-2.0.0-chexpert.csv.gz", ["subject_id", "study_id"],
                          [], gz=True),
     "mimic-cxr-2.0.0-chexpert.csv.gz:1: missing column 'No Finding'"),
    (lambda r: _write_csv(r / "mimic-cxr-2.0.0-chexpert.csv.gz",
                          ["subject_id", "study_id", *CHEXPERT_OBSERVATIONS],
                          [{"subject_id": "10000001", "study_id": "50000001", "Edema": "yes"}],
                          gz=True),
     "mimic-cxr-2.0.0-chexpert.csv.gz:2: column 'Edema': 'yes' is not a label"),
    (lambda r: _write_csv(r / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id",
                                                            "subject_id", "split"],
                          [{"dicom_id": "d1", "study_id": "50000001", "subject_id": "1",
                            "split": "dev"}]),
     "mimic-cxr-2.0.0-split.csv:2: column 'split': 'dev'"),
])
def test_bad_files_fail_in_one_line_naming_file_line_and_column(tmp_path, damage, message):
    root = make_mimic(tmp_path)
    damage(root)
    with pytest.raises(DatasetError) as error:
        list(MimicCxrJpg(root).studies())
    assert message in str(error.value) and "\n" not in str(error.value)


def _pairs(root: Path, rows: list[dict]) -> None:
    columns = ["dicom_id", "previous_dicom_id", "subject_id", "study_id", "previous_study_id",
               "consolidation_progression", "edema_progression",
               "pleural_effusion_progression", "pneumonia_progression",
               "pneumothorax_progression"]
    _write_csv(root / PAIRS_CSV, columns, rows)


def test_ms_cxr_t_pairs_give_prior_image_report_and_progression(tmp_path: Path) -> None:
    root = make_mimic(tmp_path)
    _pairs(root, [{"dicom_id": "d3", "previous_dicom_id": "d1",
                   "pleural_effusion_progression": "improving", "edema_progression": "0"},
                  {"dicom_id": "missing", "previous_dicom_id": "d1",
                   "edema_progression": "stable"}])
    adapter = MsCxrT(root)
    (study,) = list(adapter.studies())
    assert study.study_id == "50000002" and [i.image_id for i in study.images] == ["d3"]
    assert study.prior_image.image_id == "d1" and study.prior_report == REPORT
    assert study.progression == {"Pleural Effusion": "improving", "Edema": "stable"}
    assert adapter.skipped["pair image not in the MIMIC-CXR-JPG metadata"] == 1


def test_ms_cxr_t_bad_progression_value(tmp_path: Path) -> None:
    root = make_mimic(tmp_path)
    _pairs(root, [{"dicom_id": "d3", "previous_dicom_id": "d1", "edema_progression": "better"}])
    with pytest.raises(DatasetError, match=r"MS_CXR_T.*\.csv:2: column 'edema_progression'"):
        list(MsCxrT(root).studies())


def test_synthetic_is_mimic_with_progression(tmp_path: Path) -> None:
    root = make_mimic(tmp_path)
    _pairs(root, [{"dicom_id": "d3", "previous_dicom_id": "d1",
                   "pneumothorax_progression": "worsening"}])
    studies = {s.study_id: s for s in SOURCES.get("synthetic")(root).studies()}
    assert studies["50000002"].progression == {"Pneumothorax": "worsening"}
    assert studies["50000002"].source == "synthetic"
    mimic = {s.study_id: s for s in SOURCES.get("mimic-cxr")(root).studies()}
    assert mimic["50000002"].progression == {}


def test_unknown_source_names_suggest_the_closest() -> None:
    with pytest.raises(KeyError, match="did you mean 'mimic-cxr'"):
        SOURCES.get("mimic-cx")


def test_missing_root_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        MimicCxrJpg(tmp_path / "nope")
