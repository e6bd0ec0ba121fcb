"""Labeler speed (reports/s on one core) and agreement on a dev set of real reports.

    python benchmarks/labeler.py [--data ../shared/data/radrscore-dev.jsonl] [--repeat 3]

Dev data: JSONL records with `report`; records with task "single" (four options, exactly one
present, as in RadRScore dev) and "binary" (yes/no for one finding) also give agreement
checks: each option is mapped onto the
vocabulary, and the labeler must find the answer's finding (present or uncertain) and not the
distractors' findings. Without --data (or if the file is missing) only speed is measured, on
the bundled example reports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

from rich.console import Console
from rich.table import Table

from chestx_reasoner.reports.labeler import ReportLabeler
from chestx_reasoner.reports.location import find_location
from chestx_reasoner.reports.records import LabeledReport
from chestx_reasoner.reports.vocabulary import lookup_concepts, normalize_term

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "radrscore-dev.jsonl"
EXAMPLES = ROOT / "examples" / "reports.jsonl"
NORMAL_OPTIONS = {"normal", "no finding", "no findings", "no abnormality"}
# OpenI's option texts lost every "the" inside words ("catheter" -> "cater"); undo that.
OPENI_MANGLED = {"cater": "catheter", "caters": "catheters", "arosclerosis": "atherosclerosis"}


def clean_option(option: str) -> str:
    return " ".join(OPENI_MANGLED.get(word, word) for word in option.lower().split())


def locations_compatible(option: str, finding_location) -> bool:
    """An option's side/lobe must not contradict where the labeler found the finding."""
    wanted = find_location(option)
    if wanted is None or finding_location is None:
        return True
    if wanted.side and finding_location.side and "bilateral" not in (
            wanted.side, finding_location.side) and wanted.side != finding_location.side:
        return False
    return not (wanted.lobe and finding_location.lobe and wanted.lobe != finding_location.lobe)


def load_records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def measure_speed(labeler: ReportLabeler, reports: list[str], repeat: int) -> tuple[float, float]:
    """Median and best reports/s over `repeat` passes (after one warm-up pass)."""
    list(labeler.label_many(reports[:50]))
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in labeler.label_many(reports):
            pass
        rates.append(len(reports) / (time.perf_counter() - start))
    return statistics.median(rates), max(rates)


def option_positive(option: str, labeled: LabeledReport) -> bool | None:
    """Whether the labeler finds an option's finding (None: option outside the vocabulary)."""
    option = clean_option(option)
    if normalize_term(option) in NORMAL_OPTIONS:
        return labeled.labels.get("No Finding") == 1
    found = lookup_concepts(option)
    if not found:
        return None
    names = {c.finding_name for c in found} | {c.name for c in found}
    return any(
        f.status in ("present", "uncertain") and locations_compatible(option, f.location)
        for f in labeled.findings if f.name in names or f.concept in names)


def single_item_agreement(records: list[dict], labeler: ReportLabeler) -> dict[str, float]:
    """Option-level and item-level agreement on `single` items (one option present)."""
    items = {}
    for record in records:
        if record.get("task") == "single" and record.get("options") and record.get("report"):
            key = (record["report"], tuple(record["options"]), record["answer"])
            items[key] = record
    reports = [key[0] for key in items]
    labeled = dict(zip(reports, labeler.label_many(reports), strict=True))
    option_hits = option_total = unmapped = item_hits = item_total = 0
    answer_hits = answer_total = 0
    for (report, options, answer), _ in items.items():
        result = labeled[report]
        if not isinstance(result, LabeledReport):
            continue
        answer_index = ord(answer.strip().upper()[0]) - ord("A")
        if not 0 <= answer_index < len(options):
            continue  # malformed item: its answer letter names no option
        answer_option = clean_option(options[answer_index])
        answer_concepts = {c.finding_name for c in lookup_concepts(answer_option)}
        verdicts = []
        for index, option in enumerate(options):
            positive = option_positive(option, result)
            if positive is None:
                unmapped += 1
                continue
            is_answer = index == answer_index
            # A distractor naming the answer's own finding cannot be judged from labels.
            option_concepts = {c.finding_name for c in lookup_concepts(clean_option(option))}
            if not is_answer and option_concepts & answer_concepts:
                continue
            verdicts.append((is_answer, positive))
            option_total += 1
            option_hits += positive == is_answer
            if is_answer:
                answer_total += 1
                answer_hits += positive
        if any(is_answer for is_answer, _ in verdicts):
            item_total += 1
            item_hits += all(positive == is_answer for is_answer, positive in verdicts)
    return {
        "items": len(items),
        "option agreement": option_hits / max(option_total, 1),
        "options judged": option_total,
        "options outside vocabulary": unmapped,
        "answer recall": answer_hits / max(answer_total, 1),
        "item agreement": item_hits / max(item_total, 1),
        "items judged": item_total,
    }


