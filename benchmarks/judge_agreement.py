"""How well our judge agrees with GPT-4o's RadRScore verdicts, and how fast it is.

    python benchmarks/judge_agreement.py [--data ../shared/data/radrscore-dev.jsonl]
                                         [--split all|calib|holdout]
                                         [--judge rules|llm --llm-url URL --llm-model NAME]

Reads prediction records with `reference_judgment` (completeness, factuality, effectiveness as
GPT-4o gave them), scores them with our judge through the same code as `chestx score`, and
prints Pearson and Spearman per component at item level and at system level (model x task
means), plus whether each task ranks the models as GPT-4o does. Goal: item-level Pearson >= 0.6
per component and the same rankings. Three diagnostic tables follow: the outcome alone as a
baseline (and our agreement with the outcome held fixed), how well the definitions applied to
GPT-4o's own extracted key findings reproduce GPT-4o's numbers (a bound on what a consistent
judge can reach), and the means by task, model and outcome behind each ranking.

`--split` halves the records by a hash of their id (sha1, even = calib, odd = holdout), the
same halves on every machine and run: rules are developed by looking at `calib` only, and
`holdout` tells whether they generalise rather than memorise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

from chestx_reasoner.scoring import calibration
from chestx_reasoner.scoring.judge_rules import RulesJudge
from chestx_reasoner.scoring.phrases import content_words
from chestx_reasoner.scoring.score import score_items

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "radrscore-dev.jsonl"
COMPONENTS = ("completeness", "factuality", "effectiveness", "radrscore")


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), for Spearman without scipy."""
    order = values.argsort(kind="stable")
    raw = np.empty(len(values))
    raw[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.zeros(len(counts))
    np.add.at(sums, inverse, raw)
    return (sums / counts)[inverse]


def correlations(ours: list[float], ref: list[float]) -> tuple[float, float]:
    a, b = np.asarray(ours, float), np.asarray(ref, float)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan"), float("nan")
    return float(np.corrcoef(a, b)[0, 1]), float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def split_of(record_id: str) -> str:
    """`calib` or `holdout`: a fixed half of the records, by the parity of sha1(id)."""
    return "calib" if int(hashlib.sha1(record_id.encode()).hexdigest(), 16) % 2 == 0 \
        else "holdout"


def reference_value(judgment: dict, component: str) -> float | None:
    if component == "radrscore":
        parts = [judgment.get(c) for c in COMPONENTS[:3]]
        return None if any(p is None for p in parts) else sum(parts) / 3
    return judgment.get(component)


def baseline_table(records: list[dict], scored: list[dict]) -> Table:
    """What a judge has to beat: GPT-4o's verdicts against the outcome alone (1 when the
    parsed answer is right), and our judge's agreement within right and within wrong answers,
    where the outcome explains nothing."""
    table = Table(title="baseline: the outcome alone, and ours with the outcome held fixed",
                  title_justify="left")
    for column in ("component", "outcome-only Pearson", "ours, right answers",
                   "ours, wrong answers"):
        table.add_column(column, justify="left" if column == "component" else "right")
    for component in COMPONENTS:
        rows = [(item[component], float(item["correct"]),
                 reference_value(record["reference_judgment"], component))
                for record, item in zip(records, scored, strict=True)
                if item[component] is not None
                and reference_value(record["reference_judgment"], component) is not None]
        outcome, _ = correlations([o for _, o, _ in rows], [r for *_, r in rows])
        right, _ = correlations([m for m, o, _ in rows if o], [r for _, o, r in rows if o])
        wrong, _ = correlations([m for m, o, _ in rows if not o],
                                [r for _, o, r in rows if not o])
        table.add_row(component, f"{outcome:.3f}", f"{right:.3f}", f"{wrong:.3f}")
    return table


# GPT-4o writes statuses in free text ("not present", "unlikely", "confirmed as present").
_GPT_ABSENT = re.compile(r"\b(?:not|no|absent|unlikely|ruled out|excluded|negative|none|"
                         r"without|lack|normal)\b", re.I)


def gpt_says_present(phrase: str, findings: list[dict]) -> bool | None:
    """What GPT-4o's own key findings say of an option phrase (the finding sharing >= 80 % of
    its content words), None where none names it."""
    words = content_words(phrase)
    best, overlap = None, 0.0
    for finding in findings:
        share = len(words & content_words(str(finding.get("observation", "")))) / len(words)
        if share > overlap:
            best, overlap = finding, share
    if best is None or overlap < 0.8:
        return None
    return not _GPT_ABSENT.search(str(best.get("status", "")))


def list_recall(judgment: dict) -> float:
    """Share of GPT-4o's reference key findings that one of its predicted key findings names
    (half its content words or more): its recall, recomputed from its own two lists."""
    predicted = [content_words(str(f.get("observation", "")))
                 for f in judgment.get("pred_key_findings") or []]
    gt = [content_words(str(f.get("observation", ""))) for f in judgment["gt_key_findings"]]
    return sum(bool(words) and any(len(words & p) >= len(words) / 2 for p in predicted)
               for words in gt) / len(gt)


def consistency_table(records: list[dict], scored: list[dict]) -> Table:
    """How far GPT-4o's numbers follow from its own key findings: on option items, the
    definitions (docs/design.md) applied to GPT-4o's extracted statuses of the option findings
    (the options fixing the truth); on all items, its recall recomputed from its two lists.
    Where these are low, a judge that applies the definitions consistently cannot be
    expected to agree with GPT-4o much better."""
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for record, item in zip(records, scored, strict=True):
        judgment = record["reference_judgment"]
        pred = judgment.get("pred_key_findings") or []
        phrases = [(p, t) for p, t in RulesJudge.option_phrases(record) if content_words(p)]
        if not record.get("options") or not phrases or not pred or item["completeness"] is None:
            continue
        said = [(gpt_says_present(p, pred), truth == "present") for p, truth in phrases]
        recalled = sum(s is not None and s == truth for s, truth in said) / len(phrases)
        wrong = sum(s is not None and s != truth for s, truth in said)
        rows["completeness"].append((item["completeness"], recalled, judgment["completeness"]))
        rows["factuality"].append((item["factuality"], 1 - wrong / len(pred),
                                   judgment["factuality"]))
    for record, item in zip(records, scored, strict=True):
        judgment = record["reference_judgment"]
        if judgment.get("gt_key_findings") and item["completeness"] is not None:
            rows["completeness, GPT-4o's two lists (all items)"].append((
                item["completeness"], list_recall(judgment), judgment["completeness"]))
    table = Table(title="consistency: the definitions applied to GPT-4o's own key findings",
                  title_justify="left")
    for column in ("component", "items", "ours Pearson", "GPT-4o's findings Pearson"):
        table.add_column(column, justify="left" if column == "component" else "right")
    for component, values in rows.items():
        ours, _ = correlations([o for o, _, _ in values], [g for *_, g in values])
        own, _ = correlations([f for _, f, _ in values], [g for *_, g in values])
        table.add_row(component, str(len(values)), f"{ours:.3f}", f"{own:.3f}")
    return table


def outcome_means_table(records: list[dict], scored: list[dict]) -> Table:
    """Means per task, model and outcome (ours / GPT-4o): where a ranking of models differs,
    this shows whether the judges part on right answers or on wrong ones."""
    groups: dict[tuple[str, str, str], list[tuple[dict, dict]]] = defaultdict(list)
    for record, item in zip(records, scored, strict=True):
        if item["completeness"] is not None:
            outcome = "right" if item["correct"] else "wrong"
            groups[(record["task"], record["model"], outcome)].append((record, item))
    table = Table(title="means by task, model and outcome (ours / GPT-4o)", title_justify="left")
    for column in ("task", "model", "answers", "items", "Rc", "Rf", "Re"):
        table.add_column(column, justify="left" if column in ("task", "model", "answers")
                         else "right")
    for (task, model, outcome), rows in sorted(groups.items()):
        if len({m for t, m, _ in groups if t == task}) < 2:
            continue
        means = [f"{np.mean([i[c] for _, i in rows]):.2f} / "
                 f"{np.mean([r['reference_judgment'][c] for r, _ in rows]):.2f}"
                 for c in COMPONENTS[:3]]
        table.add_row(task, model, outcome, str(len(rows)), *means)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--split", choices=("all", "calib", "holdout"), default="all",
                        help="which half of the records (by a hash of the id) to score")
    parser.add_argument("--judge", choices=("rules", "llm"), default="rules")
    parser.add_argument("--llm-url")
    parser.add_argument("--llm-model")
    parser.add_argument("--fit-calibration", type=Path, metavar="JSON",
                        help="fit the GPT-4o-scale calibration on these records (use "
                             "--split calib) and write it to JSON")
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data}: not found (pass --data FILE with reference_judgment)")
    records = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    records = [r for r in records if r.get("reference_judgment")
               and (args.split == "all" or split_of(str(r.get("id"))) == args.split)]
    for record in records:
        record.setdefault("model", "default")
    if args.judge == "llm":
        from chestx_reasoner.llm.client import LLMSettings
        from chestx_reasoner.scoring.judge_llm import LLMJudge

        judge = LLMJudge(LLMSettings(url=args.llm_url, model=args.llm_model))
    else:
        judge = RulesJudge()
    start = time.perf_counter()
    scored = []
    for i in range(0, len(records), 64):
        scored += score_items(records[i: i + 64], judge)
    seconds = time.perf_counter() - start
    table = Table(title=f"{args.judge} judge vs GPT-4o on {len(records)} items, split "
                  f"{args.split} "
                  f"({len(records) / seconds:.0f} items/s)", title_justify="left")
    for column in ("component", "items", "Pearson", "Spearman", "ours mean", "GPT-4o mean",
                   "system Pearson", "system Spearman"):
        table.add_column(column, justify="left" if column == "component" else "right")
    systems: dict[tuple[str, str], dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list))
    for component in COMPONENTS:
        ours, ref = [], []
        for record, item in zip(records, scored, strict=True):
            mine = item[component]
            theirs = reference_value(record["reference_judgment"], component)
            if mine is None or theirs is None:
                continue
            ours.append(mine)
            ref.append(theirs)
            systems[(record["model"], record["task"])][component].append((mine, theirs))
        pearson, spearman = correlations(ours, ref)
        keys = sorted(k for k in systems if systems[k][component])
        sys_ours = [np.mean([a for a, _ in systems[k][component]]) for k in keys]
        sys_ref = [np.mean([b for _, b in systems[k][component]]) for k in keys]
        sp, ss = correlations(sys_ours, sys_ref)
        table.add_row(component, str(len(ours)), f"{pearson:.3f}", f"{spearman:.3f}",
                      f"{np.mean(ours):.3f}", f"{np.mean(ref):.3f}", f"{sp:.3f}", f"{ss:.3f}")
    console = Console(width=max(Console().width, 110))  # logs are not 80 columns wide
    console.print(table)
    console.print(baseline_table(records, scored))
    if args.judge == "rules":
        console.print(consistency_table(records, scored))
    ranking = Table(title="model ranking per task by RadRScore (ours / GPT-4o)",
                    title_justify="left")
    for column in ("task", "ours", "GPT-4o", "same order"):
        ranking.add_column(column)
    for task in sorted({t for _, t in systems}):
        models = sorted(m for m, t in systems if t == task and systems[(m, t)]["radrscore"])
        if len(models) < 2:
            continue
        ours = {m: np.mean([a for a, _ in systems[(m, task)]["radrscore"]]) for m in models}
        gpt = {m: np.mean([b for _, b in systems[(m, task)]["radrscore"]]) for m in models}
        order_ours = sorted(models, key=ours.get, reverse=True)
        order_gpt = sorted(models, key=gpt.get, reverse=True)
        ranking.add_row(task, " > ".join(f"{m} {ours[m]:.2f}" for m in order_ours),
                        " > ".join(f"{m} {gpt[m]:.2f}" for m in order_gpt),
                        "yes" if order_ours == order_gpt else "no")
    console.print(ranking)
    console.print(outcome_means_table(records, scored))
    console.print(cells_table(records, scored))
    if args.fit_calibration:
        pairs: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(
            lambda: defaultdict(list))
        for record, item in zip(records, scored, strict=True):
            for component in COMPONENTS[:3]:
                theirs = record["reference_judgment"].get(component)
                if item[component] is not None and theirs is not None:
                    pairs[record["task"]][component].append((item[component], theirs))
        fitted = calibration.fit(pairs, f"{args.data.name}, split {args.split}, "
                                        f"{len(records)} items")
        args.fit_calibration.write_text(fitted.to_json(), encoding="utf-8")
        console.print(f"calibration fitted on {len(records)} items -> {args.fit_calibration}")


