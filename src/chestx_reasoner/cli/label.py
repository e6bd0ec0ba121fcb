"""`chestx label`: findings and the 14 CheXpert labels of each report, streamed and resumable."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chestx_reasoner.cli.common import EXIT_INTERRUPTED, app, fail, progress_bar
from chestx_reasoner.jsonl import RecordError, ResumableWriter, UniqueIds, iter_records, record_id
from chestx_reasoner.runinfo import claim_output, refuse_changed_inputs

log = logging.getLogger(__name__)


class Scope(StrEnum):
    """Which report sections study labels are read from (findings come from all of them)."""

    impression = "impression"
    report = "report"


# Keys `label` writes; an input key with one of these names is kept as `input_<name>`.
LABEL_KEYS = ("findings", "labels", "error")


@app.command("label")
def label_command(
    reports: Annotated[
        Path, typer.Option("--reports", help="Reports: JSONL or CSV with `id` and `report`.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Output JSONL; a rerun resumes it.")],
    scope: Annotated[
        Scope, typer.Option(help="Sections the 14 CheXpert labels are read from.")
    ] = Scope.impression,
    batch_size: Annotated[int, typer.Option(min=1, help="Reports per NLP batch.")] = 64,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N input records.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Start OUT over when it holds labels made otherwise (another --scope, other "
        "reports under the same ids).")] = False,
) -> None:
    """Label the findings of reports and their 14 CheXpert labels (1, 0, -1 or null).

    Each output line is the input record (every key kept, the report too, so finding offsets can
    be read against it) plus `findings` and `labels`; an unusable report (empty, not text) gets
    `error`, no findings and null labels instead of stopping the run. Bad input (invalid JSON, a
    missing `id`/`report`, a duplicate id) stops before any labeling with exit code 2.
    """
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if reports.resolve() == out.resolve():
        fail("--out must be a different file from --reports")
    try:
        ids = _check_input(reports, limit)
        claim_output(out, "label", {"scope": scope.value}, overwrite=overwrite)
        refuse_changed_inputs(out, ((f"{reports}:{line}", record) for line, _, record in
                                    _input_records(reports, limit)),
                              lambda r: str(r["id"]), lambda r: r.get("report"), "report")
        with ResumableWriter(out) as writer:
            if writer.truncated_bytes:
                log.warning("%s: cut a partial last line (%d bytes) left by an interrupted run",
                            out, writer.truncated_bytes)
            todo = sum(1 for rid in ids if rid not in writer)
            skipped = len(ids) - todo
            if todo == 0:
                console.print(f"nothing to do: all {len(ids)} records are already in {out}")
                return
            from chestx_reasoner.reports import CHEXPERT_OBSERVATIONS
            from chestx_reasoner.reports.labeler import ReportLabeler

            labeler = ReportLabeler(scope=scope.value)
            null_labels = dict.fromkeys(CHEXPERT_OBSERVATIONS)
            log.info("labeling %d reports (%d already in %s)", todo, skipped, out)
            try:
                labeled, errors = _label_stream(
                    labeler, reports, limit, writer, null_labels, batch_size, todo, console)
            except KeyboardInterrupt:
                console.print(f"interrupted after {writer.written} records; they are kept in "
                              f"{out}: rerun the same command to resume")
                raise typer.Exit(EXIT_INTERRUPTED) from None
    except RecordError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    console.print(f"labeled {labeled}, skipped {skipped} already in {out}, errors {errors}")


def _input_records(path: Path, limit: int | None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Yield (line, id, record) for the first `limit` records, each with an id and a report."""
    for count, (line, record) in enumerate(iter_records(path), start=1):
        if limit is not None and count > limit:
            return
        rid = record_id(path, line, record)
        if "report" not in record:
            raise RecordError(f"{path}:{line}: missing field 'report'")
        yield line, rid, record


def _check_input(path: Path, limit: int | None) -> UniqueIds:
    """Read all input once before any work, so bad input fails fast and the ETA is known."""
    ids = UniqueIds(path)
    for line, rid, _ in _input_records(path, limit):
        ids.add(line, rid)
    return ids


def _label_stream(
    labeler: Any,
    path: Path,
    limit: int | None,
    writer: ResumableWriter,
    null_labels: dict[str, None],
    batch_size: int,
    todo: int,
    console: Console,
) -> tuple[int, int]:
    """Stream records not yet in OUT through the labeler, writing each result as it comes."""
    from chestx_reasoner.reports import ReportError

    pending: deque[dict[str, Any]] = deque()  # records handed to the labeler, not yet written
    renamed: set[str] = set()

    def texts() -> Iterable[object]:
        for _, rid, record in _input_records(path, limit):
            if rid not in writer:
                pending.append(record)
                yield record["report"]

    labeled = errors = 0
    with progress_bar(console) as progress:
        task = progress.add_task("labeling", total=todo)
        for result in labeler.label_many(texts(), batch_size=batch_size):
            record = pending.popleft()
            output, clashes = _output_record(record)
            renamed |= clashes
            if isinstance(result, ReportError):  # an unusable report: recorded, not fatal
                output.update(error=str(result), findings=[], labels=dict(null_labels))
                errors += 1
            else:
                output.update(result.to_dict())
                labeled += 1
            writer.write(output)
            progress.advance(task)
    if pending:
        raise RuntimeError(f"labeler returned no result for {len(pending)} reports")
    if renamed:
        log.warning("input keys %s clash with label output; kept as %s", sorted(renamed),
                    sorted(f"input_{key}" for key in renamed))
    return labeled, errors


def _output_record(record: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The input record with `id` first and keys that clash with ours renamed `input_<key>`."""
    output: dict[str, Any] = {"id": record["id"]}
    clashes = {key for key in record if key in LABEL_KEYS}
    for key, value in record.items():
        if key != "id":
            output[f"input_{key}" if key in clashes else key] = value
    return output, clashes