_ASKED = re.compile(r"show (?:an? |any )?(.+?)\?", re.I)


def binary_item_agreement(records: list[dict], labeler: ReportLabeler) -> dict[str, float]:
    """Agreement with `binary` items' gold answers ("Does this chest X-ray show X?", A = yes):
    the labeler's CheXpert column for X is positive or uncertain exactly when the answer is
    yes. Each item once (the dumps answer it with several models), in the calib and holdout
    halves (sha1 parity of the item id, as judge_agreement.py)."""
    items: dict[str, dict] = {}
    for record in records:
        if record.get("task") == "binary" and record.get("report"):
            items.setdefault(str(record["id"]).split("/", 1)[-1], record)
    keys = list(items)
    labeled = labeler.label_many([items[k]["report"] for k in keys])
    hits = {"calib": [0, 0], "holdout": [0, 0]}
    for key, result in zip(keys, labeled, strict=True):
        asked = _ASKED.search(items[key].get("question") or "")
        found = lookup_concepts(asked.group(1)) if asked else []
        if not found or not isinstance(result, LabeledReport):
            continue
        positive = result.labels.get(found[0].observation) in (1, -1)
        half = "calib" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 \
            else "holdout"
        hits[half][0] += positive == (items[key].get("answer") == "A")
        hits[half][1] += 1
    out: dict[str, float] = {}
    for half, (right, total) in hits.items():
        out[f"binary items, {half}"] = total
        out[f"binary agreement, {half}"] = right / max(total, 1)
    total = sum(t for _, t in hits.values())
    out["binary agreement, all"] = sum(r for r, _ in hits.values()) / max(total, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scope", default="report", choices=["report", "impression"])
    args = parser.parse_args(argv)
    console = Console()
    source = args.data if args.data.exists() else EXAMPLES
    records = load_records(source)
    reports = list(dict.fromkeys(r["report"] for r in records if r.get("report")))
    console.print(f"data: {source} ({len(reports)} distinct reports)")

    speed = Table(title="Labeler speed (one process, one core)")
    for column in ("sentence splitter", "reports/s (median)", "reports/s (best)"):
        speed.add_column(column)
    for splitter in ("rules", "pyrush"):
        labeler = ReportLabeler(scope=args.scope, sentence_splitter=splitter)
        median, best = measure_speed(labeler, reports, args.repeat)
        speed.add_row(splitter, f"{median:,.0f}", f"{best:,.0f}")
    console.print(speed)

    if source == args.data:
        agreement = single_item_agreement(records, ReportLabeler(scope=args.scope))
        agreement.update(binary_item_agreement(records, ReportLabeler(scope=args.scope)))
        table = Table(title=f"Agreement on `single` and `binary` items of {source.name} "
                            f"(scope={args.scope})")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for name, value in agreement.items():
            table.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
        console.print(table)
    else:
        console.print(f"[yellow]{args.data} not found: agreement not measured[/yellow]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
