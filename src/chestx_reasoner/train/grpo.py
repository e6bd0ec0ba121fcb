"""Stage 2: GRPO with the format, outcome and (answer-gated) process rewards.

TRL path: `GRPOTrainer` with a `datasets.Dataset` (TRL 1.16 accepts no other kind) whose rows
are a conversational `prompt` (the one prompt of `models.prompt`, image placeholders in place),
an `images` column, and the columns the rewards read (`answer`, `task`, `options`, `report`,
`reasoning`, `question`, `id`): TRL passes every column to every reward function as a keyword
argument. Rewards come from `train.rewards.get_reward_funcs` in the order of `reward_weights`
(TRL's own weighting), and TRL logs each one's mean per logging step as
`rewards/<function name>/mean`: `rewards/format_reward/mean`, `rewards/outcome_reward/mean`,
`rewards/process_reward/mean`. Generation is Transformers' `generate` unless `use_vllm` is set
(vLLM must be installed; its VLM support in TRL still has open bugs, so it is opt-in).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from chestx_reasoner.train.configs import ChestXGRPOConfig
from chestx_reasoner.train.data import DataSummary, build_grpo_dataset
from chestx_reasoner.train.sft import (
    TrainError,
    TrainResult,
    add_callbacks,
    checkpoint_to_resume,
    load_trainable,
    restore_weights,
    save_trained,
)

log = logging.getLogger(__name__)


def reward_metric_names(config: ChestXGRPOConfig) -> list[str]:
    """The log keys of each reward's per-step mean, as TRL names them.

    >>> reward_metric_names(ChestXGRPOConfig(output_dir="/tmp/x", use_cpu=True))
    ['rewards/format_reward/mean', 'rewards/outcome_reward/mean', 'rewards/process_reward/mean']
    """
    from trl.trainer.utils import get_callable_name

    from chestx_reasoner.train.rewards import get_reward_funcs

    return [f"rewards/{get_callable_name(func)}/mean"
            for func in get_reward_funcs(config.reward_funcs)]


def parse_weights(text: str, count: int = 3) -> list[float]:
    """'1,1,0.5' -> [1.0, 1.0, 0.5]; raises TrainError unless `count` numbers.

    >>> parse_weights("1, 2,0.5")
    [1.0, 2.0, 0.5]
    """
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError:
        weights = []
    if len(weights) != count:
        raise TrainError(f"--reward-weights wants {count} numbers F,O,P (format, outcome, "
                         f"process), got {text!r}")
    return weights


def require_vllm() -> None:
    """Fail with a one-line reason when vLLM generation is asked for but cannot run."""
    if importlib.util.find_spec("vllm") is None:
        raise TrainError("--use-vllm needs the vllm package (pip install vllm, on a CUDA "
                         "machine); without the flag, generation uses Transformers")
    try:
        import vllm  # noqa: F401
    except Exception as error:  # a broken install fails in many ways (CUDA, ABI, versions)
        why = " ".join(str(error).split())[:200] or type(error).__name__
        raise TrainError(f"--use-vllm: vllm is installed but does not import ({why})") from None
    import torch

    if not torch.cuda.is_available():
        raise TrainError("--use-vllm needs a CUDA GPU; without the flag, generation uses "
                         "Transformers")


def make_grpo_trainer(data: Path, model_spec: str, config: ChestXGRPOConfig,
                      callbacks: list[Any] | None = None, resume_from: str | None = None,
                      ) -> tuple[Any, Any, DataSummary]:
    """(GRPOTrainer, processor, data summary), ready to train."""
    from trl import GRPOTrainer

    from chestx_reasoner.train.rewards import get_reward_funcs

    if config.use_vllm:
        require_vllm()
    dataset, summary = build_grpo_dataset(
        data, image_root=Path(config.image_root) if config.image_root else None)
    weights = dict(zip(config.reward_funcs, config.reward_weights or [1.0] * 3, strict=False))
    if not summary.reasoning and weights.get("process", 0.0) > 0:
        raise TrainError(f"{data}: no item has a mined chain, so the process reward is never "
                         "paid: run `chestx mine` on it first (or give it weight 0 with "
                         "--reward-weights F,O,0)")
    model, processor = load_trainable(model_spec)
    # the reference model of the KL term is read from model_spec by TRL; only the policy resumes
    restore_weights(model, resume_from)
    # TRL left-pads the prompt ids it generates from, but takes `mm_token_type_ids` from the
    # processor, which pads on the tokenizer's side: with several prompts a step (of unequal
    # length) a right-padding tokenizer shifts the image positions and Qwen2-VL's multimodal
    # RoPE fails on a shape mismatch. Padding on the left keeps the two aligned.
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"
    trainer = GRPOTrainer(model=model, reward_funcs=get_reward_funcs(config.reward_funcs),
                          args=config, train_dataset=dataset, processing_class=processor)
    add_callbacks(trainer, callbacks)
    return trainer, processor, summary


def run_grpo(data: Path, model_spec: str, config: ChestXGRPOConfig, *, resume: bool = False,
             callbacks: list[Any] | None = None) -> TrainResult:
    """Train, save to `config.output_dir` (loads as hf:OUT), and say what happened;
    `callbacks` are Transformers `TrainerCallback`s that show progress."""
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
    trainer, processor, summary = make_grpo_trainer(data, model_spec, config, callbacks, last)
    log.info("GRPO data: %d prompts (%d with a reference chain); rewards %s, weights %s",
             summary.items, summary.reasoning, config.reward_funcs, config.reward_weights)
    card = {"made_by": "chestx train grpo", "base_model": model_spec, "data": str(data),
            "prompts": summary.items, "rewards": config.reward_funcs,
            "reward_weights": config.reward_weights, "num_generations": config.num_generations,
            "beta": config.beta}
    with save_errors(out):
        train_or_restore(trainer, last, ended)
        save_trained(trainer, processor, out, card)
    return TrainResult(out, trainer.state.global_step, summary, last,
                       list(trainer.state.log_history))
