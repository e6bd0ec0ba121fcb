"""Aggregate scored items: means with bootstrap CIs, and paired differences between two runs.

Why bootstrap: per-task benchmarks hold tens to hundreds of items, so a 0.03 gap between two
models is often noise; every number we publish carries a seeded (reproducible) 95% interval.
Why paired: two runs over the same items differ item by item far less than their means vary, so
resampling the per-item differences gives much tighter, honest intervals than two separate CIs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.table import Table

from chestx_reasoner.jsonl import RecordError, iter_records

METRICS: tuple[str, ...] = ("accuracy", "completeness", "factuality", "effectiveness", "radrscore")
# Summary metric -> item field: `accuracy` is the mean `answer_score` (1/0, or F1 for multi_open).
ITEM_FIELD: dict[str, str] = {"accuracy": "answer_score"}
TASK_ORDER: tuple[str, ...] = ("binary", "single", "multi", "multi_open", "anomaly", "temporal")
DEFAULT_MODEL = "default"
_CHUNK = 4_000_000  # resampled indices held in memory at once


def _clean(values: Iterable[Any]) -> np.ndarray:
    """Finite floats only: None (undefined) and NaN never count towards a mean."""
    kept = [float(v) for v in values if v is not None and not isinstance(v, str)]
    arr = np.asarray(kept, dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_ci(
    values: Iterable[float | None], n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float] | tuple[None, None, None]:
    """Mean with a percentile-bootstrap (1 − alpha) interval; (None, None, None) when empty.

    >>> bootstrap_ci([1.0, None, 1.0])
    (1.0, 1.0, 1.0)
    >>> bootstrap_ci([None])
    (None, None, None)
    >>> m, lo, hi = bootstrap_ci([0, 1] * 50, seed=1)
    >>> lo < m == 0.5 < hi
    True
    """
    arr = _clean(values)
    n = arr.size
    if n == 0:
        return None, None, None
    mean = float(arr.mean())
    if n == 1 or n_boot <= 0:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    step = max(1, _CHUNK // n)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = arr[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return mean, float(low), float(high)


def item_value(item: dict[str, Any], metric: str) -> float | None:
    """One item's value for a summary metric (accuracy falls back to `correct` as 1/0)."""
    value = item.get(ITEM_FIELD.get(metric, metric))
    if value is None and metric == "accuracy" and isinstance(item.get("correct"), bool):
        value = float(item["correct"])
    if value is None or isinstance(value, str):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def task_sort_key(task: object) -> tuple[int, str]:
    """Tasks in the brief's order (binary … temporal), unknown ones after, alphabetically."""
    task = str(task)
    return (TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER), task)


def _cell(items: Sequence[dict[str, Any]], n_boot: int, seed: int) -> dict[str, Any]:
    """One summary cell: n, each metric's mean and CI, and how many items had a RadRScore."""
    cell: dict[str, Any] = {"n": len(items)}
    for metric in METRICS:
        values = [item_value(it, metric) for it in items]
        mean, low, high = bootstrap_ci(values, n_boot=n_boot, seed=seed)
        cell[metric] = _r(mean)
        cell[f"{metric}_ci"] = None if low is None else [_r(low), _r(high)]
        if metric == "radrscore":
            cell["n_radrscore"] = sum(v is not None for v in values)
    calibrated = [it["calibrated"] for it in items if it.get("calibrated")]
    if calibrated:  # the offline judge's means on GPT-4o's scale, beside the raw ones
        cell["calibrated"] = {
            metric: _r(sum(vals) / len(vals)) if vals else None
            for metric in ("completeness", "factuality", "effectiveness", "radrscore")
            for vals in [[c[metric] for c in calibrated if c.get(metric) is not None]]}
    return cell