def cells_table(records: list[dict], scored: list[dict]) -> Table:
    """Model x task means, ours (raw and calibrated to GPT-4o's scale) against GPT-4o's:
    Pearson over the cells and the mean absolute error of the levels."""
    table = Table(title="model x task cells: ours raw / calibrated vs GPT-4o",
                  title_justify="left")
    for column in ("component", "cells", "r raw", "MAE raw", "r calibrated",
                   "MAE calibrated"):
        table.add_column(column, justify="left" if column == "component" else "right")
    for component in COMPONENTS:
        cells: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
        for record, item in zip(records, scored, strict=True):
            theirs = reference_value(record["reference_judgment"], component)
            calibrated = (item.get("calibrated") or {}).get(component)
            if item[component] is None or theirs is None or calibrated is None:
                continue
            cells[(record["model"], record["task"])].append((item[component], calibrated,
                                                             theirs))
        means = np.array([np.mean(v, axis=0) for v in cells.values() if len(v) >= 5])
        if len(means) < 3:
            continue
        raw_r, _ = correlations(list(means[:, 0]), list(means[:, 2]))
        cal_r, _ = correlations(list(means[:, 1]), list(means[:, 2]))
        table.add_row(component, str(len(means)), f"{raw_r:.3f}",
                      f"{np.abs(means[:, 0] - means[:, 2]).mean():.3f}", f"{cal_r:.3f}",
                      f"{np.abs(means[:, 1] - means[:, 2]).mean():.3f}")
    return table


if __name__ == "__main__":
    main()
