"""`chestx mine`: stream a benchmark file through a miner, verify, write, resume.

Every input item gets exactly one output record: the item plus `reasoning`, `key_findings` and
`mining` (backend, status kept | repaired | dropped | no report, and why). Records are appended
as they are made; a rerun skips the ids already written (`jsonl.ResumableWriter`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chestx_reasoner.jsonl import ResumableWriter, batched, read_checked, unique_ids
from chestx_reasoner.mining.rules import Chain, mine_rules
from chestx_reasoner.mining.verify import ChainVerifier, Verdict, split_pair_report, status_of

REQUIRED = ("id", "task", "question", "options", "answer", "report")
LISTS = ("options",)
BATCH = 64


@dataclass(slots=True)
class MineSummary:
    items: int = 0
    already_done: int = 0
    status: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def read_items(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Benchmark items, each checked for the fields mining needs (file:line errors)."""
    return (record for _, record in read_checked(path, REQUIRED, lists=LISTS, limit=limit))


def check_items(path: Path, limit: int | None = None) -> list[str]:
    """All ids, after checking every record and that no id repeats (before any work)."""
    return unique_ids(path, read_checked(path, REQUIRED, lists=LISTS, limit=limit))


class RulesBackend:
    """The offline miner plus its verifier; one repair pass, then drop."""

    name = "rules"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.verifier = ChainVerifier()

    def mine_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pairs = [split_pair_report(item["report"]) for item in items]
        texts = [text or "." for pair in pairs for text in pair]
        labeled = list(self.verifier.labeler.label_many(texts))
        statuses = [status_of(one) for one in labeled]  # the same reading, not a second pass
        out = []
        for i, item in enumerate(items):
            prior, current = labeled[2 * i], labeled[2 * i + 1]
            prior_status, status = statuses[2 * i], statuses[2 * i + 1]
            if isinstance(current, Exception):
                out.append(result_record(item, Chain([], []), "dropped", "unreadable report"))
                continue
            prior = None if isinstance(prior, Exception) or not pairs[i][0] else prior
            chain = mine_rules(item, current, prior, seed=self.seed)
            verdict = self.verifier.verify(item, chain.steps, status, prior_status)
            state = "kept"
            if not verdict.ok:
                chain = mine_rules(item, current, prior, seed=self.seed + 1, trust_answer=True)
                verdict = self.verifier.verify(item, chain.steps, status, prior_status)
                state = "repaired" if verdict.ok else "dropped"
            why = None if verdict.ok else failure_reason(verdict)
            out.append(result_record(item, chain if verdict.ok else Chain([], []), state, why))
        return out


def failure_reason(verdict: Verdict) -> str:
    """Why a chain was not kept, in one line (for the output record and the retry prompt)."""
    if not verdict.answer_ok:
        return "conclusion does not match the answer"
    c = verdict.contradictions[0]
    return f"step {c['step'] + 1} says {c['finding']} {c['said']}, the report {c['report']}"


def result_record(item: dict[str, Any], chain: Chain, status: str, why: str | None,
                  backend: str = "rules") -> dict[str, Any]:
    """The output line of one item: the item plus its chain, key findings and mining status."""
    record = dict(item)
    record["reasoning"] = chain.steps
    record["key_findings"] = chain.key_findings
    record["mining"] = {"backend": backend, "status": status, **({"why": why} if why else {})}
    return record


def mine_file(bench: Path, out: Path, backend: Any, limit: int | None = None,
              progress: Callable[[int], None] | None = None,
              on_start: Callable[[int, int], None] | None = None) -> MineSummary:
    """Mine every item of `bench` not yet in `out`; returns counts per status."""
    ids = check_items(bench, limit)
    summary = MineSummary()
    start = time.perf_counter()
    with ResumableWriter(out) as writer:
        todo = [i for i in ids if i not in writer]
        summary.already_done = len(ids) - len(todo)
        if on_start:
            on_start(len(todo), summary.already_done)
        pending = (item for item in read_items(bench, limit) if str(item["id"]) not in writer)
        for batch in batched(pending, BATCH):
            with_report = [item for item in batch if (item.get("report") or "").strip()]
            results = {r["id"]: r for r in backend.mine_batch(with_report)} if with_report \
                else {}
            for item in batch:
                record = results.get(item["id"]) or result_record(
                    item, Chain([], []), "no report", None, backend.name)
                writer.write(record)
                summary.status[record["mining"]["status"]] += 1
                summary.items += 1
                if progress:
                    progress(1)
    summary.seconds = time.perf_counter() - start
    return summary


