"""`chestx train vision`, `chestx train sft` and `chestx train grpo`: the training stages.

Thin on purpose: options become a `ChestXSFTConfig` / `ChestXGRPOConfig` and the stage's
`run_*` function does the rest, so a multi-GPU run is the same command under accelerate:
`accelerate launch -m chestx_reasoner.cli train sft …`.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from chestx_reasoner.cli.common import EXIT_INTERRUPTED, GROUP_HELP, app, check_paths, fail
from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.train import SAVE_STEPS

train_app = typer.Typer(help=GROUP_HELP["train"], no_args_is_help=True)
app.add_typer(train_app, name="train")

DataOption = Annotated[Path, typer.Option(
    "--data", help="Mined JSONL (`chestx mine`); image paths relative to its folder.")]
OutOption = Annotated[Path, typer.Option(
    "--out", help="Output folder: the trained model (loads as hf:OUT) and checkpoint-N folders.")]
ImageRootOption = Annotated[Path | None, typer.Option(
    help="Folder image paths are relative to (default: the data file's folder).")]
MaxStepsOption = Annotated[int | None, typer.Option(
    min=1, help="Stop after N optimizer steps (instead of whole passes over the data).")]
SaveStepsOption = Annotated[int, typer.Option(
    min=1, help="Save a checkpoint every N optimizer steps (and at the end); --resume goes "
    "on from the last one, so at most N-1 steps are redone after a crash.")]


def _run(console: Console, stage: str, run: Any, data: Path, model: str, config: Any,
         resume: bool) -> None:
    """Run a stage with a progress line per logging step; bad input is one line (exit 2),
    Ctrl-C says how to resume."""
    from chestx_reasoner.logging_setup import quiet_transformers
    from chestx_reasoner.train.progress import ProgressLines
    from chestx_reasoner.train.sft import TrainError

    quiet_transformers(logging.getLogger().level <= logging.DEBUG)
    try:  # one line per logging step instead of the Trainer's raw log dicts
        result = run(data, model, config, resume=resume,
                     callbacks=[ProgressLines(console.print)])
    except (TrainError, RecordError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        from chestx_reasoner.train.guard import checkpoint_note

        console.print(f"interrupted; {checkpoint_note(Path(config.output_dir))} (checkpoints "
                      f"come every {config.save_steps:g} steps, --save-steps)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    loss = f"; loss {losses[0]:.3f} -> {losses[-1]:.3f}" if losses else ""
    resumed = f" (resumed from {Path(result.resumed_from).name})" if result.resumed_from else ""
    if result.finished_before:
        resumed = " (finished earlier: nothing left to train)"
    console.print(f"{stage}: {result.global_step} steps{resumed}{loss}; "
                  f"data: {result.data.describe()}")
    console.print(f"saved to {result.out} (use --model hf:{result.out})")


def _config(cls: type, **fields: Any) -> Any:
    """The config with only the options the user gave; a bad combination fails on one line."""
    try:
        return cls(**{key: value for key, value in fields.items() if value is not None})
    except ValueError as exc:
        fail(" ".join(str(exc).split()))


@train_app.command("sft")
def sft_command(
    data: DataOption,
    model: Annotated[str, typer.Option(
        "--model", help="Checkpoint to start from: hf:PATH_OR_ID or a folder "
        "(`chestx model init --out DIR` makes a small one).")],
    out: OutOption,
    answer_only_ratio: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Share of answer-only examples (the paper mixes both): 0 = "
        "chains only, 1 = answers only.")] = 0.5,
    epochs: Annotated[float | None, typer.Option(
        min=0.0, help="Passes over the data (default 3).")] = None,
    lr: Annotated[float | None, typer.Option(
        min=0.0, help="Peak learning rate (default 2e-5).")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Examples per device per "
                                                   "step (default 8).")] = None,
    grad_accum: Annotated[int | None, typer.Option(min=1, help="Gradient accumulation "
                                                   "steps (default 1).")] = None,
    lora: Annotated[bool, typer.Option(
        "--lora", help="LoRA on the language model's attention/MLP projections; merged into "
        "the saved model.")] = False,
    freeze_vision: Annotated[bool, typer.Option(
        "--freeze-vision", help="Train the language model only; the vision tower (e.g. from "
        "`chestx train vision`) stays as it is.")] = False,
    fused_lm_head: Annotated[bool | None, typer.Option(
        "--fused-lm-head/--full-logits", help="Loss through TRL's tiled LM head (no full "
        "logits in memory) or through the model's own full logits (default: tiled from a "
        "32,768-token vocabulary up, e.g. Qwen2-VL's).")] = None,
    max_steps: MaxStepsOption = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last checkpoint in OUT.")] = False,
    image_root: ImageRootOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the data mix, shuffling and init.")] = 42,
    save_steps: SaveStepsOption = SAVE_STEPS,
) -> None:
    """Supervised fine-tuning on reasoning chains and answer-only data.

    Each mined item with a kept chain becomes a `<think>…</think><answer>…</answer>` target;
    answer-only copies (`<answer>…</answer>`) make up --answer-only-ratio of the examples. The
    loss is on the assistant turn only. bf16 and gradient checkpointing on a GPU, float32 on
    a CPU.
    """
    from chestx_reasoner.train.configs import ChestXSFTConfig
    from chestx_reasoner.train.sft import run_sft

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    check_paths(data, out, image_root)
    config = _config(ChestXSFTConfig, output_dir=str(out), answer_only_ratio=answer_only_ratio,
                     num_train_epochs=epochs, learning_rate=lr,
                     per_device_train_batch_size=batch_size,
                     gradient_accumulation_steps=grad_accum, use_lora=lora,
                     freeze_vision=freeze_vision, fused_lm_head=fused_lm_head,
                     max_steps=max_steps,
                     image_root=str(image_root) if image_root else None, seed=seed,
                     save_steps=save_steps)
    _run(console, "SFT", run_sft, data, model, config, resume)


@train_app.command("vision")
def vision_command(
    data: Annotated[Path, typer.Option(
        "--data", help="Benchmark or mined JSONL of the train split (`chestx build`); its "
        "binary, anomaly, single, multi and multi_open answers label the images.")],
    model: Annotated[str, typer.Option(
        "--model", help="Checkpoint whose vision tower is pretrained: hf:DIR (`chestx model "
        "init --out DIR`).")],
    out: Annotated[Path, typer.Option(
        "--out", help="Output folder: the whole model with the pretrained tower (loads as "
        "hf:OUT), its probe head and checkpoint-N folders.")],
    max_steps: Annotated[int, typer.Option(min=1, help="Optimizer steps.")] = 500,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per step.")] = 32,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (cosine decay).")
                  ] = 1e-3,
    holdout: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="Share of the training images held out to measure the probe "
        "(AUC per finding).")] = 0.1,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last checkpoint in OUT.")] = False,
    image_root: ImageRootOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the held-out split, shuffling and "
                                      "the head's init.")] = 0,
    save_steps: SaveStepsOption = 100,
) -> None:
    """Pretrain the vision tower on the training images' findings: a base model that sees.

    A linear probe on the tower's pooled output learns the CheXpert findings the train split's
    answers state (masked multi-label loss); the language model is untouched. Items of other
    splits are skipped, so no test image is seen. Then teach the model to read what it sees
    with `chestx train sft --freeze-vision` (the demo does answer-only SFT first).
    """
    from chestx_reasoner.train.vision import VisionConfig, run_vision_pretrain

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    check_paths(data, out, image_root)
    config = _config(VisionConfig, output_dir=str(out), max_steps=max_steps,
                     batch_size=batch_size, learning_rate=lr, holdout=holdout, seed=seed,
                     save_steps=save_steps, image_root=str(image_root) if image_root else None)
    _run(console, "vision pretraining", run_vision_pretrain, data, model, config, resume)


class VllmMode(StrEnum):
    """TRL's two ways of generating with vLLM."""

    colocate = "colocate"
    server = "server"


