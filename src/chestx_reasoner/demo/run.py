"""Run the demo's stages in order under one progress display, resuming finished work.

A stage is done when DIR/stages/<name>.json exists; it is written only after the stage
returns, so a stage cut by Ctrl-C or kill -9 simply runs again, and resumes from its own
outputs. DIR/demo.json pins the settings and the machine speed the plan was made for: a rerun
with other settings is refused rather than mixing two runs in one folder, and a rerun on a
busier machine resumes the same plan.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from chestx_reasoner import __version__
from chestx_reasoner.demo.plan import DemoPlan, DemoSettings, plan_for
from chestx_reasoner.demo.stages import STAGES, DemoPaths, Stage
from chestx_reasoner.jsonl import write_atomic
from chestx_reasoner.progress import RateColumn

SETTINGS_FILE = "demo.json"


class DemoFolderError(ValueError):
    """The folder holds something else: another demo's settings, or files that are not ours."""


@dataclass
class DemoResult:
    paths: DemoPaths
    plan: DemoPlan
    ran: list[str] = field(default_factory=list)       # stages run this time
    skipped: list[str] = field(default_factory=list)   # finished before
    seconds: float = 0.0


class _StageBar:
    """The `StageProgress` of one stage: a row of the shared display."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress, self.task = progress, task

    def start(self, total: int | None, done: int = 0) -> None:
        self.progress.reset(self.task, total=total, completed=done)
        self.progress.update(self.task, resumed=done)  # reset() would replace the fields

    def advance(self, k: int = 1) -> None:
        self.progress.advance(self.task, k)

    def status(self, text: str) -> None:
        self.progress.update(self.task, status=text)


def _measured_speed() -> tuple[float, float]:
    from chestx_reasoner.demo.calibrate import measure_speed, speed_level

    measured = measure_speed()
    return speed_level(measured), measured


def check_folder(paths: DemoPaths, settings: DemoSettings, overwrite: bool,
                 measure: Callable[[], tuple[float, float]] = _measured_speed) -> float:
    """Claim DIR for these settings, or refuse (DemoFolderError) when it holds another run;
    `overwrite` empties it first. Returns the speed to plan for: --speed when given, else the
    one kept in DIR, else `measure()`'s (level, raw measurement), which DIR then keeps."""
    marker = paths.root / SETTINGS_FILE
    stored: dict[str, Any] = {}
    if paths.root.exists() and not paths.root.is_dir():
        raise DemoFolderError(f"{paths.root}: exists and is not a folder (--out)")
    if overwrite and paths.root.is_dir():
        shutil.rmtree(paths.root)
    elif marker.is_file():
        try:
            stored = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            stored = {}
        previous = stored.get("settings") if isinstance(stored, dict) else None
        if previous != settings.to_dict():
            raise DemoFolderError(
                f"{paths.root} holds a demo with other settings ({_settings_text(previous)}); "
                "rerun with those, pass --overwrite to start over, or choose another --out")
    elif paths.root.is_dir() and any(paths.root.iterdir()):
        raise DemoFolderError(f"{paths.root} is not empty and holds no demo; choose another "
                              "--out (or pass --overwrite to replace its contents)")
    paths.root.mkdir(parents=True, exist_ok=True)
    speed, measured = settings.speed, None
    if speed is None and isinstance(stored.get("speed"), int | float) and stored["speed"] > 0:
        speed, measured = stored["speed"], stored.get("measured_speed")
    if speed is None:
        speed, measured = measure()
    write_atomic(marker, json.dumps({"settings": settings.to_dict(), "speed": speed,
                                     "measured_speed": measured,
                                     "chestx_reasoner": __version__}, indent=2) + "\n")
    return speed


def _settings_text(settings: Any) -> str:
    if not isinstance(settings, dict):
        return "unreadable"
    return ", ".join(f"--{k} {v}" for k, v in settings.items() if v is not None)


