"""Bootstrap CIs, summary.json's shape, and paired comparisons of two scored runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.scoring.stats import (
    METRICS,
    bootstrap_ci,
    compare_dirs,
    format_compare_table,
    paired_differences,
    summarize,
)

CELL_KEYS = {"n", "n_radrscore", *METRICS, *(f"{m}_ci" for m in METRICS)}


def _item(i: int, task: str, model: str | None, rng: np.random.Generator, **kw: Any) -> dict:
    parts = rng.uniform(0, 1, 3)
    item = {
        "id": f"{task}/{i}",
        "task": task,
        "parsed_answer": "A",
        "correct": bool(rng.random() < 0.7),
        "completeness": float(parts[0]),
        "factuality": float(parts[1]),
        "effectiveness": float(parts[2]),
        "radrscore": float(parts.mean()),
    }
    item["answer_score"] = float(item["correct"])
    if model is not None:
        item["model"] = model
    item.update(kw)
    return item


# --- bootstrap_ci ---------------------------------------------------------------------------


def test_bootstrap_ci_covers_true_mean_on_synthetic_data() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for trial in range(40):
        data = rng.normal(0.6, 0.2, size=120)
        mean, low, high = bootstrap_ci(data.tolist(), n_boot=400, seed=trial)
        assert low <= mean <= high
        assert mean == pytest.approx(float(data.mean()))
        hits += low <= 0.6 <= high
    assert hits >= 34  # nominal 95%: 38 of 40; the percentile bootstrap runs a little narrow


def test_bootstrap_ci_is_deterministic_for_a_seed() -> None:
    values = np.random.default_rng(1).uniform(size=80).tolist()
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)


def test_bootstrap_ci_narrows_with_n() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for n in (25, 100, 400, 1600):
        _, low, high = bootstrap_ci(rng.uniform(size=n).tolist(), seed=0)
        widths.append(high - low)
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < widths[0] / 4  # ~ 1/sqrt(n): 8× in theory


def test_bootstrap_ci_ignores_none_and_handles_empty() -> None:
    assert bootstrap_ci([None, 1.0, None, 0.0], n_boot=50)[0] == 0.5
    assert bootstrap_ci([float("nan"), 0.25]) == (0.25, 0.25, 0.25)
    assert bootstrap_ci([]) == (None, None, None)
    assert bootstrap_ci([None, None]) == (None, None, None)


# --- summarize --------------------------------------------------------------------------------


def test_summarize_matches_the_contract() -> None:
    rng = np.random.default_rng(0)
    items = [_item(i, "binary", None, rng) for i in range(30)]
    items += [_item(i, "single", None, rng) for i in range(20)]
    items += [_item(i, "binary", "m2", rng) for i in range(10)]
    summary = summarize(items, n_boot=200)
    json.dumps(summary, allow_nan=False)  # summary.json must be strict JSON
    assert set(summary) == {"models"}
    assert list(summary["models"]) == ["default", "m2"]
    default = summary["models"]["default"]
    assert set(default) == {"by_task", "overall"}
    assert list(default["by_task"]) == ["binary", "single"]
    cells = [*default["by_task"].values(), default["overall"]]
    for cell in cells:
        assert set(cell) == CELL_KEYS
        for metric in METRICS:
            low, high = cell[f"{metric}_ci"]
            assert 0 <= low <= cell[metric] <= high <= 1
    assert default["by_task"]["binary"]["n"] == 30
    assert default["overall"]["n"] == 50
    want = np.mean([it["answer_score"] for it in items[:50]])
    assert default["overall"]["accuracy"] == pytest.approx(want, abs=1e-6)
    assert summarize(items, n_boot=200) == summary  # seeded


def test_summarize_accuracy_is_answer_score_and_radrscore_skips_nulls() -> None:
    items = [
        {"id": "1", "task": "multi_open", "model": "m", "answer_score": 0.5, "radrscore": 0.4},
        {"id": "2", "task": "multi_open", "model": "m", "answer_score": 1.0, "radrscore": None},
        {"id": "3", "task": "binary", "model": "m", "answer_score": None, "correct": True,
         "radrscore": None, "completeness": None},
    ]
    model = summarize(items, n_boot=100)["models"]["m"]
    multi_open = model["by_task"]["multi_open"]
    assert multi_open["accuracy"] == pytest.approx(0.75)
    assert multi_open["radrscore"] == pytest.approx(0.4)
    assert (multi_open["n"], multi_open["n_radrscore"]) == (2, 1)
    binary = model["by_task"]["binary"]
    assert binary["accuracy"] == 1.0  # falls back to `correct`
    assert binary["radrscore"] is None and binary["radrscore_ci"] is None
    assert binary["n_radrscore"] == 0
    assert model["overall"]["n"] == 3


# --- paired differences -----------------------------------------------------------------------


def _runs(n: int = 200) -> tuple[list[dict], list[dict]]:
    """Run B answers more items right than A (+0.15) and reasons a little better (+0.05)."""
    rng = np.random.default_rng(5)
    a, b = [], []
    for i in range(n):
        task = "binary" if i % 2 else "single"
        base = float(rng.uniform(0.2, 0.8))
        right_a = bool(rng.random() < 0.6)
        right_b = right_a or bool(rng.random() < 0.375)  # 0.6 + 0.4 * 0.375 = 0.75
        a.append({"id": str(i), "task": task, "model": "x", "answer_score": float(right_a),
                  "radrscore": base})
        b.append({"id": str(i), "task": task, "model": "y", "answer_score": float(right_b),
                  "radrscore": min(1.0, base + 0.05 + float(rng.normal(0, 0.02)))})
    return a, b


def test_paired_differences_sign_ci_and_counts() -> None:
    a, b = _runs()
    b = [*b[:-3], {"id": "extra", "task": "binary", "answer_score": 1.0}]
    result = paired_differences(a, b, n_boot=500)
    overall = result["overall"]
    assert (overall["n"], overall["only_a"], overall["only_b"]) == (197, 3, 1)
    assert (result["n_a"], result["n_b"]) == (200, 198)
    assert result["by_task"]["binary"]["only_b"] == 1
    acc = overall["accuracy"]
    assert acc["diff"] == pytest.approx(acc["b"] - acc["a"], abs=1e-6)
    assert 0.08 < acc["diff"] < 0.25
    assert 0 < acc["ci"][0] <= acc["diff"] <= acc["ci"][1]
    assert acc["significant"]
    radr = overall["radrscore"]
    assert radr["diff"] == pytest.approx(0.05, abs=0.01)
    assert radr["ci"][1] - radr["ci"][0] < 0.01  # paired: the item-to-item spread cancels
    _, low, high = bootstrap_ci([x["radrscore"] for x in a], n_boot=500)
    assert high - low > 5 * (radr["ci"][1] - radr["ci"][0])
    flipped = paired_differences(b, a, n_boot=500)["overall"]["accuracy"]
    assert flipped["diff"] == pytest.approx(-acc["diff"], abs=1e-6)
    assert flipped["ci"][1] < 0


def test_paired_differences_null_metrics_and_duplicates() -> None:
    a = [{"id": "1", "task": "binary", "answer_score": 1.0, "radrscore": None}]
    b = [{"id": "1", "task": "binary", "answer_score": 1.0, "radrscore": 0.3}]
    radr = paired_differences(a, b, n_boot=50)["overall"]["radrscore"]
    assert radr == {"a": None, "b": None, "diff": None, "ci": None, "n": 0, "significant": False}
    with pytest.raises(ValueError, match="more than once"):
        paired_differences(a + a, b)


def _write_run(folder: Path, items: list[dict]) -> Path:
    folder.mkdir(parents=True)
    text = "".join(json.dumps(it) + "\n" for it in items)
    (folder / "items.jsonl").write_text(text, encoding="utf-8")
    return folder


def test_compare_dirs_reads_items_from_disk(tmp_path: Path) -> None:
    a, b = _runs(60)
    dir_a, dir_b = _write_run(tmp_path / "a", a), _write_run(tmp_path / "b", b)
    result = compare_dirs(dir_a, dir_b, n_boot=200)
    assert result["a"] == str(dir_a) and result["b"] == str(dir_b)
    assert result["overall"]["n"] == 60
    assert result["overall"]["accuracy"] == paired_differences(a, b, n_boot=200)["overall"][
        "accuracy"
    ]
    assert list(result["by_task"]) == ["binary", "single"]
    assert compare_dirs(dir_a, dir_b, model_b="y", n_boot=10)["overall"]["n"] == 60
    with pytest.raises(RecordError, match="no items for model"):
        compare_dirs(dir_a, dir_b, model_a="nobody")
    with pytest.raises(RecordError, match="not found"):
        compare_dirs(dir_a, tmp_path / "missing")


def test_format_compare_table_renders_every_task_and_overall(tmp_path: Path) -> None:
    a, b = _runs(80)
    result = compare_dirs(_write_run(tmp_path / "a", a), _write_run(tmp_path / "b", b), n_boot=200)
    console = Console(record=True, width=220, color_system=None)
    console.print(format_compare_table(result))
    text = console.export_text()
    for word in ("binary", "single", "overall", "RadRScore", "Rc", "pairs"):
        assert word in text
    diff = result["overall"]["accuracy"]["diff"]
    assert f"{diff:+.3f}" in text
    assert not any(math.isnan(float(x)) for x in [diff])


def _three_task_runs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = _runs(80)
    for item in [*a[:10], *b[:10]]:
        item["task"] = "multi_open"  # the longest task name
    return _write_run(tmp_path / "a", a), _write_run(tmp_path / "b", b)


def test_cli_compare_table_is_whole_at_100_columns(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import chestx_reasoner.cli.score as score_cli
    from chestx_reasoner.cli import app

    dir_a, dir_b = _three_task_runs(tmp_path)
    monkeypatch.setattr(score_cli, "table_width", lambda: 100)
    result = CliRunner().invoke(app, ["compare", str(dir_a), str(dir_b)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert "…" not in result.stdout
    words = " ".join(result.stdout.split())
    expected = compare_dirs(dir_a, dir_b)
    for task in ("binary", "single", "multi_open", "overall"):
        assert task in words
    for cell in [*expected["by_task"].values(), expected["overall"]]:
        for metric in ("accuracy", "radrscore"):
            diff, (low, high) = cell[metric]["diff"], cell[metric]["ci"]
            assert f"{diff:+.3f}" in words and f"{low:+.2f} {high:+.2f}" in words


def test_cli_compare_json_holds_the_numbers(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chestx_reasoner.cli import app

    dir_a, dir_b = _three_task_runs(tmp_path)
    result = CliRunner().invoke(app, ["compare", str(dir_a), str(dir_b), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == json.loads(json.dumps(compare_dirs(dir_a, dir_b)))
    assert set(data["by_task"]) == {"binary", "single", "multi_open"}
    assert data["overall"]["accuracy"]["ci"][0] < data["overall"]["accuracy"]["diff"]
