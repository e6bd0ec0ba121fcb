"""`chestx export verl` and `chestx export lmms-eval`: our data in the layouts of the
frameworks that train and evaluate at scale."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chestx_reasoner.cli.common import GROUP_HELP, app, check_paths, fail
from chestx_reasoner.jsonl import RecordError

export_app = typer.Typer(help=GROUP_HELP["export"], no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("verl")
def verl_command(
    data: Annotated[Path, typer.Option(
        "--data", help="Mined JSONL (`chestx mine`); image paths relative to its folder.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Output folder: train.parquet and test.parquet.")],
    image_root: Annotated[Path | None, typer.Option(
        help="Folder image paths are relative to (default: the data file's folder).")] = None,
    test_ratio: Annotated[float, typer.Option(
        min=0.0, max=0.99, help="Share of items held out for verl's validation, chosen by a "
        "hash of the id (stable when the file grows).")] = 0.05,
) -> None:
    """verl's RL dataset: train/test Parquet with the prompt, images and the reward's inputs.

    Train with verl's `main_ppo` and our rewards: `reward.custom_reward_function.path=
    pkg://chestx_reasoner.train.verl_reward` (docs/training.md has the whole recipe).
    """
    from chestx_reasoner.train.verl_data import export_verl

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    check_paths(data, out, image_root)
    try:
        result = export_verl(data, out, image_root=image_root, test_ratio=test_ratio)
    except (RecordError, ValueError) as exc:
        fail(str(exc))
    summary = result.summary
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped.items()))
    console.print(f"verl data: {result.n_train} train + {result.n_test} test prompts from "
                  f"{summary.items} items ({summary.reasoning} with a reference chain)"
                  + (f"; skipped {skipped}" if skipped else ""))
    console.print(f"wrote {result.train} and {result.test}")


@export_app.command("lmms-eval")
def lmms_eval_command(
    bench: Annotated[Path, typer.Option(
        "--bench", help="Benchmark folder (`chestx build`): its test.jsonl and images.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Task folder: radrbench_cxr.yaml, utils.py, test.parquet.")],
    task: Annotated[str, typer.Option(help="lmms-eval task name.")] = "radrbench_cxr",
) -> None:
    """An lmms-eval task folder that scores with our parser and offline judge.

    Run it with `lmms-eval --include_path OUT --tasks radrbench_cxr --model …`; its metrics
    are accuracy and RadRScore (with completeness, factuality, effectiveness).
    """
    from chestx_reasoner.bench.lmms_task import export_lmms_eval

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not bench.is_dir():
        fail(f"{bench}: no such folder (--bench)")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder (--out)")
    if not task.replace("_", "").replace("-", "").isalnum():
        fail(f"--task {task!r}: use letters, digits, '_' and '-'")
    try:
        path = export_lmms_eval(bench, out, task=task)
    except FileNotFoundError as exc:
        fail(str(exc))
    console.print(f"wrote {path}, {out / 'utils.py'} and {out / 'test.parquet'}; run: "
                  f"lmms-eval --include_path {out} --tasks {task} --model …")