def vllm_fields(use_vllm: bool, mode: VllmMode, server_url: str | None,
                gpu_memory_utilization: float | None, tensor_parallel_size: int | None,
                ) -> dict[str, Any]:
    """The `GRPOConfig` fields of TRL's vLLM interface for the CLI's options; an option that
    the chosen mode ignores is refused rather than silently dropped."""
    server_only = {"--vllm-server-url": server_url}
    colocate_only = {"--vllm-gpu-memory-utilization": gpu_memory_utilization,
                     "--vllm-tensor-parallel-size": tensor_parallel_size}
    given = [flag for flag, value in {**server_only, **colocate_only}.items()
             if value is not None]
    if not use_vllm:
        if given or mode is not VllmMode.colocate:
            fail(f"{(given or ['--vllm-mode'])[0]} needs --use-vllm")
        return {}
    wrong = [flag for flag, value in (colocate_only if mode is VllmMode.server
                                      else server_only).items() if value is not None]
    if wrong:
        fail(f"{wrong[0]} does not apply to --vllm-mode {mode.value}")
    fields: dict[str, Any] = {"use_vllm": True, "vllm_mode": mode.value}
    if server_url is not None:
        fields["vllm_server_base_url"] = server_url.rstrip("/")
    if gpu_memory_utilization is not None:
        fields["vllm_gpu_memory_utilization"] = gpu_memory_utilization
    if tensor_parallel_size is not None:
        fields["vllm_tensor_parallel_size"] = tensor_parallel_size
    return fields


