"""The cohort on disk: MIMIC-CXR-JPG layout and tables, determinism, resume, and the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.data.synth import SynthConfig, settings_for, synthesize
from chestx_reasoner.data.synth.writer import (
    CHEXPERT_COLUMNS,
    CHEXPERT_CSV,
    MANIFEST,
    METADATA_COLUMNS,
    METADATA_CSV,
    MS_CXR_T_CSV,
    SPLIT_CSV,
    TRUTH_JSONL,
    CohortExistsError,
)

runner = CliRunner()
SMALL = SynthConfig(n=40, seed=5, size=64)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    synthesize(root, SMALL)
    return root


def test_layout_and_file_names_are_mimic_cxr_jpg(cohort: Path) -> None:
    metadata = _rows(cohort / METADATA_CSV)
    assert tuple(metadata[0]) == METADATA_COLUMNS
    assert len(metadata) == SMALL.n
    for row in metadata:
        subject, study = row["subject_id"], row["study_id"]
        folder = cohort / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        image = folder / f"{row['dicom_id']}.jpg"
        with Image.open(image) as im:
            assert im.format == "JPEG" and im.mode == "L" and im.size == (64, 64)
        assert (int(row["Rows"]), int(row["Columns"])) == (64, 64)
        assert row["ViewPosition"] in ("PA", "AP")
        assert re.fullmatch(r"21\d{6}", row["StudyDate"])
        report = folder.with_suffix(".txt").read_text()
        assert "FINDINGS:" in report
    files = list((cohort / "files").rglob("*"))
    assert not [p for p in files if p.name.startswith(".")]  # no temp files left behind


def test_chexpert_split_and_pair_tables(cohort: Path) -> None:
    chexpert = _rows(cohort / CHEXPERT_CSV)
    assert tuple(chexpert[0]) == ("subject_id", "study_id", *CHEXPERT_COLUMNS)
    values = {row[c] for row in chexpert for c in CHEXPERT_COLUMNS}
    assert values <= {"1.0", "0.0", "-1.0", ""} and {"1.0", ""} <= values
    split = _rows(cohort / SPLIT_CSV)
    assert tuple(split[0]) == ("dicom_id", "study_id", "subject_id", "split")
    by_subject: dict[str, set[str]] = {}
    for row in split:
        by_subject.setdefault(row["subject_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in by_subject.values())
    pairs = _rows(cohort / MS_CXR_T_CSV)
    dicoms = {row["dicom_id"]: row for row in _rows(cohort / METADATA_CSV)}
    assert pairs, "a 40-study cohort has follow-up pairs"
    for pair in pairs:
        current, prior = dicoms[pair["dicom_id"]], dicoms[pair["previous_dicom_id"]]
        assert current["subject_id"] == prior["subject_id"] == pair["subject_id"]
        assert prior["StudyDate"] <= current["StudyDate"]
        progressions = [v for k, v in pair.items() if k.endswith("_progression") and v]
        assert progressions and set(progressions) <= {"improving", "stable", "worsening"}


def test_truth_file_matches_the_tables(cohort: Path) -> None:
    truth = [json.loads(line) for line in (cohort / TRUTH_JSONL).read_text().splitlines()]
    chexpert = {row["study_id"]: row for row in _rows(cohort / CHEXPERT_CSV)}
    for record in truth:
        row = chexpert[str(record["study_id"])]
        for column, value in record["labels"].items():
            assert row[column] == ("" if value is None else f"{value:.1f}")
        assert (cohort / record["image"]).exists() and (cohort / record["report"]).exists()
    manifest = json.loads((cohort / MANIFEST).read_text())
    assert manifest["complete"] is True and manifest["studies"] == SMALL.n


def test_same_settings_same_bytes(cohort: Path, tmp_path: Path) -> None:
    synthesize(tmp_path, SMALL)
    assert _digests(tmp_path) == _digests(cohort)


def test_rerun_resumes_missing_and_torn_images(cohort: Path, tmp_path: Path) -> None:
    synthesize(tmp_path, SMALL)
    images = sorted((tmp_path / "files").rglob("*.jpg"))
    images[0].unlink()
    images[1].write_bytes(images[1].read_bytes()[:100])  # a torn write
    summary = synthesize(tmp_path, SMALL)
    assert (summary.images_written, summary.images_skipped) == (2, SMALL.n - 2)
    assert _digests(tmp_path) == _digests(cohort)


def test_a_different_cohort_is_not_mixed_in(cohort: Path) -> None:
    with pytest.raises(CohortExistsError, match="another synthetic cohort"):
        synthesize(cohort, SynthConfig(n=41, seed=5, size=64))


def test_settings_default_to_the_folders_own(cohort: Path, tmp_path: Path) -> None:
    assert settings_for(cohort).fingerprint == SMALL.fingerprint
    assert (settings_for(tmp_path).n, settings_for(tmp_path).size) == (2000, 256)


def test_parallel_workers_write_the_same_images(cohort: Path, tmp_path: Path) -> None:
    synthesize(tmp_path, SMALL, workers=2)
    assert _digests(tmp_path) == _digests(cohort)


def test_cli_synth_with_preview(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    result = runner.invoke(app, ["synth", "--out", str(out), "--n", "12", "--seed", "1",
                                 "--size", "64", "--preview", "6"])
    assert result.exit_code == 0, result.output
    assert "12 studies" in result.stderr and "label shares" in result.stderr
    with Image.open(out / "preview.png") as sheet:
        assert sheet.format == "PNG" and sheet.width >= 6 * 64
    # Only --out: the existing cohort is reused as it is, nothing rendered again.
    again = runner.invoke(app, ["synth", "--out", str(out), "--preview", "3",
                                "--preview-out", str(tmp_path / "three.png")])
    assert again.exit_code == 0, again.output
    assert "0 images written, 12 already there" in again.stderr
    assert (tmp_path / "three.png").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--prevalence", "Edma=0.2"], "did you mean 'Edema'"),
    (["--prevalence", "Edema"], "expected LABEL=POS"),
])
def test_cli_synth_bad_options_fail_in_one_line(tmp_path: Path, args: list[str],
                                                message: str) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "c"), "--n", "3", *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_synth_refuses_to_mix_cohorts(cohort: Path) -> None:
    result = runner.invoke(app, ["synth", "--out", str(cohort), "--n", "7"])
    assert result.exit_code == 2 and "--overwrite" in result.stderr


def test_cli_synth_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "files" / "p10").mkdir(parents=True)
    result = runner.invoke(app, ["synth", "--out", str(tmp_path), "--n", "3"])
    assert result.exit_code == 2 and "not a synthetic cohort" in result.stderr
    assert os.listdir(tmp_path) == ["files"]
