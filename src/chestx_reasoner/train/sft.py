"""Stage 1: supervised fine-tuning on mined reasoning chains mixed with answer-only targets.

TRL path: `SFTTrainer` with a conversational prompt/completion dataset carrying an `images`
column. For such data TRL 1.16 uses `DataCollatorForVisionLanguageModeling._collate_prompt_
completion`: it renders prompt and completion with the processor's chat template, processes the
images on the fly, keeps Qwen2-VL's `mm_token_type_ids`, and with `completion_only_loss` (on by
default for prompt/completion data) sets every prompt label to -100, so the loss is on the
assistant turn alone. That needs no `{% generation %}` markers in the chat template (which the
`messages` + `assistant_only_loss` path would, and our tiny template has none). Packing and
padding-free batching are refused by TRL for image data and stay off.

Reads top to bottom like open-r1's `sft.py`: data, model, trainer, train, save. The output folder
holds the model (LoRA merged) and processor at its root, so `chestx predict --model hf:OUT`
loads it; checkpoints live in `OUT/checkpoint-N` for `--resume`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from chestx_reasoner.train.configs import LORA_TARGETS, ChestXSFTConfig
from chestx_reasoner.train.data import DataSummary, build_sft_dataset

log = logging.getLogger(__name__)


class TrainError(ValueError):
    """Bad input to a training run (model, output folder, options); the message is one line."""


@dataclass(slots=True)
class TrainResult:
    """What a run did: where it saved, how far it got, its logs."""

    out: Path
    global_step: int
    data: DataSummary
    resumed_from: str | None = None
    log_history: list[dict[str, Any]] = field(default_factory=list)
    finished_before: bool = False  # --resume found the run finished: nothing was trained


# --- shared by both stages ------------------------------------------------------------------


def model_path(spec: str) -> str:
    """A folder or hub id from a model spec: `hf:PATH_OR_ID` or a bare path.

    >>> model_path("hf:runs/sft"), model_path("runs/sft")
    ('runs/sft', 'runs/sft')
    """
    kind, sep, rest = spec.partition(":")
    if sep and kind == "hf":
        return rest
    if kind in {"openai", "tiny", "random", "reference"} and not Path(spec).exists():
        raise TrainError(f"cannot train {spec!r}: give a checkpoint as hf:DIR (make a small one "
                         "with `chestx model init --out DIR`)")
    return spec


def load_trainable(spec: str, *, allow_download: bool = False) -> tuple[Any, Any]:
    """(model, processor) to train: float32 on a CPU, the checkpoint's dtype on a GPU (bf16 for
    Qwen2-VL releases), placed by the Trainer (no device_map)."""
    import torch

    from chestx_reasoner.models.base import ModelLoadError
    from chestx_reasoner.models.hf import load_checkpoint

    try:
        return load_checkpoint(model_path(spec), allow_download=allow_download,
                               dtype="auto" if torch.cuda.is_available() else torch.float32)
    except ModelLoadError as error:
        raise TrainError(f"{error} (--model)") from error


def complete_checkpoints(out: Path) -> list[Path]:
    """OUT's `checkpoint-N` folders that finished saving, oldest first.

    The Trainer writes `trainer_state.json` last (after weights, optimizer and RNG state), so a
    folder without a readable one was cut by a crash (kill -9 mid-save) and cannot be resumed.
    """
    found = []
    for folder in out.glob("checkpoint-*") if out.is_dir() else ():
        step = folder.name.removeprefix("checkpoint-")
        if not (folder.is_dir() and step.isdigit()):
            continue
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("%s was not saved completely (killed mid-save?); skipped", folder)
            continue
        found.append((int(step), folder))
    return [folder for _, folder in sorted(found)]


def restore_weights(model: Any, checkpoint: str | None, use_lora: bool = False) -> None:
    """Put a checkpoint's weights into `model` before the Trainer resumes from it.

    Why: the Trainer's resume reads `model.safetensors` with `load_state_dict(strict=False)`,
    but `save_pretrained` writes Qwen2-VL under its original key names (`model.embed_tokens…`,
    `visual.…`), which differ from the module names (`model.language_model…`, `model.visual…`):
    nothing matched, nothing was said, and training went on from the starting weights with the
    restored optimizer. `from_pretrained` maps the names, so the weights come through it. LoRA
    checkpoints hold adapters only, which PEFT's own resume restores.
    """
    if checkpoint is None or use_lora:
        return
    from chestx_reasoner.models.hf import load_checkpoint

    dtype = next(model.parameters()).dtype
    saved, _ = load_checkpoint(checkpoint, allow_download=False, dtype=dtype)
    model.load_state_dict(saved.state_dict(), strict=True)
    del saved


def checkpoint_to_resume(out: Path, resume: bool) -> str | None:
    """The last complete `checkpoint-N` in OUT when resuming; refuses to train over one
    otherwise."""
    checkpoints = complete_checkpoints(out)
    last = str(checkpoints[-1]) if checkpoints else None
    if last and not resume:
        raise TrainError(f"{out} holds checkpoints of an earlier run ({Path(last).name}); pass "
                         "--resume to continue it, or choose another --out")
    if resume and not last:
        log.warning("--resume: no checkpoint in %s, starting from the beginning", out)
    return last if resume else None


def save_trained(trainer: Any, processor: Any, out: Path, card: dict[str, Any]) -> None:
    """Model (LoRA adapters merged in) and processor at OUT's root, plus a card and the logs."""
    from peft import PeftModel

    model = trainer.accelerator.unwrap_model(trainer.model)
    if isinstance(model, PeftModel):
        # Merged weights load with plain Transformers (hf:OUT); under ZeRO-3/FSDP, gather the
        # adapters first (`accelerate merge-weights`), as this merge needs full parameters.
        if trainer.accelerator.is_main_process:
            merged = model.merge_and_unload()
            _enable_cache(merged)
            merged.save_pretrained(out)
    else:
        _enable_cache(model)
        trainer.save_model(str(out))
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(out)
        history = trainer.state.log_history
        (out / "log_history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
        card = {**card, "global_step": trainer.state.global_step}
        (out / "chestx_train.json").write_text(json.dumps(card, indent=2, default=str) + "\n")


def add_callbacks(trainer: Any, callbacks: list[Any] | None) -> None:
    """Give the trainer our callbacks; they report progress, so the Trainer's own progress bar
    and log printer go (two displays would fight over the terminal)."""
    if not callbacks:
        return
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    for callback in callbacks:
        trainer.add_callback(callback)


def _enable_cache(model: Any) -> None:
    """Generation is fast again after training switched the KV cache off for checkpointing."""
    text_config = model.config.get_text_config()
    if hasattr(text_config, "use_cache"):
        text_config.use_cache = True


# --- SFT ------------------------------------------------------------------------------------


def lora_config(config: ChestXSFTConfig) -> Any:
    """LoRA on the language model's attention and MLP projections (vision tower frozen)."""
    from peft import LoraConfig

    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=LORA_TARGETS,
                      task_type="CAUSAL_LM")


