"""The `chestx` app and what its commands share: options, exit codes, one-line errors, progress.

Every command module (`label`, `data`, `mine`, …) imports from here only and registers its
commands on `app`; `chestx_reasoner.cli` imports them all. Why commands stay thin: every stage must
also be usable from Python and tests, so a command only parses options, streams records, shows
progress and turns bad input into a one-line error (exit 2).
"""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Iterator
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
from chestx_reasoner.logging_setup import setup_logging
from chestx_reasoner.progress import RateColumn

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_INCOMPLETE = 1  # the run finished but some items failed (not written): rerun to retry

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


class Engine(StrEnum):
    """Who does the work of a stage: our offline rules, or an OpenAI-compatible LLM."""

    rules = "rules"
    llm = "llm"


OverwriteOption = Annotated[bool, typer.Option(
    help="Start OUT over when it holds results made otherwise (other settings or inputs).")]
LLMRetriesOption = Annotated[int, typer.Option(
    "--llm-retries", min=0, help="Retries of a failed LLM request (timeouts, refused "
    "connections, 429/5xx), with backoff.")]


def reflow_help(typer_app: typer.Typer) -> None:
    """Join the wrapped lines of every command's docstring into whole paragraphs.

    Why: in rich mode Typer keeps a docstring's single line breaks (in the command list and
    after the first paragraph), so `--help` broke sentences where the source wrapped them,
    wherever the terminal was wider or narrower than the source.
    """
    for info in typer_app.registered_commands:
        text = info.help or inspect.getdoc(info.callback) or ""
        info.help = "\n\n".join(" ".join(part.split()) for part in text.split("\n\n"))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def require_llm(flag: str, url: str | None, model: str | None) -> None:
    """An llm engine (`flag` is --backend or --judge) needs a server and a model name."""
    if not (url and model):
        fail(f"{flag} llm needs --llm-url and --llm-model")


def fail(message: str) -> NoReturn:
    """Report bad input on one line, without a traceback, and exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def check_paths(data: Path, out: Path, image_root: Path | None) -> None:
    """One-line errors for a missing input file, an output that is a file, a missing image
    root: the checks every command that reads records and writes a folder makes first."""
    if not data.is_file():
        fail(f"{data}: no such file (--data)")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder (--out)")
    if image_root is not None and not image_root.is_dir():
        fail(f"{image_root}: no such folder (--image-root)")


def progress_bar(console: Console, unit: str = "reports") -> Progress:
    """The bar every long command shows: done/total, this run's rate, elapsed time and ETA."""
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


def table_width() -> int | None:
    """Wide enough for our tables when output is a file or a pipe (rich assumes 80)."""
    return None if Console().is_terminal else max(140, shutil.get_terminal_size().columns)


@contextmanager
def job_progress(console: Console, description: str, unit: str, where: Path,
                 ) -> Iterator[tuple[Any, Any]]:
    """A progress bar for a resumable job: `started(todo, done)` sizes it (and says what a
    rerun skips), `advance(k)` moves it; the two callbacks the stage runners take."""
    with progress_bar(console, unit=unit) as progress:
        task = progress.add_task(description, total=None)

        def started(todo: int, done: int) -> None:
            progress.reset(task, total=todo)  # the rate counts from here, as the summary's
            if done:
                console.print(f"resuming: {done} items already in {where}")

        yield started, lambda k: progress.advance(task, k)


@contextmanager
def job_errors(console: Console, out: Path, bad_input: tuple[type[BaseException], ...] = (),
               interrupted: str | None = None) -> Iterator[None]:
    """How every long job ends when it cannot finish: bad input (`bad_input`) on one line with
    exit 2, Ctrl-C with what is kept and how to resume (exit 130), an OS error naming the file."""
    try:
        yield
    except bad_input as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print(interrupted or f"interrupted; finished items are kept in {out}: "
                      "rerun to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
