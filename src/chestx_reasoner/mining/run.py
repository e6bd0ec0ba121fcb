"""`chestx mine`: stream a benchmark file through a miner, verify, write, resume.

Every input item gets exactly one output record: the item plus `reasoning`, `key_findings` and
`mining` (backend, status kept | repaired | dropped | no report, and why). Records are appended
as they are made; a rerun skips the ids already written (`jsonl.ResumableWriter`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from chestx_reasoner.bench.sample import sample_problem
from chestx_reasoner.jsonl import (
    RecordError,
    ResumableWriter,
    batched,
    read_checked,
    unique_ids,
)
from chestx_reasoner.mining.columns import UnknownFinding, resolve_column
from chestx_reasoner.mining.rules import Chain, Draft, mine_rules
from chestx_reasoner.mining.verify import ChainVerifier, Verdict, status_of
from chestx_reasoner.models.images import rebase_images
from chestx_reasoner.progress import JobSummary
from chestx_reasoner.reports.sections import split_temporal
from chestx_reasoner.runinfo import claim_output, refuse_changed_inputs

REQUIRED = ("id", "task", "question", "options", "answer", "report")
FAILED = "failed"  # a backend's status for an item whose calls failed: not written, retried
LISTS = ("options",)
BATCH = 64


def read_items(path: Path, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Benchmark items, each checked for the fields mining needs (file:line errors)."""
    return (record for _, record in read_checked(path, REQUIRED, lists=LISTS, limit=limit,
                                                     check=sample_problem))


def check_items(path: Path, limit: int | None = None) -> list[str]:
    """All ids, after checking every record, that no id repeats and that a `finding` names a
    known finding in any case or wording ("fracture" for "Fracture"), before any work."""
    return unique_ids(path, _known_findings(path, read_checked(
        path, REQUIRED, lists=LISTS, limit=limit, check=sample_problem)))


def _known_findings(path: Path, records: Iterator[tuple[int, dict[str, Any]]]
                    ) -> Iterator[tuple[int, dict[str, Any]]]:
    for line, record in records:
        if record.get("finding"):
            try:
                resolve_column(record["finding"])
            except UnknownFinding as error:
                raise RecordError(f"{path}:{line}: field 'finding': {error}") from None
        yield line, record


class RulesBackend:
    """The offline miner plus its verifier: a chain whose quoted sentence says something the
    report contradicts, or that its conclusion does not follow from, is repaired once (those
    findings stated in plain words), then dropped; every repair and drop says why."""

    name = "rules"

    def __init__(self, seed: int = 0, style: str = "full") -> None:
        self.seed = seed
        self.style = style
        self.verifier = ChainVerifier()

    def mine_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pairs = [split_temporal(item["report"]) for item in items]
        texts = [text or "." for pair in pairs for text in pair]
        labeled = self.verifier.label_cached(texts)
        statuses = [status_of(one) for one in labeled]  # the same reading, not a second pass
        drafts: list[Draft | dict[str, Any]] = []
        priors = [None if isinstance(labeled[2 * i], Exception) or not pairs[i][0]
                  else labeled[2 * i] for i in range(len(items))]
        for i, item in enumerate(items):
            current = labeled[2 * i + 1]
            if isinstance(current, Exception) or not pairs[i][1].strip():
                # An unreadable report (e.g. over the NLP's length limit) says why, as does
                # a temporal pair cut after "Current Report:", which tells no change to mine.
                if pairs[i][0] and not pairs[i][1].strip():
                    why = "the current report is empty"
                else:
                    why = str(current) if isinstance(current, Exception) else None
                drafts.append(result_record(item, Chain([], []), "no report", why))
                continue
            try:
                drafts.append(mine_rules(item, current, priors[i], seed=self.seed,
                                             style=self.style))
            except UnknownFinding as error:
                drafts.append(result_record(item, Chain([], []), "dropped", str(error)))
        self.verifier.prefetch([d.chain.steps for d in drafts if isinstance(d, Draft)])
        out = []
        for i, (item, draft) in enumerate(zip(items, drafts, strict=True)):
            if isinstance(draft, dict):
                out.append(draft)
                continue
            out.append(self._check(item, draft, labeled[2 * i + 1], priors[i],
                                   statuses[2 * i + 1], statuses[2 * i]))
        return out

    def _check(self, item: dict[str, Any], draft: Draft, current: Any, prior: Any,
               status: dict[str, str], prior_status: dict[str, str]) -> dict[str, Any]:
        if draft.refusal:
            return result_record(item, Chain([], []), "dropped", draft.refusal)
        repairs = [f"left out {', '.join(draft.left_out)} (present, not in the answer)"] \
            if draft.left_out else []
        verdict = self.verifier.verify(item, draft.chain.steps, status, prior_status)
        if not verdict.ok:
            bad = {c["step"] for c in verdict.contradictions}
            if verdict.inconsistent:
                bad.add(verdict.inconsistent[0])
            plain = frozenset(c for step in bad for c in draft.quoted.get(step, []))
            why = failure_reason(verdict)
            if not plain or not verdict.answer_ok:
                return result_record(item, Chain([], []), "dropped", why)
            draft = mine_rules(item, current, prior, seed=self.seed, plain=plain,
                               style=self.style)
            verdict = self.verifier.verify(item, draft.chain.steps, status, prior_status)
            if not verdict.ok:
                return result_record(item, Chain([], []), "dropped", failure_reason(verdict))
            repairs.append(f"plain words instead of a quote: {why}")
        state = "repaired" if repairs else "kept"
        return result_record(item, draft.chain, state, "; ".join(repairs) or None)