def vision_tower(model: Any, why: str) -> Any:
    """The vision tower and merger of a Qwen2-VL-style model; TrainError naming `why` (the
    option that needs one) for a model without."""
    visual = getattr(getattr(model, "model", model), "visual", None)
    if visual is None:
        raise TrainError(f"{type(model).__name__} has no vision tower ({why})")
    return visual


def freeze_vision(model: Any) -> None:
    """No gradient for the vision tower and its merger: what a pretrained base sees stays as
    it is, and the backward pass through the tower is skipped."""
    for parameter in vision_tower(model, "--freeze-vision").parameters():
        parameter.requires_grad_(False)


# Below this vocabulary the full logits of a batch are small, and the model's own loss is
# faster than TRL's tiled LM head, which runs its tiles in Python on a CPU: on the demo's tiny
# model (1,266 tokens) the tiled head's forward and backward were half of each SFT step.
FUSED_HEAD_MIN_VOCAB = 32_768


def uses_fused_head(config: ChestXSFTConfig, vocab_size: int) -> bool:
    """Whether the loss goes through TRL's tiled LM head (config's choice, else by vocab).

    >>> from types import SimpleNamespace as NS
    >>> uses_fused_head(NS(fused_lm_head=None), 1266), uses_fused_head(NS(fused_lm_head=None),
    ...                                                                 151_936)
    (False, True)
    """
    if config.fused_lm_head is not None:
        return bool(config.fused_lm_head)
    return vocab_size >= FUSED_HEAD_MIN_VOCAB


@cache  # one class, so that isinstance() can tell which loss a trainer computes
def _full_logits_trainer() -> type:
    """SFTTrainer whose loss is the model's own cross-entropy over the completion labels
    (TRL's collator masks the prompt with -100 either way); TRL's token metrics are not
    logged on this path."""
    from transformers import Trainer
    from trl import SFTTrainer

    class FullLogitsSFTTrainer(SFTTrainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return FullLogitsSFTTrainer


def make_sft_trainer(data: Path, model_spec: str, config: ChestXSFTConfig,
                     callbacks: list[Any] | None = None, resume_from: str | None = None,
                     ) -> tuple[Any, Any, DataSummary]:
    """(SFTTrainer, processor, data summary), ready to train."""
    from trl import SFTTrainer

    dataset, summary = build_sft_dataset(
        data, image_root=Path(config.image_root) if config.image_root else None,
        answer_only_ratio=config.answer_only_ratio, seed=config.seed)
    model, processor = load_trainable(model_spec)
    restore_weights(model, resume_from, config.use_lora)
    if config.freeze_vision:
        freeze_vision(model)
    vocab = model.get_output_embeddings().weight.shape[0]
    trainer_class = SFTTrainer if uses_fused_head(config, vocab) else _full_logits_trainer()
    trainer = trainer_class(model=model, args=config, train_dataset=dataset,
                         processing_class=processor,
                         peft_config=lora_config(config) if config.use_lora else None)
    add_callbacks(trainer, callbacks)
    return trainer, processor, summary


def run_sft(data: Path, model_spec: str, config: ChestXSFTConfig, *, resume: bool = False,
            callbacks: list[Any] | None = None) -> TrainResult:
    """Train, save to `config.output_dir`, and say what happened; `callbacks` are Transformers
    `TrainerCallback`s that show progress (they replace the Trainer's progress bar)."""
    from chestx_reasoner.train.guard import (
        check_out,
        finished_run,
        run_ended,
        save_errors,
        train_or_restore,
    )

    out = Path(config.output_dir)
    check_out(out, model_spec)
    last = checkpoint_to_resume(out, resume)
    if (done := finished_run(out, last, config.max_steps)) is not None:
        return done
    ended = run_ended(last, config.max_steps) and not getattr(config, "use_lora", False)
    trainer, processor, summary = make_sft_trainer(data, model_spec, config, callbacks, last)
    log.info("SFT data: %s", summary.describe())
    card = {"made_by": "chestx train sft", "base_model": model_spec, "data": str(data),
            "examples": summary.describe(), "lora": config.use_lora,
            "answer_only_ratio": config.answer_only_ratio,
            "freeze_vision": config.freeze_vision,
            "fused_lm_head": not isinstance(trainer, _full_logits_trainer())}
    with save_errors(out):
        train_or_restore(trainer, last, ended)
        save_trained(trainer, processor, out, card)
    return TrainResult(out, trainer.state.global_step, summary, last,
                       list(trainer.state.log_history))