def summarize(
    items: Iterable[dict[str, Any]], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Build summary.json: per model ("default" when unnamed) × task, plus each model's overall.

    >>> s = summarize([{"task": "binary", "answer_score": 1.0, "radrscore": None}], n_boot=10)
    >>> cell = s["models"]["default"]["by_task"]["binary"]
    >>> cell["n"], cell["accuracy"], cell["radrscore"], cell["n_radrscore"]
    (1, 1.0, None, 0)
    """
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for item in items:
        model = str(item.get("model") or DEFAULT_MODEL)
        task = str(item.get("task") or "unknown")
        groups.setdefault(model, {}).setdefault(task, []).append(item)
    models: dict[str, Any] = {}
    for model in sorted(groups):
        by_task = groups[model]
        tasks = sorted(by_task, key=task_sort_key)
        models[model] = {
            "by_task": {t: _cell(by_task[t], n_boot, seed) for t in tasks},
            "overall": _cell([it for t in by_task.values() for it in t], n_boot, seed),
        }
    return {"models": models}


def _index(items: Iterable[dict[str, Any]], side: str) -> dict[str, dict[str, Any]]:
    """Items by id; a repeated id means a run mixes models, which pairing cannot resolve."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key = str(item.get("id"))
        if key in out:
            raise ValueError(
                f"run {side}: id {key!r} appears more than once (several models in one run?); "
                "compare one model per run"
            )
        out[key] = item
    return out


def _paired_cell(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
    only_a: int,
    only_b: int,
    metrics: Sequence[str],
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    cell: dict[str, Any] = {"n": len(pairs), "only_a": only_a, "only_b": only_b}
    for metric in metrics:
        both = [(item_value(a, metric), item_value(b, metric)) for a, b in pairs]
        both = [(va, vb) for va, vb in both if va is not None and vb is not None]
        diff, low, high = bootstrap_ci([vb - va for va, vb in both], n_boot=n_boot, seed=seed)
        cell[metric] = {
            "a": _r(float(np.mean([va for va, _ in both]))) if both else None,
            "b": _r(float(np.mean([vb for _, vb in both]))) if both else None,
            "diff": _r(diff),
            "ci": None if low is None else [_r(low), _r(high)],
            "n": len(both),
            "significant": low is not None and (low > 0 or high < 0),
        }
    return cell


def paired_differences(
    items_a: Iterable[dict[str, Any]],
    items_b: Iterable[dict[str, Any]],
    metrics: Sequence[str] = METRICS,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """B − A per task and overall, over items matched by id, with a paired bootstrap CI.

    Model names are ignored: A and B are two scored runs (two models, or one model twice).
    Each metric is paired only where both sides define it (RadRScore is null without a chain).

    >>> a = [{"id": "1", "task": "binary", "answer_score": 0.0}, {"id": "2", "task": "binary"}]
    >>> b = [{"id": "1", "task": "binary", "answer_score": 1.0}]
    >>> r = paired_differences(a, b, metrics=("accuracy",), n_boot=10)
    >>> r["overall"]["n"], r["overall"]["only_a"], r["overall"]["accuracy"]["diff"]
    (1, 1, 1.0)
    """
    index_a, index_b = _index(items_a, "A"), _index(items_b, "B")
    tasks: dict[str, dict[str, Any]] = {}

    def bucket(task: Any) -> dict[str, Any]:
        return tasks.setdefault(str(task or "unknown"), {"pairs": [], "only_a": 0, "only_b": 0})

    for key, a in index_a.items():
        if key in index_b:
            bucket(a.get("task") or index_b[key].get("task"))["pairs"].append((a, index_b[key]))
        else:
            bucket(a.get("task"))["only_a"] += 1
    for key, b in index_b.items():
        if key not in index_a:
            bucket(b.get("task"))["only_b"] += 1
    by_task = {
        t: _paired_cell(g["pairs"], g["only_a"], g["only_b"], metrics, n_boot, seed)
        for t, g in sorted(tasks.items(), key=lambda kv: task_sort_key(kv[0]))
    }
    overall = _paired_cell(
        [p for g in tasks.values() for p in g["pairs"]],
        sum(g["only_a"] for g in tasks.values()),
        sum(g["only_b"] for g in tasks.values()),
        metrics,
        n_boot,
        seed,
    )
    return {
        "metrics": list(metrics),
        "n_a": len(index_a),
        "n_b": len(index_b),
        "by_task": by_task,
        "overall": overall,
    }


def read_items(run_dir: Path, model: str | None = None) -> list[dict[str, Any]]:
    """A scored run's items.jsonl (optionally one model's items), with a hint when it is missing."""
    path = Path(run_dir) / "items.jsonl"
    if not path.is_file():
        raise RecordError(f"{path}: not found (is {run_dir} a `chestx score --out` folder?)")
    items = [rec for _, rec in iter_records(path)]
    if model is not None:
        items = [it for it in items if str(it.get("model") or DEFAULT_MODEL) == model]
        if not items:
            raise RecordError(f"{path}: no items for model {model!r}")
    return items


def compare_dirs(
    dir_a: Path,
    dir_b: Path,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
    metrics: Sequence[str] = METRICS,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired differences B − A of two `chestx score` output folders (`chestx compare`)."""
    result = paired_differences(
        read_items(dir_a, model_a), read_items(dir_b, model_b), metrics, n_boot, seed
    )
    return {"a": str(dir_a), "b": str(dir_b), **result}


_SHORT = {
    "accuracy": "Acc",
    "completeness": "Rc",
    "factuality": "Rf",
    "effectiveness": "Re",
    "radrscore": "RadRScore",
}


def _diff_text(cell: dict[str, Any]) -> str:
    """'+0.050*' over its CI '+0.010 +0.090' (dim, two decimals): two short lines keep five
    metrics within 100 columns; '*' and colour where the CI excludes zero."""
    if cell["diff"] is None:
        return "[dim]—[/dim]"
    low, high = cell["ci"]
    diff = f"{cell['diff']:+.3f}" + ("*" if cell["significant"] else " ")
    if cell["significant"]:
        diff = f"[green]{diff}[/green]" if cell["diff"] > 0 else f"[red]{diff}[/red]"
    return f"{diff}\n[dim]{low:+.2f} {high:+.2f}[/dim]"


def format_compare_table(result: dict[str, Any]) -> Table:
    """A rich table of `compare_dirs` output: one row per task plus overall, readable at 100
    columns (task names are never cut; `chestx compare --json` gives the full precision)."""
    table = Table(
        title="Paired differences B − A (second line: bootstrap 95% CI)",
        caption=f"A = {result.get('a', 'A')}  B = {result.get('b', 'B')}  "
        "(*, green/red: CI excludes 0)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    rows = [*result["by_task"].items(), ("overall", result["overall"])]
    table.add_column("task", no_wrap=True, min_width=max(len(str(t)) for t, _ in rows))
    table.add_column("pairs", justify="right", no_wrap=True)
    table.add_column("A/B only", justify="right", no_wrap=True)
    for metric in result["metrics"]:
        table.add_column(_SHORT.get(metric, metric), justify="right", no_wrap=True)
    for i, (task, cell) in enumerate(rows):
        last = i == len(rows) - 1
        table.add_row(
            task,
            str(cell["n"]),
            f"{cell['only_a']}/{cell['only_b']}",
            *(_diff_text(cell[m]) for m in result["metrics"]),
            style="bold" if last else None,
            end_section=i == len(rows) - 2,
        )
    return table
