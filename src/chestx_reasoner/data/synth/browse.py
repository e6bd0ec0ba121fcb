"""Pick studies of a generated cohort for a person to look at, and caption them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chestx_reasoner.data.synth.writer import MANIFEST, TRUTH_JSONL

_SEVERITY_WORDS = {1: "mild", 2: "moderate", 3: "severe"}
_LABEL_MARK = {1.0: "+", -1.0: "?", 0.0: "-"}


def read_truth(root: str | Path) -> list[dict[str, Any]]:
    """The truth records of a complete cohort (raises FileNotFoundError/ValueError if not)."""
    root = Path(root)
    manifest = json.loads((root / MANIFEST).read_text())
    if not manifest.get("complete"):
        raise ValueError(f"{root}: the cohort is not complete; rerun `chestx synth --out {root}`")
    with open(root / TRUTH_JSONL, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def pick_studies(truth: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """`n` studies that show as many different findings as possible, normal ones included.

    Greedy: repeatedly take the study adding the most observations not yet shown (ties: the
    earlier one), so a 24-study sheet covers every finding the cohort has.
    """
    chosen: list[dict[str, Any]] = []
    shown: set[str] = set()
    remaining = list(truth)
    normal = next((t for t in truth if t["labels"].get("No Finding") == 1.0), None)
    if normal is not None and n > 0:
        chosen.append(normal)
        remaining.remove(normal)
    while remaining and len(chosen) < n:
        best = max(remaining, key=lambda t: len(_observations(t) - shown))
        if not _observations(best) - shown:
            break
        chosen.append(best)
        shown |= _observations(best)
        remaining.remove(best)
    chosen += remaining[: n - len(chosen)]
    return chosen


def _observations(record: dict[str, Any]) -> set[str]:
    return {f["observation"] for f in record["findings"]}


def caption(record: dict[str, Any]) -> list[str]:
    """One line per labelled column: "+ Pleural Effusion (left, large)"; "No Finding" alone."""
    details = {f["observation"]: f for f in record["findings"]}
    lines = []
    for column, value in record["labels"].items():
        if value is None or column == "No Finding":
            continue
        detail = details.get(column)
        words: list[str] = []
        if detail is not None and value != 0.0:
            if column == "Support Devices":
                words = [(detail.get("kind") or "").replace("+", ", ")]
            else:
                severity = _SEVERITY_WORDS.get(detail.get("severity"))
                if detail.get("status") == "uncertain":
                    severity = None  # drawn subtle whatever its severity
                words = [w for w in (detail.get("kind"), detail.get("side"), detail.get("zone"),
                                     severity) if w]
        suffix = f" ({', '.join(words)})" if any(words) else ""
        lines.append(f"{_LABEL_MARK[value]} {column}{suffix}")
    if record["labels"].get("No Finding") == 1.0:
        lines.insert(0, "No Finding")
    return lines
