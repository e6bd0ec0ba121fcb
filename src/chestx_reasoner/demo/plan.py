"""What a demo run will do: settings in, a fixed plan of step counts out.

Why a plan and not a timer: `--minutes` must not make training stop "when time is up", or a
rerun after an interrupt (or a faster machine) would train a different model and print a
different table. The minutes become step counts once, through rates measured on the 2-core
reference machine; the same settings always give the same plan, and so the same final table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Measured on the 2-core CPU machine the README quotes (tiny model, float32, 2 threads):
# `chestx train sft` at batch 16 (~200 tokens an example), `chestx train grpo` with 8
# generations of up to 256 tokens, and the other stages' seconds per study (synth, build,
# mining, scoring) and per test item (two trained models predicting up to 320 tokens).
SFT_STEPS_PER_S = 2.3
GRPO_STEPS_PER_S = 1.7
SECONDS_FIXED = 40.0          # imports, model loads, tokenizer training, report
SECONDS_PER_STUDY = 0.012
SECONDS_PER_TEST_ITEM = 0.09  # both trained models, greedy, batch 16
TEST_ITEMS_PER_STUDY = 0.4    # what `chestx build` makes of the synthetic cohort
MIN_TRAIN_SECONDS = 30.0
SFT_SHARE = 0.8               # of the training time; GRPO gets the rest


@dataclass(frozen=True)
class DemoSettings:
    """What the user chose; a demo folder remembers them so a rerun resumes the same run."""

    studies: int = 1000
    minutes: float = 7.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.studies < 50:
            raise ValueError(f"--studies must be at least 50 (got {self.studies}): fewer "
                             "leave some tasks without test items")
        if self.minutes <= 0:
            raise ValueError(f"--minutes must be positive (got {self.minutes:g})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DemoPlan:
    """Every choice the stages need, derived from the settings alone."""

    settings: DemoSettings
    sft_steps: int
    grpo_steps: int
    sft_batch_size: int = 16
    sft_lr: float = 1e-3          # a from-scratch tiny model, not a pretrained 7B (paper: 1e-5)
    answer_only_ratio: float = 0.5
    grpo_lr: float = 5e-6
    grpo_generations: int = 8
    grpo_completion_tokens: int = 256
    predict_tokens: int = 320
    predict_batch_size: int = 16
    estimates: dict[str, float] = field(default_factory=dict)  # stage -> planned seconds

    @property
    def save_steps(self) -> int:
        """Checkpoint cadence: about eight per training stage, so a kill loses little."""
        return max(5, max(self.sft_steps, self.grpo_steps) // 8)

    def describe(self) -> str:
        total = sum(self.estimates.values())
        return (f"{self.settings.studies} studies, seed {self.settings.seed}; SFT "
                f"{self.sft_steps} steps (batch {self.sft_batch_size}), GRPO {self.grpo_steps} "
                f"steps ({self.grpo_generations} generations each); about {total / 60:.1f} min "
                "on 2 cores")


def plan_for(settings: DemoSettings) -> DemoPlan:
    """The plan for `settings`: training gets what the other stages leave of the minutes.

    >>> plan = plan_for(DemoSettings(studies=1000, minutes=7))
    >>> plan.sft_steps > plan.grpo_steps > 0
    True
    >>> plan_for(DemoSettings(studies=1000, minutes=7)) == plan
    True
    """
    test_items = TEST_ITEMS_PER_STUDY * settings.studies
    other = (SECONDS_FIXED + SECONDS_PER_STUDY * settings.studies
             + SECONDS_PER_TEST_ITEM * test_items)
    train = max(settings.minutes * 60 - other, MIN_TRAIN_SECONDS)
    sft_steps = max(10, round(SFT_SHARE * train * SFT_STEPS_PER_S))
    grpo_steps = max(4, round((1 - SFT_SHARE) * train * GRPO_STEPS_PER_S))
    estimates = {"sft": sft_steps / SFT_STEPS_PER_S, "grpo": grpo_steps / GRPO_STEPS_PER_S,
                 "predict": SECONDS_PER_TEST_ITEM * test_items,
                 "other": SECONDS_FIXED + SECONDS_PER_STUDY * settings.studies}
    return DemoPlan(settings, sft_steps, grpo_steps, estimates=estimates)