@train_app.command("grpo")
def grpo_command(
    data: DataOption,
    model: Annotated[str, typer.Option(
        "--model", help="The SFT output to start from (hf:DIR or DIR).")],
    out: OutOption,
    num_generations: Annotated[int, typer.Option(
        min=2, help="Completions per prompt (the GRPO group; paper: 8).")] = 8,
    prompts_per_step: Annotated[int, typer.Option(
        min=1, help="Prompts per optimizer step and device, each with its group (on 8 GPUs, "
        "1 already makes 8 a step; on one device, 2 or more averages the update over items "
        "instead of following one item's noise).")] = 1,
    beta: Annotated[float, typer.Option(min=0.0, help="KL coefficient (paper: 1e-3).")] = 0.001,
    lr: Annotated[float, typer.Option(min=0.0, help="Learning rate (paper: 5e-7).")] = 5e-7,
    reward_weights: Annotated[str, typer.Option(
        help="Weights F,O,P of the format, outcome and process rewards.")] = "1,1,1",
    use_vllm: Annotated[bool, typer.Option(
        "--use-vllm", help="Generate with vLLM (must be installed; CUDA only).")] = False,
    vllm_mode: Annotated[VllmMode, typer.Option(
        help="colocate: vLLM shares the training GPUs; server: a separate `trl vllm-serve` "
        "process generates (--use-vllm).")] = VllmMode.colocate,
    vllm_server_url: Annotated[str | None, typer.Option(
        help="Base URL of the `trl vllm-serve` server (server mode; default "
        "http://0.0.0.0:8000).")] = None,
    vllm_gpu_memory_utilization: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Share of each GPU's memory vLLM may take (colocate mode; "
        "default 0.3).")] = None,
    vllm_tensor_parallel_size: Annotated[int | None, typer.Option(
        min=1, help="GPUs per vLLM engine (colocate mode; must divide the process count; "
        "default 1).")] = None,
    max_steps: MaxStepsOption = None,
    max_completion_length: Annotated[int, typer.Option(
        min=1, help="Longest completion in tokens.")] = 512,
    temperature: Annotated[float, typer.Option(
        min=0.0, help="Sampling temperature of the completions (TRL's default 1.0; a small "
        "model keeps its format better a little lower).")] = 1.0,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the last checkpoint in OUT.")] = False,
    image_root: ImageRootOption = None,
    seed: Annotated[int, typer.Option(help="Seed of sampling and shuffling.")] = 42,
    save_steps: SaveStepsOption = SAVE_STEPS,
) -> None:
    """GRPO with format, outcome and process rewards.

    Each step samples --num-generations completions for a prompt and rewards them: format
    (`<think>` then `<answer>`), outcome (the answer as `chestx score` grades it) and process
    (the reasoning's factuality against the report, paid only for a right answer). Each
    reward's mean is logged per step as rewards/<name>_reward/mean.
    """
    from chestx_reasoner.train.configs import ChestXGRPOConfig
    from chestx_reasoner.train.grpo import parse_weights, require_vllm, run_grpo
    from chestx_reasoner.train.sft import TrainError

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    check_paths(data, out, image_root)
    vllm = vllm_fields(use_vllm, vllm_mode, vllm_server_url, vllm_gpu_memory_utilization,
                       vllm_tensor_parallel_size)
    try:
        weights = parse_weights(reward_weights)
        if use_vllm:
            require_vllm()
    except TrainError as exc:
        fail(str(exc))
    config = _config(ChestXGRPOConfig, output_dir=str(out), num_generations=num_generations,
                     per_device_train_batch_size=num_generations * prompts_per_step, beta=beta,
                     learning_rate=lr,
                     reward_weights=weights, max_steps=max_steps,
                     max_completion_length=max_completion_length, temperature=temperature,
                     image_root=str(image_root) if image_root else None, seed=seed,
                     save_steps=save_steps, **vllm)
    _run(console, "GRPO", run_grpo, data, model, config, resume)
