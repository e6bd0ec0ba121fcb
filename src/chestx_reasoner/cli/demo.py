"""`chestx demo`: the whole pipeline, end to end, on the embedded synthetic cohort."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chestx_reasoner.cli.app import EXIT_INTERRUPTED, app, fail, table_width


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Demo folder; a rerun resumes it.")
                   ] = Path("demo-out"),
    studies: Annotated[int, typer.Option(help="Synthetic studies in the cohort.")] = 1000,
    minutes: Annotated[float, typer.Option(
        help="Time budget; fixes the training steps once (not a timer).")] = 8.0,
    seed: Annotated[int, typer.Option(help="Seed of every stage.")] = 0,
    speed: Annotated[float | None, typer.Option(
        help="Plan the minutes for this speed relative to the reference 2-core machine (1: "
        "the README's plan and table on any machine). Default: measured at the first start "
        "and kept in DIR.", show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Start over in a folder that holds another "
                                            "run.")] = False,
) -> None:
    """Run everything end to end on the embedded default: synthetic cohort, RadRBench-CXR
    benchmark, mined reasoning chains, a tiny Qwen2-VL trained with SFT then GRPO, predictions
    of four models, RadRScore and accuracy, and DIR/report.html.

    Every stage calls what its `chestx` command calls (DIR/commands.sh lists them). Interrupt
    it at any point and run the same command again: finished stages are kept, the cut one
    resumes, and the final table is the same as an uninterrupted run's.
    """
    from chestx_reasoner.demo.plan import DemoSettings
    from chestx_reasoner.demo.report import results_table
    from chestx_reasoner.demo.run import DemoFolderError, run_demo
    from chestx_reasoner.jsonl import RecordError
    from chestx_reasoner.train.sft import TrainError

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        settings = DemoSettings(studies=studies, minutes=minutes, seed=seed, speed=speed)
    except ValueError as exc:
        fail(str(exc))
    verbose = logging.getLogger().level <= logging.DEBUG
    try:
        result = run_demo(out, settings, console, overwrite=overwrite, verbose=verbose)
    except (DemoFolderError, RecordError, TrainError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"interrupted; finished stages are kept in {out}: run the same command "
                      "again to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")
    import json

    summary = json.loads((result.paths.scored / "summary.json").read_text(encoding="utf-8"))
    Console(highlight=False, width=table_width()).print(results_table(summary))
    minutes_taken = result.seconds / 60
    console.print(f"demo finished in {minutes_taken:.1f} min ({len(result.ran)} stages run, "
                  f"{len(result.skipped)} done before); report: {result.paths.report}; "
                  f"commands: {result.paths.root / 'commands.sh'}")
