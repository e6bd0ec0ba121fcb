"""The `chestx` command line: thin wiring from options to the package's functions.

Why thin: every stage must also be usable from Python and tests, so commands only parse options,
stream records through `jsonl`, show progress and turn bad input into a one-line error (exit 2).
Stages not built yet are stubs declared in one table, `STUBS`, so `chestx --help` shows the whole
pipeline from day one.
"""

from __future__ import annotations

import logging
import shutil
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from chestx_reasoner import __version__
from chestx_reasoner.jsonl import RecordError, ResumableWriter, UniqueIds, iter_records, record_id
from chestx_reasoner.logging_setup import setup_logging
from chestx_reasoner.progress import RateColumn
from chestx_reasoner.runinfo import claim_output, refuse_changed_inputs

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_NOT_IMPLEMENTED = 1
EXIT_INTERRUPTED = 130
EXIT_INCOMPLETE = 1  # the run finished but some items failed (not written): rerun to retry

# Stages still to build: command path -> (issue that builds it, one-line help).
STUBS: dict[str, tuple[int, str]] = {}
GROUP_HELP: dict[str, str] = {
    "bench": "Inspect benchmarks.",
    "export": "Export data for other frameworks: verl (RL), lmms-eval (evaluation).",
    "model": "Make local models.",
    "train": "Train a model: SFT, then GRPO.",
}

app = typer.Typer(
    name="chestx",
    help="ChestX-Reasoner toolkit: label reports, build RadRBench-CXR, mine reasoning, score, "
    "train.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals can hold API keys
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"chestx-reasoner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    setup_logging(verbose)


# ---------------------------------------------------------------------------------------------
# label


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
        _fail("--out must be a different file from --reports")
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
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or out}: {exc.strerror or exc}")
    console.print(f"labeled {labeled}, skipped {skipped} already in {out}, errors {errors}")


class Engine(StrEnum):
    """Who does the work of a stage: our offline rules, or an OpenAI-compatible LLM."""

    rules = "rules"
    llm = "llm"


OverwriteOption = Annotated[bool, typer.Option(
    help="Start OUT over when it holds results made otherwise (other settings or inputs).")]
LLMRetriesOption = Annotated[int, typer.Option(
    "--llm-retries", min=0, help="Retries of a failed LLM request (timeouts, refused "
    "connections, 429/5xx), with backoff.")]


def _require_llm(flag: str, url: str | None, model: str | None) -> None:
    if not (url and model):
        _fail(f"{flag} llm needs --llm-url and --llm-model")


def _fail(message: str) -> NoReturn:
    """Report bad input on one line, without a traceback, and exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _check_paths(data: Path, out: Path, image_root: Path | None) -> None:
    """One-line errors for a missing input file, an output that is a file, a missing image
    root: the checks every command that reads records and writes a folder makes first."""
    if not data.is_file():
        _fail(f"{data}: no such file (--data)")
    if out.exists() and not out.is_dir():
        _fail(f"{out}: exists and is not a folder (--out)")
    if image_root is not None and not image_root.is_dir():
        _fail(f"{image_root}: no such folder (--image-root)")


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
    with _progress(console) as progress:
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


def _progress(console: Console, unit: str = "reports") -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def _table_width() -> int | None:
    """Wide enough for our tables when output is a file or a pipe (rich assumes 80)."""
    return None if Console().is_terminal else max(140, shutil.get_terminal_size().columns)


@contextmanager
def _job_progress(console: Console, description: str, unit: str, where: Path,
                  ) -> Iterator[tuple[Any, Any]]:
    """A progress bar for a resumable job: `started(todo, done)` sizes it (and says what a
    rerun skips), `advance(k)` moves it; the two callbacks the stage runners take."""
    with _progress(console, unit=unit) as progress:
        task = progress.add_task(description, total=None)

        def started(todo: int, done: int) -> None:
            progress.update(task, total=todo)
            if done:
                console.print(f"resuming: {done} items already in {where}")

        yield started, lambda k: progress.advance(task, k)


@contextmanager
def _job_errors(console: Console, out: Path, bad_input: tuple[type[BaseException], ...] = (),
                interrupted: str | None = None) -> Iterator[None]:
    """How every long job ends when it cannot finish: bad input (`bad_input`) on one line with
    exit 2, Ctrl-C with what is kept and how to resume (exit 130), an OS error naming the file."""
    try:
        yield
    except bad_input as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        console.print(interrupted or f"interrupted; finished items are kept in {out}: "
                      "rerun to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        _fail(f"{exc.filename or out}: {exc.strerror or exc}")


# ---------------------------------------------------------------------------------------------
# stubs for later stages


def _stub(command: str, issue: int) -> Any:
    def run(ctx: typer.Context) -> None:
        typer.echo(f"chestx {command}: not implemented yet (issue {issue})", err=True)
        raise typer.Exit(EXIT_NOT_IMPLEMENTED)

    return run


def _register_stubs(root: typer.Typer) -> None:
    """Add every STUBS entry; accepts any options so future command lines fail the same way."""
    groups: dict[str, typer.Typer] = {}
    for command, (issue, help_text) in STUBS.items():
        *group, name = command.split()
        parent = root
        if group:
            if group[0] not in groups:
                groups[group[0]] = typer.Typer(help=GROUP_HELP.get(group[0]), no_args_is_help=True)
                root.add_typer(groups[group[0]], name=group[0])
            parent = groups[group[0]]
        parent.command(
            name,
            help=f"{help_text} (not implemented yet: issue {issue})",
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(_stub(command, issue))


_register_stubs(app)

# Commands of the data stages live in their own module (imported here to register them).
from chestx_reasoner import (  # noqa: E402, F401
    cli_data,
    cli_demo,
    cli_export,
    cli_mine,
    cli_model,
    cli_score,
    cli_train,
)


def main() -> None:
    """Entry point of the `chestx` script."""
    app()


if __name__ == "__main__":  # `python -m chestx_reasoner.cli`: run the registered module's app
    from chestx_reasoner.cli import main as registered_main

    registered_main()
