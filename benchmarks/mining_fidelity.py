"""How faithful mined chains are on real reports, against references that share nothing with us.

    python benchmarks/mining_fidelity.py --data ../shared/data/radrscore-mimic-dev.jsonl
        [--split all|calib|holdout] [--backend rules|llm --llm-url URL --llm-model NAME]
        [--style full|brief]
        [--dump mined.jsonl] [--eye tests/fixtures/mining_fidelity_eye.jsonl]

Each distinct item of the dump (same task, report, question, options and answer: the file holds
each item once per answering model, under ids that differ between models) is mined once from
its report, question and gold answer, exactly as `chestx mine` would. Its chain is compared
with the official GPT-4o chain through GPT-4o's own key findings of that chain
(`reference_judgment.gt_key_findings`, read onto the columns by `fidelity_reference.py`, a
keyword table that does not use our labeler). Per task it prints:

- recall and precision of (finding, status) pairs: recall over all items (a dropped chain finds
  nothing) and over kept chains; precision of the pairs our chains state (`key_findings`).
  "uncertain" counts as "present" here (GPT-4o's extraction flattens hedges); the strict
  figures, hedges apart, follow the table;
- conflicts: chains stating a finding with the opposite polarity to GPT-4o's reading;
- unstated signs: chains that describe a textbook sign as seen ("a concave meniscus", "a
  cardiothoracic ratio above 0.5") that the report never mentions;
- distinct sentences across the task's chains, words and findings per chain (GPT-4o's beside);
- kept / repaired / dropped / no report, and items/s of the mining call alone (one core).

`--eye` reads a fixture of sampled chains checked by eye against their reports (does any
statement contradict the report?) and says how many still read the same today.

`--split` halves the items by the parity of sha1 of the first copy's id without its model
prefix (even = calib, odd = holdout): rules are developed on calib, holdout checks them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fidelity_reference import columns_named, reference_pairs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "radrscore-mimic-dev.jsonl"
TASKS = ("binary", "single", "multi", "multi_open", "temporal", "anomaly")
# Textbook signs a chain may name as what to look at, but not as seen unless the report says so.
SIGNS = ("meniscus", "cortical break", "cortex", "step-off", "cardiothoracic ratio",
         "perihilar haze", "lucent rim", "visceral pleural edge", "air bronchogram", "kerley",
         "costophrenic angle", "vessels reach the chest wall", "half of the thoracic width",
         "indistinct vessels", "volume loss", "fissure", "rounded")
_LOOKING = re.compile(r"\b(examine|examining|check|checked|look|looking|assess|evaluate|"
                      r"evaluating|inspect|search|review)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def item_key(record: dict) -> tuple:
    return (record["task"], record["report"], record["question"], tuple(record["options"]),
            record["answer"])


def load(path: Path) -> list[dict[str, Any]]:
    """Distinct items (first copy in file order with GPT-4o's key findings), each with its
    reference chain and reference pairs."""
    seen: dict[tuple, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        judgment = record.get("reference_judgment") or {}
        if item_key(record) in seen or not judgment.get("gt_key_findings"):
            continue
        item_id = str(record["id"]).split("/", 1)[-1]
        seen[item_key(record)] = {
            "id": item_id, "source": record.get("source"), "task": record["task"],
            "question": record["question"], "options": list(record["options"]),
            "answer": record["answer"], "report": record["report"],
            "gpt4o_chain": list(record.get("reasoning") or []),
            "reference": reference_pairs(judgment["gt_key_findings"]),
        }
    ids = Counter(item["id"] for item in seen.values())
    for item in seen.values():  # the same suffix names different items in different models
        if ids[item["id"]] > 1:
            digest = hashlib.sha1(repr(item_key(item)).encode()).hexdigest()[:8]
            item["id"] = f"{item['id']}#{digest}"
    return list(seen.values())


def half(item_id: str) -> str:
    return "calib" if int(hashlib.sha1(item_id.split("#")[0].encode()).hexdigest(), 16) % 2 == 0 \
        else "holdout"


def our_pairs(record: dict) -> list[tuple[str, str]]:
    """(column, status) of a mined chain's key findings. A finding outside the 13 columns
    ("spinal degeneration") is left out, as it is of the reference: the reference reads
    GPT-4o's findings onto the columns only, so it can neither confirm nor refute one."""
    out: dict[str, str] = {}
    for finding in record.get("key_findings") or []:
        for column in columns_named(finding["finding"])[:1]:
            out.setdefault(column, finding["status"])
    return list(out.items())


def polarity(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Pairs with "uncertain" read as "present": GPT-4o's key findings flatten hedges ("likely
    atelectasis" -> "confirmed"), so a chain that keeps the hedge still names the finding."""
    return {(c, "absent" if s == "absent" else "present") for c, s in pairs}


def unstated_signs(record: dict) -> list[str]:
    report = record["report"].lower()
    found = []
    for step in record.get("reasoning") or []:
        for sentence in _SENTENCE.split(step):
            if _LOOKING.search(sentence):
                continue
            found += [s for s in SIGNS if s in sentence.lower() and s not in report]
    return found


def conflicts(ours: list[tuple[str, str]], reference: list[tuple[str, str]]) -> bool:
    ref = dict(reference)
    return any({said, ref.get(column)} == {"present", "absent"} for column, said in ours)


def sentences(chain: list[str]) -> list[str]:
    return [s.strip() for step in chain for s in _SENTENCE.split(step) if s.strip()]


def make_backend(args: argparse.Namespace) -> Any:
    if args.backend == "llm":
        from chestx_reasoner.llm.client import LLMSettings
        from chestx_reasoner.mining.llm_miner import LLMBackend

        if not (args.llm_url and args.llm_model):
            sys.exit("--backend llm needs --llm-url and --llm-model")
        return LLMBackend(LLMSettings(url=args.llm_url, model=args.llm_model,
                                      concurrency=args.concurrency))
    from chestx_reasoner.mining.run import RulesBackend

    return RulesBackend(seed=0, style=args.style)


def mine(items: list[dict], backend: Any) -> tuple[list[dict], float]:
    from chestx_reasoner.mining.rules import Chain
    from chestx_reasoner.mining.run import BATCH, result_record

    fields = ("id", "source", "task", "question", "options", "answer", "report")
    out: list[dict] = []
    backend.mine_batch([{"id": "warm-up", "task": "binary", "question": "Does this chest X-ray "
                         "show edema?", "options": ["Yes", "No"], "answer": "B",
                         "report": "No edema."}])  # spaCy's first call sets itself up
    start = time.perf_counter()
    for i in range(0, len(items), BATCH):
        batch = [{k: item[k] for k in fields} for item in items[i:i + BATCH]]
        with_report = [b for b in batch if re.search(r"[A-Za-z]{3}", _strip_layout(b["report"]))]
        mined = {r["id"]: r for r in backend.mine_batch(with_report)} if with_report else {}
        out += [mined.get(b["id"]) or result_record(b, Chain([], []), "no report", None,
                                                    backend.name) for b in batch]
    return out, time.perf_counter() - start


def _strip_layout(report: str) -> str:
    return re.sub(r"(?i)(previous|current) report:", " ", report)


def summarise(items: list[dict], mined: list[dict]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        groups[item["task"]].append(i)
        groups["all"].append(i)
    for task, index in groups.items():
        hit = ref_n = ours_n = hit_kept = ref_kept = strict_hit = 0
        status: Counter[str] = Counter()
        conflicting = unstated = kept = 0
        ours_sentences: list[str] = []
        ref_sentences: list[str] = []
        words = findings = ref_words = ref_findings = 0
        for i in index:
            item, record = items[i], mined[i]
            status[record["mining"]["status"]] += 1
            ref = polarity(item["reference"])
            ours = polarity(our_pairs(record))
            strict_hit += len(set(item["reference"]) & set(our_pairs(record)))
            hit += len(ref & ours)
            ref_n += len(ref)
            ours_n += len(ours)
            ref_sentences += sentences(item["gpt4o_chain"])
            ref_words += sum(len(s.split()) for s in item["gpt4o_chain"])
            ref_findings += len(ref)
            if not record["reasoning"]:
                continue
            kept += 1
            hit_kept += len(ref & ours)
            ref_kept += len(ref)
            conflicting += conflicts(list(ours), item["reference"])
            unstated += bool(unstated_signs(record))
            ours_sentences += sentences(record["reasoning"])
            words += sum(len(s.split()) for s in record["reasoning"])
            findings += len(ours)
        rows[task] = {
            "n": len(index), "status": status, "kept_chains": kept,
            "recall": hit / ref_n if ref_n else 0.0,
            "recall_kept": hit_kept / ref_kept if ref_kept else 0.0,
            "precision": hit / ours_n if ours_n else 0.0,
            "strict_recall": strict_hit / ref_n if ref_n else 0.0,
            "strict_precision": strict_hit / ours_n if ours_n else 0.0,
            "conflict": conflicting / kept if kept else 0.0,
            "unstated": unstated / kept if kept else 0.0,
            "distinct": len(set(ours_sentences)) / len(ours_sentences) if ours_sentences else 0,
            "ref_distinct": len(set(ref_sentences)) / len(ref_sentences) if ref_sentences else 0,
            "words": words / kept if kept else 0.0, "ref_words": ref_words / len(index),
            "findings": findings / kept if kept else 0.0,
            "ref_findings": ref_findings / len(index),
        }
    return rows


def eye_check(path: Path, mined: list[dict]) -> str:
    """The by-eye fixture: how many sampled chains contradicted their report, and how many of
    them read the same now."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    now = {r["id"]: r["reasoning"] for r in mined}
    bad = sum(r["contradicts"] for r in records)
    here = [r for r in records if r["id"] in now]
    same = [r for r in here if now[r["id"]] == r["reasoning"]]
    return (f"by eye ({path.name}): {bad} of {len(records)} sampled chains state something "
            f"their report contradicts; {sum(r['contradicts'] for r in here)} of the "
            f"{len(here)} in this split; {len(same)} of those read the same today "
            f"({sum(r['contradicts'] for r in same)} contradicting)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--split", choices=("all", "calib", "holdout"), default="all")
    parser.add_argument("--backend", choices=("rules", "llm"), default="rules")
    parser.add_argument("--style", choices=("full", "brief"), default="full",
                        help="rules chains with or without their plan sentences")
    parser.add_argument("--llm-url")
    parser.add_argument("--llm-model")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--dump", type=Path, help="Write the mined records here.")
    parser.add_argument("--eye", type=Path, help="By-eye fixture of sampled chains.")
    args = parser.parse_args()
    items = [i for i in load(args.data) if args.split == "all" or half(i["id"]) == args.split]
    mined, seconds = mine(items, make_backend(args))
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as handle:
            for item, record in zip(items, mined, strict=True):
                extra = {"reference": item["reference"], "gpt4o_chain": item["gpt4o_chain"],
                         "unstated_signs": unstated_signs(record)}
                handle.write(json.dumps({**record, **extra}) + "\n")
    rows = summarise(items, mined)
    style = f", style {args.style}" if args.backend == "rules" else ""
    table = Table(title=f"mining fidelity: {args.data.name}, split {args.split}, "
                        f"backend {args.backend}{style}")
    columns = ("task", "items", "kept/rep/drop/none", "recall", "recall kept", "precision",
               "conflict", "unstated signs", "distinct sent. (GPT-4o)", "words (GPT-4o)",
               "findings (GPT-4o)")
    for column in columns:
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in (*[t for t in TASKS if t in rows], "all"):
        r = rows[task]
        s = r["status"]
        table.add_row(task, str(r["n"]),
                      f"{s['kept']}/{s['repaired']}/{s['dropped']}/{s['no report']}",
                      f"{r['recall']:.2f}", f"{r['recall_kept']:.2f}", f"{r['precision']:.2f}",
                      f"{r['conflict']:.0%}", f"{r['unstated']:.0%}",
                      f"{r['distinct']:.0%} ({r['ref_distinct']:.0%})",
                      f"{r['words']:.0f} ({r['ref_words']:.0f})",
                      f"{r['findings']:.1f} ({r['ref_findings']:.1f})")
    console = Console(width=200)
    console.print(table)
    overall = rows["all"]
    console.print(f"with hedges kept apart (uncertain != present): recall "
                  f"{overall['strict_recall']:.2f}, precision {overall['strict_precision']:.2f}")
    console.print(f"{len(items)} items mined in {seconds:.2f} s: "
                  f"{len(items) / seconds:.0f} items/s on one core ({args.backend})")
    reasons: Counter[str] = Counter()
    for record in mined:
        if record["mining"]["status"] in ("repaired", "dropped"):
            for why in str(record["mining"].get("why") or "?").split("; "):
                why = re.sub(r"step [0-9]+", "step N", why)
                reasons[f"{record['mining']['status']}: {why}"] += 1
    console.print("most frequent reasons: " + "; ".join(f"{why} ({n})" for why, n in
                                                        reasons.most_common(8)))
    if args.eye:
        console.print(eye_check(args.eye, mined))


if __name__ == "__main__":
    main()
