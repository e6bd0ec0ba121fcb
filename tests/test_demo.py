"""`chestx demo`: the plan, the folder rules, and the whole chain run short, killed twice
(kill -9 mid-SFT, then mid-GRPO) and resumed, against an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import chestx_reasoner
from chestx_reasoner.cli import app
from chestx_reasoner.demo.plan import DemoSettings, plan_for
from chestx_reasoner.demo.report import results_table
from chestx_reasoner.demo.run import DemoFolderError, check_folder, write_commands
from chestx_reasoner.demo.stages import STAGES, DemoPaths

# The short demo CI runs, as the README shows it: every stage, a few dozen training steps.
README_LINE = next(line for line in (Path(__file__).parents[1] / "README.md").read_text(
    encoding="utf-8").splitlines() if line.startswith(".venv/bin/chestx demo "))
_ARGS = shlex.split(README_LINE)[2:]
SHORT = _ARGS[:_ARGS.index("--out")] + _ARGS[_ARGS.index("--out") + 2:]  # --out is the test's
ENV = {**os.environ, "PYTHONPATH": str(Path(chestx_reasoner.__file__).parents[1]),
       "COLUMNS": "120"}


def test_plan_is_fixed_by_the_settings_and_grows_with_the_minutes() -> None:
    short, long = plan_for(DemoSettings(1000, 3)), plan_for(DemoSettings(1000, 12))
    assert plan_for(DemoSettings(1000, 3)) == short
    assert long.sft_steps > short.sft_steps > 0 and long.grpo_steps > short.grpo_steps > 0
    assert short.save_steps >= 5
    assert "SFT" in short.describe() and "GRPO" in short.describe()
    tiny = plan_for(DemoSettings(100, 0.1))  # a budget smaller than the fixed stages
    assert tiny.sft_steps >= 10 and tiny.grpo_steps >= 4


@pytest.mark.parametrize(("args", "message"), [
    (["--studies", "10"], "--studies must be at least 50"),
    (["--minutes", "0"], "--minutes must be positive"),
    (["--speed", "0"], "--speed must be in (0, 10]"),
])
def test_bad_settings_fail_on_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_commands_sh_runs_this_install_chestx_without_it_on_path(tmp_path: Path) -> None:
    paths = DemoPaths(tmp_path / "demo")
    paths.root.mkdir()
    script = write_commands(paths, plan_for(DemoSettings(1000, 3), 1.0))
    text = script.read_text()
    default = text.splitlines()[3]
    assert default.startswith('CHESTX="${CHESTX:-') and (
        str(Path(sys.executable).parent / "chestx") in default or "-m chestx_reasoner" in default)
    commands = [line for line in text.splitlines() if line and not line.startswith(("#", "set "))
                and not line.startswith("CHESTX=")]
    assert commands and all(line.startswith("$CHESTX ") for line in commands)
    # With CHESTX pointed at echo the script prints each command instead of running it.
    echoed = subprocess.run(["bash", str(script)], env={**os.environ, "CHESTX": "echo",
                            "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
    assert len(echoed.stdout.splitlines()) == len(commands)
    assert echoed.stdout.splitlines()[0].startswith("synth --out ")


def _measured(level: float = 1.0) -> Callable[[], tuple[float, float]]:
    return lambda: (level, level * 0.97)


def _never() -> tuple[float, float]:
    raise AssertionError("the speed was measured again")


def test_folder_is_claimed_for_one_set_of_settings(tmp_path: Path) -> None:
    paths = DemoPaths(tmp_path / "d")
    check_folder(paths, DemoSettings(100, 1), overwrite=False, measure=_measured())
    check_folder(paths, DemoSettings(100, 1), overwrite=False, measure=_never)  # same settings
    with pytest.raises(DemoFolderError, match=r"\(--studies 100, --minutes 1, --seed 0\)"):
        check_folder(paths, DemoSettings(200, 1), overwrite=False, measure=_never)
    (paths.root / "stages").mkdir()
    check_folder(paths, DemoSettings(200, 1), overwrite=True, measure=_measured())  # over
    assert not (paths.root / "stages").exists()
    assert json.loads((paths.root / "demo.json").read_text())["settings"]["studies"] == 200
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DemoFolderError, match="not empty and holds no demo"):
        check_folder(DemoPaths(foreign), DemoSettings(100, 1), overwrite=False,
                     measure=_never)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_a_slower_machine_gets_fewer_steps_that_fit_the_same_minutes() -> None:
    reference = plan_for(DemoSettings(1000, 8), speed=1.0)
    slow = plan_for(DemoSettings(1000, 8), speed=0.5)
    assert slow.sft_steps < reference.sft_steps and slow.grpo_steps < reference.grpo_steps
    for plan in (reference, slow):  # both planned to the budget, within rounding
        assert abs(sum(plan.estimates.values()) - 8 * 60) < 5
    assert "0.5x the reference" in slow.describe()
    assert plan_for(DemoSettings(1000, 8, speed=1.0), speed=0.5) == plan_for(
        DemoSettings(1000, 8, speed=1.0))  # --speed wins over a measurement


def test_the_measured_speed_is_kept_and_resumed_and_speed_pins_the_plan(tmp_path: Path
                                                                        ) -> None:
    paths = DemoPaths(tmp_path / "d")
    assert check_folder(paths, DemoSettings(100, 1), False, measure=_measured(0.64)) == 0.64
    marker = json.loads((paths.root / "demo.json").read_text())
    assert marker["speed"] == 0.64 and marker["measured_speed"] == pytest.approx(0.62, 0.01)
    # a rerun on a busier (or quieter) machine resumes the same plan: nothing is re-measured
    assert check_folder(paths, DemoSettings(100, 1), False, measure=_never) == 0.64
    pinned = DemoPaths(tmp_path / "pinned")
    assert check_folder(pinned, DemoSettings(100, 1, speed=1.0), False, measure=_never) == 1.0
    with pytest.raises(DemoFolderError, match=r"--seed 0, --speed 1\.0\)"):  # another run
        check_folder(pinned, DemoSettings(100, 1), False, measure=_never)


def test_speed_is_measured_from_real_training_steps_and_rounded_down_to_a_level() -> None:
    from chestx_reasoner.demo.calibrate import SPEED_LEVELS, measure_speed, speed_level

    measured = measure_speed(steps=2)
    assert 0.01 < measured < 100
    assert speed_level(measured) in SPEED_LEVELS
    assert speed_level(0.5) == 0.5 and speed_level(0.3) == 0.32 and speed_level(3.0) == 1.0
    assert speed_level(float("nan")) == SPEED_LEVELS[-1]


def test_every_stage_names_a_real_chestx_command(tmp_path: Path) -> None:
    import typer

    root = typer.main.get_command(app)
    from chestx_reasoner.demo.reproduce import REPRODUCE_STAGES  # the demo's and more

    paths, plan = DemoPaths(tmp_path), plan_for(DemoSettings())
    for stage in REPRODUCE_STAGES:
        command = stage.command(paths, plan)
        if command[0] != "chestx":
            continue
        words = [w for w in command[1:] if not w.startswith("-")][:2]
        group = words[:2] if words[0] in ("model", "train") else words[:1]
        target = root
        for name in group:
            target = target.commands[name]  # KeyError: no such command
        options = {opt for param in target.params for opt in param.opts}
        for option in (w for w in command if w.startswith("--")):
            assert option in options, (stage.name, option)


def _demo(out: Path, log: Path) -> subprocess.Popen:
    handle = open(log, "a")  # noqa: SIM115 (closed by the caller's wait)
    return subprocess.Popen([sys.executable, "-m", "chestx_reasoner", "demo", "--out", str(out),
                             *SHORT], env=ENV, stdout=handle, stderr=handle, text=True)


def _stop_when(proc: subprocess.Popen, ready: callable, sig: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    assert proc.poll() is None, "the demo ended before it could be interrupted"
    proc.send_signal(sig)
    proc.wait(timeout=120)


def _checkpoint(folder: Path) -> bool:
    return any(folder.glob("checkpoint-*/trainer_state.json"))


def _scored(out: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((out / "scored" / "summary.json").read_text())
    items = [json.loads(line) for line in (out / "scored" / "items.jsonl").read_text().splitlines()]
    return summary, sorted(items, key=lambda i: i["key"])


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_short_demo_end_to_end_and_interrupted_twice_gives_the_same_table(tmp_path: Path
                                                                          ) -> None:
    straight = tmp_path / "straight"
    done = subprocess.run([sys.executable, "-m", "chestx_reasoner", "demo", "--out",
                           str(straight), *SHORT], env=ENV, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "test set: accuracy by task and RadRScore" in done.stdout
    for model in ("random", "reference", "tiny-base", "tiny-sft", "tiny-sft-grpo"):
        assert model in done.stdout
    summary, items = _scored(straight)
    assert list(summary["models"]) == ["random", "reference", "tiny-base", "tiny-sft",
                                       "tiny-sft-grpo"]
    vision_card = json.loads((straight / "models" / "vision" / "chestx_vision.json").read_text())
    assert vision_card["images"] > 0 and vision_card["holdout_auc"]
    assert summary["models"]["reference"]["overall"]["accuracy"] == 1.0
    assert summary["models"]["tiny-sft"]["overall"]["radrscore"] is not None
    page = (straight / "report.html").read_text()
    for needle in ("SFT: training loss", "GRPO: mean reward per step", "data:image/jpeg;base64",
                   'class="step ', "Pipeline", "chestx train sft", "tiny-sft-grpo"):
        assert needle in page, needle
    assert (straight / "commands.sh").read_text().count("$CHESTX ") >= len(STAGES) - 1
    _screenshot_shows_table_chart_and_coloured_steps(straight / "report.html", tmp_path)

    rerun = subprocess.run([sys.executable, "-m", "chestx_reasoner", "demo", "--out",
                            str(straight), *SHORT], env=ENV, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stderr.count("done before:") == len(STAGES)
    assert rerun.stdout == done.stdout  # the same table
    _reproduce_reuses_the_demo_and_writes_the_ablation(straight)

    cut, log = tmp_path / "cut", tmp_path / "cut.log"
    proc = _demo(cut, log)  # kill -9 once SFT has saved a checkpoint
    _stop_when(proc, lambda: _checkpoint(cut / "models" / "tiny-sft"), signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    proc = _demo(cut, log)  # and again once GRPO has saved one
    _stop_when(proc, lambda: _checkpoint(cut / "models" / "tiny-sft-grpo"), signal.SIGKILL)
    resumed = subprocess.run([sys.executable, "-m", "chestx_reasoner", "demo", "--out", str(cut),
                              *SHORT], env=ENV, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "done before" in resumed.stderr
    assert resumed.stdout == done.stdout  # the same final table
    cut_summary, cut_items = _scored(cut)
    assert cut_summary == summary
    assert [i["prediction"] for i in cut_items] == [i["prediction"] for i in items]


def _reproduce_reuses_the_demo_and_writes_the_ablation(out: Path) -> None:
    """`chestx reproduce` in a finished demo folder runs only the ablation's stages: a second
    GRPO with the process reward weighted 0 and as many steps, its predictions, the scoring of
    the three trained models together, and the paired differences."""
    from chestx_reasoner.demo.reproduce import OUTCOME_ONLY, REPRODUCE_STAGES

    run = subprocess.run([sys.executable, "-m", "chestx_reasoner", "reproduce", "--out",
                          str(out), *SHORT], env=ENV, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stderr.count("done before:") == len(STAGES)
    assert len(REPRODUCE_STAGES) - len(STAGES) == 4
    card = json.loads((out / "models" / OUTCOME_ONLY / "chestx_train.json").read_text())
    demo_card = json.loads((out / "models" / "tiny-sft-grpo" / "chestx_train.json").read_text())
    assert card["reward_weights"] == [1.0, 1.0, 0.0] and demo_card["reward_weights"] is None
    assert card["global_step"] == demo_card["global_step"]
    result = json.loads((out / "ablation.json").read_text())
    assert [c["contrast"] for c in result["contrasts"]] == [
        "GRPO (process) − SFT", "GRPO (outcome only) − SFT", "process − outcome only"]
    for contrast in result["contrasts"]:
        overall = contrast["overall"]
        assert overall["n"] > 0 and overall["only_a"] == overall["only_b"] == 0
        assert overall["accuracy"]["ci"] is not None
    assert set(result["reward_quarters"]) == {"tiny-sft-grpo", OUTCOME_ONLY}
    assert len(result["reward_quarters"][OUTCOME_ONLY]["process"]) == 4  # logged, weight 0
    table = (out / "ablation.md").read_text()
    assert "| process − outcome only | all |" in table and table in run.stdout
    assert "--reward-weights 1,1,0" in (out / "commands.sh").read_text()


def _screenshot_shows_table_chart_and_coloured_steps(page: Path, tmp_path: Path) -> None:
    """The page as Chromium renders it at 1400 px wide holds the accuracy bars' blue and,
    below the summary (table, charts, training curves), the background of judged steps
    (green, red or grey)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    from screenshot import find_browser, screenshot

    if find_browser() is None:
        return  # CI installs chromium; elsewhere the screenshot is checked by eye
    from PIL import Image

    with Image.open(screenshot(page, tmp_path / "shot.png", 1400, 8000)) as image:
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 22)}
    assert (0x3B, 0x6F, 0xB6) in colours  # accuracy bars
    assert colours & {(0xE9, 0xF7, 0xEC), (0xFD, 0xEC, 0xEA), (0xF1, 0xF2, 0xF4)}  # steps


def test_results_table_puts_models_across_and_metrics_down() -> None:
    cell = {"n": 4, "accuracy": 0.5, "accuracy_ci": [0.25, 0.75], "radrscore": 0.4,
            "radrscore_ci": [0.3, 0.5], "completeness": 0.1, "factuality": None,
            "effectiveness": 0.2}
    summary = {"models": {m: {"overall": cell, "by_task": {"binary": cell, "multi_open": cell}}
                          for m in ("random", "tiny-sft")}}
    console = Console(width=120, record=True)
    console.print(results_table(summary))
    text = console.export_text()
    assert "random" in text and "tiny-sft" in text
    assert "multi_open (F1)" in text and "0.50 [0.25-0.75]" in text
    assert "Rf factuality" in text and " - " in text  # undefined metric shown as '-'
