"""`chestx bench stats`: what a benchmark holds and whether it is balanced. Pure functions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from chestx_reasoner.bench.sample import answer_option, sample_problem
from chestx_reasoner.jsonl import read_checked

STATS_FIELDS = ("task", "source", "split", "answer")  # what the counts are made of


def read_samples(bench: str | Path) -> list[dict[str, Any]]:
    """Every item of BENCH/train.jsonl and BENCH/test.jsonl (or of one JSONL file), each
    checked for the fields the counts need (RecordError: one line naming file and line)."""
    bench = Path(bench)
    files = [bench] if bench.is_file() else [bench / f"{s}.jsonl" for s in ("train", "test")]
    samples = []
    for path in files:
        if not path.exists():
            continue
        samples.extend(record for _, record in read_checked(
            path, STATS_FIELDS, lists=("options",), check=sample_problem))
    if not samples:
        raise FileNotFoundError(f"{bench}: no train.jsonl or test.jsonl with items")
    return samples


def benchmark_stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per task/source/split, answer and option-position balance, reasoning steps.

    >>> stats = benchmark_stats([
    ...     {"task": "binary", "source": "s", "split": "test", "options": ["Yes", "No"],
    ...      "answer": "A", "reasoning": ["a", "b"]},
    ...     {"task": "binary", "source": "s", "split": "test", "options": ["Yes", "No"],
    ...      "answer": "B", "reasoning": []}])
    >>> stats["by_task"]["binary"]["answers"], stats["by_task"]["binary"]["steps_mean"]
    ({'Yes': 1, 'No': 1}, 1.0)
    """
    by_task: dict[str, dict[str, Any]] = {}
    for task in sorted({s["task"] for s in samples}):
        items = [s for s in samples if s["task"] == task]
        answers: Counter[str] = Counter()
        positions: Counter[str] = Counter()
        for item in items:
            options = item.get("options") or []
            if (chosen := answer_option(item)) is not None:
                positions[item["answer"]] += 1
                if task in ("binary", "anomaly", "temporal"):
                    answers[chosen] += 1
            elif not options:  # multi_open: how many findings an answer lists
                answers[f"{len(item['answer'].split(','))}f"] += 1
        steps = [len(item.get("reasoning") or []) for item in items]
        by_task[task] = {
            "n": len(items),
            "by_split": dict(sorted(Counter(i["split"] for i in items).items())),
            "by_source": dict(sorted(Counter(i["source"] for i in items).items())),
            "answers": dict(answers) if task in ("binary", "anomaly", "temporal")
            else dict(sorted(answers.items())),
            "answer_positions": dict(sorted(positions.items())),
            "with_reasoning": sum(1 for s in steps if s),
            "steps_mean": round(sum(steps) / len(steps), 2) if steps else 0.0,
        }
    findings = Counter(s.get("finding") for s in samples if s.get("finding"))
    return {
        "n": len(samples),
        "by_split": dict(sorted(Counter(s["split"] for s in samples).items())),
        "by_source": dict(sorted(Counter(s["source"] for s in samples).items())),
        "by_task": by_task,
        "by_finding": dict(sorted(findings.items())),
    }