def failure_reason(verdict: Verdict) -> str:
    """Why a chain was not kept, in one line (for the output record and the retry prompt)."""
    if not verdict.answer_ok:
        return "conclusion does not match the answer"
    if verdict.contradictions:
        c = verdict.contradictions[0]
        return f"step {c['step'] + 1} says {c['finding']} {c['said']}, the report {c['report']}"
    step, why = verdict.inconsistent or (0, "")
    return f"step {step + 1}: {why}"


def result_record(item: dict[str, Any], chain: Chain, status: str, why: str | None,
                  backend: str = "rules") -> dict[str, Any]:
    """The output line of one item: the item plus its chain, key findings and mining status."""
    record = dict(item)
    record["reasoning"] = chain.steps
    record["key_findings"] = chain.key_findings
    record["mining"] = {"backend": backend, "status": status, **({"why": why} if why else {})}
    return record


def mine_settings(backend: str, seed: int, llm_model: str | None = None,
                  style: str = "full") -> dict[str, Any]:
    """What shapes a mined file (recorded beside it): the same for `chestx mine` and the demo."""
    return {"backend": backend, "seed": seed, "llm_model": llm_model, "style": style}


def _input_fields(record: dict[str, Any]) -> list[Any]:
    """What a chain is mined from: an output made from other values is another run's."""
    return [record.get(k) for k in ("task", "question", "options", "answer", "report")]


def check_resume(bench: Path, out: Path, limit: int | None = None) -> None:
    """Refuse (RecordError) an id already in `out` that was mined from other input values."""
    refuse_changed_inputs(
        out, ((f"{bench}:{line}", record) for line, record in
              read_checked(bench, REQUIRED, lists=LISTS, limit=limit)),
        lambda r: str(r["id"]), _input_fields, "item (task, question, options, answer or report)")


def mine_file(bench: Path, out: Path, backend: Any, limit: int | None = None,
              progress: Callable[[int], None] | None = None,
              on_start: Callable[[int, int], None] | None = None,
              settings: dict[str, Any] | None = None, overwrite: bool = False) -> JobSummary:
    """Mine every item of `bench` not yet in `out`; the summary's outcomes count statuses.

    `settings` (what shapes the chains: backend, seed, model) are recorded beside `out` and a
    rerun with others is refused (`runinfo`); `overwrite` starts over. An item whose backend
    calls failed (`status == "failed"`: a server down) is not written, so a rerun retries it.
    """
    bench, out = Path(bench), Path(out)
    ids = check_items(bench, limit)
    if settings is not None:
        claim_output(out, "mine", settings, overwrite=overwrite)
    check_resume(bench, out, limit)
    summary = JobSummary()
    with ResumableWriter(out) as writer:
        todo = [i for i in ids if i not in writer]
        summary.already_done = len(ids) - len(todo)
        start = time.perf_counter()
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
                status = record["mining"]["status"]
                if status == FAILED:
                    summary.fail(record["mining"]["why"])
                else:
                    # Paths that resolve from OUT's folder, as every reader of OUT assumes.
                    if "images" in record:
                        record["images"] = rebase_images(record["images"], bench.parent,
                                                         out.parent)
                    writer.write(record)
                    summary.outcomes[status] += 1
                    summary.done += 1
                if progress:
                    progress(1)
    summary.seconds = time.perf_counter() - start
    return summary