def record_path(paths: DemoPaths, stage: Stage) -> Path:
    """Where a finished stage's record (result line, seconds) is kept."""
    return paths.stages / f"{stage.name.replace(' ', '-')}.json"


def chestx_command() -> str:
    """How commands.sh starts `chestx`: the script beside this interpreter (a venv's bin/ is
    seldom on PATH after `make demo`), or `python -m chestx_reasoner` where there is none."""
    script = Path(sys.executable).parent / "chestx"
    if script.is_file():
        return shlex.quote(str(script.absolute()))
    return f"{shlex.quote(sys.executable)} -m chestx_reasoner"


def write_commands(paths: DemoPaths, plan: DemoPlan,
                   stages: tuple[Stage, ...] = STAGES) -> Path:
    """DIR/commands.sh: the `chestx` command each stage stands for, to rerun any by hand.

    Every command runs `$CHESTX`, set at the top to this install's `chestx` unless the caller's
    environment already names one, so the script works without the venv on PATH.
    """
    lines = ["#!/usr/bin/env bash", "# The commands `chestx demo` ran, stage by stage "
             "(same functions, same settings).", "set -euo pipefail",
             f'CHESTX="${{CHESTX:-{chestx_command()}}}"']
    for stage in stages:
        command = stage.command(paths, plan)
        if command[0] == "chestx":
            lines.append("$CHESTX " + shlex.join(command[1:]))
        else:
            lines.append("# " + " ".join(command))
    target = paths.root / "commands.sh"
    write_atomic(target, "\n".join(lines) + "\n")
    return target


def run_demo(out: Path, settings: DemoSettings, console: Console, *,
             overwrite: bool = False, verbose: bool = False,
             stages: tuple[Stage, ...] = STAGES, title: str = "chestx demo") -> DemoResult:
    """Run every stage not yet done; KeyboardInterrupt propagates after the display closes.
    `stages` are the demo's, or the demo's and more (`chestx reproduce`'s ablation)."""
    from chestx_reasoner.logging_setup import quiet_transformers

    quiet_transformers(verbose)
    if not verbose:  # the stage lines say what the stages' INFO logs would
        logging.getLogger("chestx_reasoner").setLevel(logging.WARNING)
    paths = DemoPaths(Path(out))
    if settings.speed is None and (overwrite or not (paths.root / SETTINGS_FILE).is_file()):
        console.print("measuring this machine's training speed (a few seconds) to plan "
                      "--minutes; pass --speed 1 for the reference machine's plan")
    speed = check_folder(paths, settings, overwrite)
    plan = plan_for(settings, speed)
    write_commands(paths, plan, stages)
    result = DemoResult(paths, plan)
    console.print(f"[bold]{title}[/] → {paths.root}  ({plan.describe()})")
    start = time.perf_counter()
    columns = (TextColumn("{task.description:<22}"), BarColumn(bar_width=28),
               MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn(), TextColumn("[dim]{task.fields[status]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        overall = progress.add_task("demo", total=len(stages), unit="", status="")
        for number, stage in enumerate(stages, start=1):
            record = record_path(paths, stage)
            if record.is_file():
                result.skipped.append(stage.name)
                progress.console.print(f"[green]✓[/] {stage.name:<22} done before: "
                                       f"{json.loads(record.read_text())['result']}")
                progress.advance(overall)
                continue
            progress.update(overall, description=f"demo {number}/{len(stages)}",
                            status=stage.name)
            task = progress.add_task(f"  {stage.name}", total=None, unit=stage.unit,
                                     status="")
            began = time.perf_counter()
            line = stage.run(paths, plan, _StageBar(progress, task))
            seconds = time.perf_counter() - began
            write_atomic(record, json.dumps({"result": line, "seconds": round(seconds, 1)})
                         + "\n")
            progress.remove_task(task)
            progress.console.print(f"[green]✓[/] {stage.name:<22} {line} [dim]({seconds:.0f} s)")
            result.ran.append(stage.name)
            progress.advance(overall)
        progress.update(overall, status="finished")
    result.seconds = time.perf_counter() - start
    return result
