"""One readable progress line per logging step of a training run.

Why: the Trainer's own printer writes each log as a raw dict (`{'loss': 2.31, 'grad_norm': …}`),
a line of noise per step that hides what matters: how far the run is, the loss, the learning
rate, the speed and, for GRPO, each reward's mean. The full logs still reach
`trainer.state.log_history` (and OUT/log_history.jsonl) unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


def reward_means(logs: dict[str, Any]) -> dict[str, float]:
    """Each reward's mean in a GRPO log, by short name (`rewards/format_reward/mean` -> format).

    >>> reward_means({"rewards/format_reward/mean": 0.5, "rewards/format_reward/std": 0.1})
    {'format': 0.5}
    """
    means = {}
    for key, value in logs.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "rewards" and parts[2] == "mean" and _number(value):
            means[parts[1].removesuffix("_reward")] = float(value)
    return means


def progress_line(logs: dict[str, Any], step: int, max_steps: int,
                  steps_per_s: float | None) -> str | None:
    """'step 20/583  loss 2.310  lr 4.9e-05  1.20 steps/s' (GRPO: the reward means too);
    None for a log that is not a training step's (the end-of-run summary).

    >>> progress_line({"loss": 2.31, "learning_rate": 4.9e-05, "grad_norm": 1.0}, 20, 583, 1.2)
    'step 20/583  loss 2.310  lr 4.9e-05  1.20 steps/s'
    >>> progress_line({"train_runtime": 3.0, "train_loss": 2.0}, 3, 3, 1.0) is None
    True
    """
    rewards = reward_means(logs)
    if not _number(logs.get("loss")) and not rewards:
        return None
    parts = [f"step {step}/{max_steps}" if max_steps > 0 else f"step {step}"]
    if _number(logs.get("loss")):
        parts.append(f"loss {logs['loss']:.3f}")
    if _number(logs.get("learning_rate")):
        parts.append(f"lr {logs['learning_rate']:.1e}")
    if rewards:
        total = f"reward {logs['reward']:.2f} " if _number(logs.get("reward")) else "rewards "
        parts.append(total + "(" + " ".join(f"{k} {v:.2f}" for k, v in rewards.items()) + ")")
    if steps_per_s is not None:
        parts.append(f"{steps_per_s:.2f} steps/s")
    return "  ".join(parts)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ProgressLines(TrainerCallback):
    """Writes `progress_line` for every training log (main process only); handed to
    `run_sft`/`run_grpo`, it replaces the Trainer's dict printer and progress bar."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._start: tuple[float, int] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = (time.perf_counter(), state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        rate = None
        if self._start is not None:
            seconds = time.perf_counter() - self._start[0]
            done = state.global_step - self._start[1]
            rate = done / seconds if seconds > 0 and done > 0 else None
        line = progress_line(logs, state.global_step, state.max_steps, rate)
        if line:
            self.write(line)
