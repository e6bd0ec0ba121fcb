"""`chestx demo` (the whole pipeline, end to end, on the embedded synthetic cohort) and
`chestx reproduce` (the demo plus the paper's process-reward ablation in miniature)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chestx_reasoner.cli.common import EXIT_INTERRUPTED, app, fail, table_width

Out = Annotated[Path, typer.Option("--out", help="Demo folder; a rerun resumes it.")]
Studies = Annotated[int, typer.Option(help="Synthetic studies in the cohort.")]
Minutes = Annotated[float, typer.Option(
    help="Time budget of the demo's stages; fixes the training steps once (not a timer).")]
Seed = Annotated[int, typer.Option(help="Seed of every stage.")]
Speed = Annotated[float | None, typer.Option(
    help="Plan the minutes for this speed relative to the reference 2-core machine (1: the "
    "README's plan and table on any machine). Default: measured at the first start and kept "
    "in DIR.", show_default=False)]
Overwrite = Annotated[bool, typer.Option(help="Start over in a folder that holds another run.")]


@app.command("demo")
def demo_command(out: Out = Path("demo-out"), studies: Studies = 1000, minutes: Minutes = 10.0,
                 seed: Seed = 0, speed: Speed = None, overwrite: Overwrite = False) -> None:
    """Run everything end to end on the embedded default: synthetic cohort, RadRBench-CXR
    benchmark, mined reasoning chains, a tiny Qwen2-VL trained with SFT then GRPO, predictions
    of four models, RadRScore and accuracy, and DIR/report.html.

    Every stage calls what its `chestx` command calls (DIR/commands.sh lists them). Interrupt
    it at any point and run the same command again: finished stages are kept, the cut one
    resumes, and the final table is the same as an uninterrupted run's.
    """
    from chestx_reasoner.demo.stages import STAGES

    result = _run(out, studies, minutes, seed, speed, overwrite, STAGES, "chestx demo")
    import json

    from chestx_reasoner.demo.report import results_table

    summary = json.loads((result.paths.scored / "summary.json").read_text(encoding="utf-8"))
    Console(highlight=False, width=table_width()).print(results_table(summary))
    _finished(result, "demo", f"report: {result.paths.report}")


@app.command("reproduce")
def reproduce_command(out: Out = Path("demo-out"), studies: Studies = 1000,
                      minutes: Minutes = 10.0, seed: Seed = 0, speed: Speed = None,
                      overwrite: Overwrite = False) -> None:
    """The paper's ablation in miniature: the demo (SFT, then GRPO with format + outcome +
    gated process rewards), plus a second GRPO from the same SFT model with equal steps and
    seed and the process reward weighted 0, all three predicted and scored together.

    Writes DIR/ablation.md and DIR/ablation.json: paired bootstrap differences (95 % CI) on
    accuracy and RadRScore, GRPO − SFT and process − outcome-only, per task and overall, and
    each GRPO run's rewards per quarter of its steps. In a finished demo folder with the same
    settings only the ablation stages run (a few minutes); --minutes scales both GRPO runs
    with the SFT. Resumes like `chestx demo`.
    """
    from chestx_reasoner.demo.reproduce import REPRODUCE_STAGES

    result = _run(out, studies, minutes, seed, speed, overwrite, REPRODUCE_STAGES,
                  "chestx reproduce")
    table = (result.paths.root / "ablation.md").read_text(encoding="utf-8")
    typer.echo(table)
    _finished(result, "reproduce", f"ablation: {result.paths.root / 'ablation.md'}")


def _run(out: Path, studies: int, minutes: float, seed: int, speed: float | None,
         overwrite: bool, stages: tuple, title: str) -> Any:
    from chestx_reasoner.demo.plan import DemoSettings
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
        return run_demo(out, settings, console, overwrite=overwrite, verbose=verbose,
                        stages=stages, title=title)
    except (DemoFolderError, RecordError, TrainError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print(f"interrupted; finished stages are kept in {out}: run the same command "
                      "again to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        fail(f"{exc.filename or out}: {exc.strerror or exc}")


def _finished(result: Any, what: str, where: str) -> None:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"{what} finished in {result.seconds / 60:.1f} min ({len(result.ran)} stages run, "
        f"{len(result.skipped)} done before); {where}; commands: "
        f"{result.paths.root / 'commands.sh'}")
