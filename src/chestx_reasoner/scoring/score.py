"""`chestx score`: parse, judge and aggregate predictions; the one entry point of evaluation.

    DIR/items.jsonl    one line per prediction (docs/design.md keys + the judge's evidence)
    DIR/summary.json   per model, per task and overall, with bootstrap 95 % CIs
    DIR/report.html    the self-contained report

Items are appended as they are scored and a rerun resumes (key: model + id). A malformed input
line is reported with its line number and counted, never fatal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from chestx_reasoner.bench.sample import sample_problem
from chestx_reasoner.jsonl import RecordError, ResumableWriter, record_id, write_atomic
from chestx_reasoner.progress import JobSummary
from chestx_reasoner.runinfo import claim_output, refuse_changed_inputs

log = logging.getLogger(__name__)
REQUIRED = ("id", "task", "answer")
BATCH = 64


def read_predictions(path: Path, malformed: list[str], seen: dict[str, str] | None = None
                     ) -> Iterator[dict[str, Any]]:
    """Prediction records; a bad line is logged as `file:line: why`, counted and skipped.
    `seen` (key -> where first read) spans several files when they are scored together."""
    seen = {} if seen is None else seen
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            record, problem = _parse_prediction(path, number, raw)
            if problem:
                malformed.append(f"{path}:{number}: {problem}")
                continue
            if record is None:
                continue
            key = _key(record)
            if key in seen:
                malformed.append(f"{path}:{number}: duplicate id {record['id']!r} for model "
                                 f"{record['model']!r} (first at {seen[key]})")
                continue
            seen[key] = f"{path}:{number}"
            yield record


def _parse_prediction(path: Path, number: int, raw: bytes
                      ) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None), (None, why the line is unusable) or (None, None) for a blank line."""
    try:
        line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        return None, f"not UTF-8 ({error.reason})"
    if not line.strip():
        return None, None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f"invalid JSON ({error.msg})"
    except RecursionError:
        return None, "JSON nested too deeply"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        return None, f"missing field {missing[0]!r}"
    try:
        record_id(path, number, record)
    except RecordError as error:
        return None, str(error).split(": ", 1)[1]
    if problem := sample_problem(record, prediction=True):
        return None, problem
    record["model"] = str(record.get("model") or "default")
    return record, None


def _key(record: dict[str, Any]) -> str:
    return f"{record['model']}\t{record['id']}"


def score_settings(judge: str, llm_model: str | None = None) -> dict[str, Any]:
    """What shapes a score folder (OUT/run.json): the same for `chestx score` and the demo."""
    return {"judge": judge, "llm_model": llm_model}


def _input_fields(record: dict[str, Any]) -> list[Any]:
    """What an item's scores are made from (an items.jsonl line keeps them all)."""
    return [record.get("task"), record.get("answer"), record.get("prediction"),
            record.get("options") or []]


def score_items(records: list[dict[str, Any]], judge: Any,
                failures: list[str] | None = None) -> list[dict[str, Any]]:
    """Score one batch: answer, outcome, judge; returns the items.jsonl records. An item the
    judge could not be asked about (`failure` set: a server down) is left out, its reason
    appended to `failures`."""
    from chestx_reasoner.scoring.outcome import answer_score
    from chestx_reasoner.scoring.parse import extract_reasoning, parse_answer, split_steps

    parsed = [parse_answer(r.get("prediction"), r.get("options") or [], r["task"])
              for r in records]
    # RaTEScore would download its model on first use: off unless a user wires it in.
    scores = [answer_score(r, p, use_ratescore=False) for r, p in zip(records, parsed,
                                                                    strict=True)]
    steps = [split_steps(extract_reasoning(r.get("prediction") or "")) for r in records]
    correct = [s == 1.0 for s in scores]
    judgments = judge.judge_many(records, steps, correct)
    # The offline judge's scores also on GPT-4o's scale (scoring/calibration.py).
    scale = getattr(judge, "calibration", None)
    out = []
    for record, answer, score, judgment in zip(records, parsed, scores, judgments, strict=True):
        if (failure := getattr(judgment, "failure", None)) is not None:
            if failures is not None:
                failures.append(failure)
            continue
        has_reference = bool(record.get("reasoning"))
        out.append({
            "key": _key(record), "id": record["id"], "model": record["model"],
            "task": record["task"], "source": record.get("source"),
            "parsed_answer": answer, "correct": score == 1.0, "answer_score": score,
            "completeness": judgment.completeness if has_reference else None,
            "factuality": judgment.factuality if has_reference else None,
            "effectiveness": judgment.effectiveness if has_reference else None,
            "radrscore": judgment.radrscore if has_reference else None,
            "pred_key_findings": judgment.pred_key_findings,
            "ref_key_findings": judgment.ref_key_findings,
            "steps": judgment.steps, "reference_steps": record.get("reasoning") or [],
            **({"calibrated": scale.apply(record["task"], {
                "completeness": judgment.completeness, "factuality": judgment.factuality,
                "effectiveness": judgment.effectiveness})}
               if scale is not None and has_reference else {}),
            "question": record.get("question"), "options": record.get("options") or [],
            "answer": record["answer"], "prediction": record.get("prediction"),
            "report": record.get("report") or "",
            "images": record.get("images") or [],
        })
    return out


def score_file(predictions: Path | Sequence[Path], out_dir: Path, judge: Any,
               progress: Callable[[int], None] | None = None,
               on_start: Callable[[int, int], None] | None = None,
               html: bool = True, settings: dict[str, Any] | None = None,
               overwrite: bool = False) -> tuple[JobSummary, dict[str, Any]]:
    """Score every prediction (of one file, or several: one per model) not yet in
    OUT/items.jsonl, then write summary and report.

    A prediction whose model and id are already scored from another prediction, answer or
    task is refused (RecordError): resuming would report the earlier file's verdicts for the
    new one. `settings` (the judge) are recorded in OUT/run.json and a rerun with others is
    refused; `overwrite` starts over.
    """
    from chestx_reasoner.scoring.stats import summarize

    files = [predictions] if isinstance(predictions, str | Path) else list(predictions)
    if settings is not None:
        claim_output(out_dir, "score", settings, overwrite=overwrite, folder=True, outputs=[
            out_dir / name for name in ("items.jsonl", "summary.json", "report.html")])
    out_dir.mkdir(parents=True, exist_ok=True)
    run = JobSummary()
    seen: dict[str, str] = {}
    records = [record for path in files
               for record in read_predictions(Path(path), run.malformed, seen)]
    refuse_changed_inputs(out_dir / "items.jsonl", ((seen[_key(r)], r) for r in records),
                          _key, _input_fields, "prediction, answer or task")
    failures: list[str] = []
    with ResumableWriter(out_dir / "items.jsonl", id_key="key") as writer:
        todo = [r for r in records if _key(r) not in writer]
        run.already_done = len(records) - len(todo)
        start = time.perf_counter()
        if on_start:
            on_start(len(todo), run.already_done)
        for i in range(0, len(todo), BATCH):
            batch = todo[i: i + BATCH]
            for item in score_items(batch, judge, failures):
                writer.write(item)
                run.done += 1
            if progress:
                progress(len(batch))
    run.seconds = time.perf_counter() - start
    for why in failures:
        run.fail(why)
    with open(out_dir / "items.jsonl", encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    summary = summarize(items)
    summary["malformed"] = len(run.malformed)
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    if html:
        from chestx_reasoner.scoring.html_report import write_report

        write_report(out_dir, summary, items)
    return run, summary
