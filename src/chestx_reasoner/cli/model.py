"""`chestx model init` (a small local model) and `chestx predict` (run a model on items)."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chestx_reasoner.cli.common import (
    GROUP_HELP,
    OverwriteOption,
    app,
    fail,
    job_errors,
    job_progress,
)
from chestx_reasoner.jsonl import RecordError

model_app = typer.Typer(help=GROUP_HELP["model"], no_args_is_help=True)
app.add_typer(model_app, name="model")


class ModelSize(StrEnum):
    tiny = "tiny"
    small = "small"


@model_app.command("init")
def model_init_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the model (loads as hf:OUT).")],
    size: Annotated[ModelSize, typer.Option(help="tiny (~1 M parameters, 56 px images) or "
                                            "small (~5 M, 224 px).")] = ModelSize.tiny,
    data: Annotated[list[Path] | None, typer.Option(
        "--data", help="Benchmark or mined JSONL whose text trains the tokenizer (repeat); "
        "default: a synthetic cohort's reports.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace a model already in OUT.")] = False,
) -> None:
    """Build a Qwen2-VL-architecture model with random weights and a locally trained tokenizer.

    Nothing is downloaded. The folder holds processor and model (`save_pretrained`), so
    `chestx predict --model hf:OUT` and `chestx train sft --model hf:OUT` load it.
    """
    from chestx_reasoner.logging_setup import quiet_transformers
    from chestx_reasoner.models.tiny_build import build_tiny, save_tiny

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder (--out)")
    if (out / "config.json").exists() and not overwrite:
        fail(f"{out} already holds a model; pass --overwrite to replace it")
    for path in data or []:
        if not path.is_file():
            fail(f"{path}: no such file (--data)")
    quiet_transformers()
    try:
        with console.status("training the tokenizer and building the model"):
            model, processor = build_tiny(size.value, data or [], seed=seed)
            save_tiny(out, model, processor, size.value, seed, data or [])
    except RecordError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or out}: cannot write ({exc.strerror or exc}) (--out)")
    parameters = sum(p.numel() for p in model.parameters())
    console.print(f"{size.value} model: {parameters / 1e6:.2f} M parameters, vocabulary "
                  f"{len(processor.tokenizer)}; saved to {out} (use --model hf:{out})")


@app.command("predict")
def predict_command(
    bench: Annotated[Path, typer.Option("--bench", help="Benchmark items: BENCH/test.jsonl.")],
    model: Annotated[str, typer.Option(
        "--model", help="hf:PATH_OR_ID | openai:MODEL@URL | tiny[:small] | random | reference")],
    out: Annotated[Path, typer.Option("--out", help="Predictions JSONL; a rerun resumes it.")],
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per generate call.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest output.")] = 512,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of sampling (and of `random`).")] = 0,
    answer_only: Annotated[bool, typer.Option(
        "--answer-only", help="Ask for the answer alone, without reasoning (the prompt of "
        "SFT's answer-only examples): what a base model answers before it learns to "
        "reason. RadRScore is then 0: there is no reasoning to judge.")] = False,
    image_root: Annotated[Path | None, typer.Option(
        help="Folder image paths are relative to (default: the benchmark file's folder).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N (hf, tiny).")] = "auto",
    max_pixels: Annotated[int | None, typer.Option(
        min=3136, help="Cap on image pixels before the vision tower (hf Qwen2-VL).")] = None,
    allow_download: Annotated[bool, typer.Option(
        help="hf: fetch a hub id that is not in the local cache.")] = False,
    api_key_env: Annotated[str, typer.Option(
        help="openai: environment variable holding the API key (never logged).")] =
        "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(min=1, help="openai: requests in flight.")] = 8,
    cache: Annotated[Path | None, typer.Option(
        help="openai: SQLite cache of responses (default: OUT.cache.sqlite).")] = None,
    overwrite: OverwriteOption = False,
) -> None:
    """Run a model on benchmark items and write one Prediction record per item.

    Each output line is the item plus `prediction` (the raw output) and `model`; score it with
    `chestx score --predictions OUT`. Items whose image is missing or unreadable are skipped
    and counted. Interrupted runs resume: rerun the same command.
    """
    from chestx_reasoner.logging_setup import quiet_transformers
    from chestx_reasoner.models import LoadOptions, ModelLoadError, load_model
    from chestx_reasoner.models.base import GenerationSettings
    from chestx_reasoner.models.predict import (
        check_images_found,
        check_samples,
        predict_file,
        predict_settings,
    )
    from chestx_reasoner.registry import UnknownNameError

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if bench.resolve() == out.resolve():
        fail("--out must be a different file from --bench")
    if image_root is not None and not image_root.is_dir():
        fail(f"{image_root}: no such folder (--image-root)")
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature,
                                  seed=seed, batch_size=batch_size, reasoning=not answer_only)
    options = LoadOptions(device=device, allow_download=allow_download, max_pixels=max_pixels,
                          api_key_env=api_key_env, concurrency=concurrency,
                          cache_path=cache or out.with_suffix(".cache.sqlite"), seed=seed)
    quiet_transformers(logging.getLogger().level <= logging.DEBUG)
    with job_errors(console, out, (RecordError, ModelLoadError, UnknownNameError)):
        check_samples(bench, limit)  # bad input fails before a model is loaded
        with console.status(f"loading {model}"):
            adapter = load_model(model, options)
        if adapter.image_input != "none":  # a wrong image root fails before the progress bar
            check_images_found(bench, image_root or bench.parent, limit)
        with job_progress(console, f"predicting ({adapter.name})", "items", out) as (
                started, advance):
            made_by = predict_settings(adapter, model, settings)
            summary = predict_file(bench, out, adapter, settings, image_root=image_root,
                                   limit=limit, on_start=started, progress=advance,
                                   made_by=made_by, overwrite=overwrite)
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped.items()))
    console.print(f"{summary.headline('predicted')} with {adapter.name}"
                  + (f"; skipped {skipped}" if skipped else "")
                  + (f"; {summary.failed} without output (rerun to retry)"
                     if summary.failed else ""))
    usage = getattr(adapter, "usage_summary", None)
    if usage:
        console.print(usage())
