"""RadRBench-CXR builder on a small synthetic cohort: every task family, answers that agree
with the labels, patient-level split, balance, determinism, exports and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
from chestx_reasoner.bench.sample import FINDING_NAMES, LETTERS
from chestx_reasoner.bench.stats import benchmark_stats, read_samples
from chestx_reasoner.cli import app
from chestx_reasoner.data.sources import SOURCES
from chestx_reasoner.data.synth import SynthConfig, synthesize

runner = CliRunner()
NAME_TO_COLUMN = {v: k for k, v in FINDING_NAMES.items()}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    synthesize(root, SynthConfig(n=400, seed=2, size=64))
    return root


@pytest.fixture(scope="module")
def bench(cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    build_benchmark([SourceSpec("synthetic", cohort)], out, BuildConfig(per_finding=40))
    return out


@pytest.fixture(scope="module")
def studies(cohort: Path) -> dict:
    return {s.study_id: s for s in SOURCES.get("synthetic")(cohort).studies()}


def _items(bench: Path) -> list[dict]:
    return read_samples(bench)


def test_every_task_family_in_both_splits(bench: Path) -> None:
    counts = Counter((s["task"], s["split"]) for s in _items(bench))
    for task in ("binary", "single", "multi", "multi_open", "anomaly", "temporal"):
        assert counts[(task, "train")] > 0, task
        assert counts[(task, "test")] > 0 or task == "temporal", task
    manifest = json.loads((bench / "manifest.json").read_text())
    assert manifest["version"] and manifest["seed"] == 0
    assert manifest["sources"][0]["studies"] == 400


def test_records_follow_the_sample_contract(bench: Path) -> None:
    items = _items(bench)
    assert len({s["id"] for s in items}) == len(items)
    for s in items:
        assert set(s) >= {"id", "source", "task", "split", "images", "question", "options",
                          "answer", "report", "reasoning"}
        assert s["source"] == "synthetic" and s["reasoning"] == []
        assert "Options" not in s["question"] and s["report"].strip()
        for image in s["images"]:
            assert not Path(image).is_absolute() and (bench / image).exists()
        if s["options"]:
            assert s["answer"] in LETTERS[: len(s["options"])]
            assert len(set(s["options"])) == len(s["options"])


def test_no_patient_in_two_splits(bench: Path) -> None:
    splits: dict[str, set[str]] = {}
    for s in _items(bench):
        splits.setdefault(s["patient_id"], set()).add(s["split"])
    assert splits and all(len(v) == 1 for v in splits.values())


def test_answers_agree_with_the_study_labels(bench: Path, studies: dict) -> None:
    for s in _items(bench):
        labels = studies[s["study_id"]].labels
        present = {c for c, v in labels.items() if v == 1.0 and c != "No Finding"}
        if s["task"] == "binary":
            assert (s["answer"] == "A") == (labels[s["finding"]] == 1.0)
            assert labels[s["finding"]] != -1.0  # uncertain labels are ignored by default
        elif s["task"] == "single":
            chosen = NAME_TO_COLUMN[s["options"][LETTERS.index(s["answer"])]]
            assert chosen in present
            others = [NAME_TO_COLUMN[o] for o in s["options"] if o != s["options"][
                LETTERS.index(s["answer"])]]
            assert all(labels[c] in (0.0, None) for c in others)
        elif s["task"] == "multi":
            as_sets = [{NAME_TO_COLUMN[n] for n in o.split(", ")} for o in s["options"]]
            assert [x == present for x in as_sets].count(True) == 1
            assert as_sets[LETTERS.index(s["answer"])] == present
        elif s["task"] == "multi_open":
            assert {NAME_TO_COLUMN[n] for n in s["answer"].split(", ")} == present
        elif s["task"] == "anomaly":
            assert (s["answer"] == "A") == (labels["No Finding"] == 1.0)
        elif s["task"] == "temporal":
            study = studies[s["study_id"]]
            label = study.progression[s["finding"]]
            assert s["options"][LETTERS.index(s["answer"])].lower() == label
            assert len(s["images"]) == 2 and s["report"].startswith("PRIOR REPORT:")


def test_binary_and_anomaly_are_balanced(bench: Path) -> None:
    per = Counter((s["finding"], s["split"], s["answer"]) for s in _items(bench)
                  if s["task"] == "binary")
    for (finding, split, _), n in per.items():
        assert n == per[(finding, split, "A")] == per[(finding, split, "B")]
        assert n <= 20  # --per-finding 40: at most 20 yes and 20 no
    anomaly = Counter((s["split"], s["answer"]) for s in _items(bench) if s["task"] == "anomaly")
    assert anomaly[("train", "A")] == anomaly[("train", "B")]


def test_option_positions_are_spread(bench: Path) -> None:
    stats = benchmark_stats(_items(bench))
    for task in ("single", "multi"):
        positions = stats["by_task"][task]["answer_positions"]
        assert set(positions) == set("ABCD")


def test_same_seed_same_benchmark_other_seed_other_order(cohort: Path, bench: Path,
                                                         tmp_path: Path) -> None:
    build_benchmark([SourceSpec("synthetic", cohort)], tmp_path / "same",
                    BuildConfig(per_finding=40))
    assert (tmp_path / "same" / "test.jsonl").read_bytes() == (bench / "test.jsonl").read_bytes()
    build_benchmark([SourceSpec("synthetic", cohort)], tmp_path / "other",
                    BuildConfig(per_finding=40, seed=1))
    assert (tmp_path / "other" / "train.jsonl").read_bytes() != (
        bench / "train.jsonl").read_bytes()


def test_uncertain_as_ones_asks_about_uncertain_findings(cohort: Path, studies: dict,
                                                         tmp_path: Path) -> None:
    build_benchmark([SourceSpec("synthetic", cohort)], tmp_path,
                    BuildConfig(tasks=("binary",), per_finding=400, uncertain="ones"))
    yes = [s for s in read_samples(tmp_path) if s["answer"] == "A"]
    assert any(studies[s["study_id"]].labels[s["finding"]] == -1.0 for s in yes)


def test_merged_sources_keep_their_names_and_patients_apart(cohort: Path, tmp_path: Path
                                                            ) -> None:
    build_benchmark([SourceSpec("synthetic", cohort), SourceSpec("mimic-cxr", cohort)],
                    tmp_path, BuildConfig(tasks=("single",)))
    items = read_samples(tmp_path)
    assert {s["source"] for s in items} == {"synthetic", "mimic-cxr"}
    assert {s["patient_id"].split(":")[0] for s in items} == {"synthetic", "mimic-cxr"}


def test_parquet_and_hf_exports_load_images(bench: Path) -> None:
    from datasets import Dataset, load_from_disk

    from chestx_reasoner.bench.export import export_benchmark

    written = export_benchmark(bench, ["parquet", "hf"])
    assert {p.name for p in written} == {"train.parquet", "test.parquet", "hf"}
    parquet = Dataset.from_parquet(str(bench / "test.parquet"))
    first = parquet[0]
    assert first["images"][0].size == (64, 64) and first["image_paths"][0].startswith("images/")
    hf = load_from_disk(str(bench / "hf"))
    assert hf["test"].num_rows == len(read_samples(bench / "test.jsonl"))
    temporal = next(r for r in hf["train"] if r["task"] == "temporal")
    assert len(temporal["images"]) == 2


def test_cli_build_and_stats(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = runner.invoke(app, ["build", "--source", "synthetic", "--root", str(cohort),
                                 "--out", str(out), "--tasks", "binary,anomaly",
                                 "--per-finding", "10"])
    assert result.exit_code == 0, result.output
    assert "400 studies" in result.stderr and "anomaly" in result.stderr
    stats = runner.invoke(app, ["bench", "stats", str(out), "--json"])
    assert stats.exit_code == 0
    data = json.loads(stats.stdout)
    assert set(data["by_task"]) == {"binary", "anomaly"}


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "synthetc"], "did you mean 'synthetic'"),
    (["--source", "synthetic", "--tasks", "binry"], "did you mean 'binary'"),
    (["--source", "synthetic", "--source", "mimic-cxr"], "one --root per --source"),
    (["--source", "synthetic", "--uncertain", "maybe"], "--uncertain 'maybe'"),
    (["--source", "synthetic", "--format", "csv"], "--format 'csv'"),
])
def test_cli_build_bad_options_fail_in_one_line(cohort: Path, tmp_path: Path, args: list[str],
                                                message: str) -> None:
    result = runner.invoke(app, ["build", *args, "--root", str(cohort),
                                 "--out", str(tmp_path / "b")])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_bench_stats_on_a_missing_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "stats", str(tmp_path)])
    assert result.exit_code == 2 and "no train.jsonl" in result.stderr


def test_cross_centre_binary_items_from_siim_and_rsna(cohort: Path, tmp_path: Path) -> None:
    from test_sources_siim_rsna import make_rsna, make_siim

    siim, rsna = tmp_path / "siim", tmp_path / "rsna"
    siim.mkdir()
    rsna.mkdir()
    out = tmp_path / "bench"
    manifest = build_benchmark(
        [SourceSpec("synthetic", cohort), SourceSpec("siim", make_siim(siim)),
         SourceSpec("rsna", make_rsna(rsna))], out, BuildConfig(test_fraction=0.01))
    items = read_samples(out)
    for source, finding in (("siim", "Pneumothorax"), ("rsna", "Pneumonia")):
        mine = [s for s in items if s["source"] == source]
        assert mine and {s["task"] for s in mine} == {"binary"}
        assert {s["finding"] for s in mine} == {finding}
        assert {s["answer"] for s in mine} == {"A", "B"}
        assert all(s["reasoning"] == [] and s["report"] == "" for s in mine)
        assert all(s["images"][0].endswith(".png") and (out / s["images"][0]).is_file()
                   for s in mine)
    skipped = {r["name"]: r["skipped"] for r in manifest["sources"]}
    assert skipped["siim"] == {"image file missing": 1}
    assert skipped["rsna"] == {"image file missing": 1, "no frontal image": 1}


def test_cli_build_summary_names_missing_images_as_the_manifest_counts(
        tmp_path: Path) -> None:
    root = tmp_path / "cohort"
    synthesize(root, SynthConfig(n=60, seed=3, size=32))
    gone = sorted(root.rglob("*.jpg")) or sorted(root.rglob("*.png"))
    for path in gone[:5]:
        path.unlink()
    out = tmp_path / "bench"
    result = runner.invoke(app, ["build", "--source", "synthetic", "--root", str(root),
                                 "--out", str(out), "--per-finding", "10"])
    assert result.exit_code == 0, result.output
    dropped = json.loads((out / "manifest.json").read_text())["sources"][0]["items_dropped"]
    assert dropped["image file missing"] > 0
    assert f"dropped items: {dropped['image file missing']} image file missing" in result.stderr
    assert "skipped: none" not in result.stderr


def test_a_study_from_mimic_and_ms_cxr_t_is_kept_once(cohort: Path, tmp_path: Path) -> None:
    # The cohort is a MIMIC-CXR-JPG root with an MS-CXR-T pair table: ms-cxr-t re-reads a
    # subset of the mimic-cxr studies under the same study ids.
    out = tmp_path / "bench"
    result = runner.invoke(app, ["build", "--source", "ms-cxr-t", "--root", str(cohort),
                                 "--source", "mimic-cxr", "--root", str(cohort),
                                 "--out", str(out), "--per-finding", "40"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    dropped = {r["name"]: r["items_dropped"] for r in manifest["sources"]}
    n = dropped["ms-cxr-t"]["duplicate of a mimic-cxr item"]
    assert n > 0 and manifest["duplicates_dropped"] == n and dropped["mimic-cxr"] == {}
    assert f"dropped items: {n} duplicate of a mimic-cxr item" in result.stderr
    items = read_samples(out)
    keys = Counter((s["study_id"], s["task"], s["question"]) for s in items)
    assert max(keys.values()) == 1
    assert sum(manifest["counts"][split][task] for split in manifest["counts"]
               for task in manifest["counts"][split]) == len(items)
    ms = [s for s in items if s["source"] == "ms-cxr-t"]
    assert any(s["task"] == "temporal" for s in ms)  # what only ms-cxr-t has stays
    alone = build_benchmark([SourceSpec("mimic-cxr", cohort)], tmp_path / "alone",
                            BuildConfig(per_finding=40))
    assert [s["id"] for s in items if s["source"] == "mimic-cxr"] == [  # mimic-cxr wins
        s["id"] for s in read_samples(tmp_path / "alone")]
    assert alone["duplicates_dropped"] == 0


def test_mimic_and_ms_cxr_t_without_a_split_file_split_a_patient_alike(
        cohort: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"  # the cohort without its split file: patients split by hash
    root.mkdir()
    for path in cohort.iterdir():
        if path.name != "mimic-cxr-2.0.0-split.csv":
            (root / path.name).symlink_to(path)
    build_benchmark([SourceSpec("mimic-cxr", root), SourceSpec("ms-cxr-t", root)],
                    tmp_path / "bench", BuildConfig(per_finding=40, test_fraction=0.5))
    splits: dict[str, set[str]] = {}
    for s in read_samples(tmp_path / "bench"):
        splits.setdefault(s["patient_id"].split(":", 1)[1], set()).add(s["split"])
    assert {"train", "test"} <= set().union(*splits.values())
    assert all(len(v) == 1 for v in splits.values())
