"""What a demo run will do: settings in, a fixed plan of step counts out.

Why a plan and not a timer: `--minutes` must not make training stop "when time is up", or a
rerun after an interrupt would train a different model and print a different table. The
minutes become step counts once, through rates measured on the 2-core reference machine times
this machine's speed (measured at the first start, `calibrate.py`, and kept in the folder); the
same settings and speed always give the same plan, and so the same final table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

# Measured on the 2-core CPU machine the README quotes (tiny model at 56 px, float32, 2
# threads): `chestx train vision` at 32 images a step (800 steps in 79 s, alone),
# the answer-only base SFT at batch 16 (454 steps in 69 s), `chestx train sft` at batch 8 (786
# steps in 184 s), `chestx train grpo` with 2 prompts x 4 generations of up to 256 tokens (36
# steps in 46 s), in one demo run, all on full chains;
# and the other stages' seconds per study (synth, build, mining, scoring) and per test item
# (three trained models predicting, two of them up to 320 tokens). Brief chains (the demo's)
# train faster: 10.8 SFT steps/s with a quarter answer-only, against 6.5 for full chains in
# the last demo run on them and 5.2 alone on a later day; GRPO 1.4 steps/s against 1.1
# (shorter completions). Their rates are the full-chain ones scaled by the smaller ratios,
# 1.66 and 1.27.
VISION_STEPS_PER_S = 10.0
BASE_STEPS_PER_S = 6.5
SFT_STEPS_PER_S = 4.2 * 1.66
GRPO_STEPS_PER_S = 0.75 * 1.27
SECONDS_FIXED = 50.0          # imports, model loads, tokenizer training, report
SECONDS_PER_STUDY = 0.012
SECONDS_PER_TEST_ITEM = 0.1   # the trained models, greedy, batch 16
TEST_ITEMS_PER_STUDY = 0.4    # what `chestx build` makes of the synthetic cohort
MIN_TRAIN_SECONDS = 30.0
# Shares of the training time: the base (vision pretraining, then answer-only SFT) first,
# then reasoning SFT and GRPO split what is left. The tower's held-out mean AUC at 56 px was
# 0.80 after 800 steps and 0.82 after 1,600 (0.65 after 233 at 112 px, the old plan's). The
# answer-only base at lr 3e-3 answered 0.58 after 900 steps and 0.50 after 600 (same tower);
# at these shares the 10-minute plan gives about 790, 900 and 1,530 steps, and 60 of GRPO.
VISION_SHARE = 0.158
BASE_SHARE = 0.278
SFT_SHARE = 0.44


class SFTRun(NamedTuple):
    """What one SFT stage of the demo trains with (the base's, or reasoning SFT's)."""

    steps: int
    batch_size: int
    answer_only_ratio: float
    learning_rate: float


@dataclass(frozen=True)
class DemoSettings:
    """What the user chose; a demo folder remembers them so a rerun resumes the same run."""

    studies: int = 1000
    minutes: float = 10.0
    seed: int = 0
    speed: float | None = None  # vs the reference machine; None: measured at the first start

    def __post_init__(self) -> None:
        if self.studies < 50:
            raise ValueError(f"--studies must be at least 50 (got {self.studies}): fewer "
                             "leave some tasks without test items")
        if self.minutes <= 0:
            raise ValueError(f"--minutes must be positive (got {self.minutes:g})")
        if self.speed is not None and not 0 < self.speed <= 10:
            raise ValueError(f"--speed must be in (0, 10] (got {self.speed:g})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DemoPlan:
    """Every choice the stages need, derived from the settings alone."""

    settings: DemoSettings
    speed: float                  # the machine speed the steps were planned for
    sft_steps: int
    grpo_steps: int
    vision_steps: int = 300
    base_steps: int = 300
    vision_batch_size: int = 32
    vision_lr: float = 1e-3
    base_batch_size: int = 16
    sft_batch_size: int = 8       # more, smaller steps learn faster per example at this size
    base_lr: float = 3e-3         # answer-only: short targets, a higher rate still converges
    sft_lr: float = 2e-3          # a from-scratch tiny model, not a pretrained 7B (paper: 1e-5)
    # A quarter answer-only: brief reasoning targets are short, so more of them fit
    answer_only_ratio: float = 0.25
    # Brief chains (observations and answer, no plan or where-to-look sentences): a third of
    # the tokens, which this model learns to fill from the image (docs/training.md: 0.46
    # accuracy against 0.37 for full chains, same base and steps, in half the time).
    train_chain_style: str = "brief"
    grpo_lr: float = 5e-6
    grpo_generations: int = 4
    grpo_prompts_per_step: int = 2
    grpo_completion_tokens: int = 256
    grpo_temperature: float = 0.7  # at 1.0 the tiny model breaks its own format too often
    predict_tokens: int = 320
    predict_batch_size: int = 16
    estimates: dict[str, float] = field(default_factory=dict)  # stage -> planned seconds

    @property
    def base_run(self) -> SFTRun:
        """The answer-only SFT that makes the base (every example answer-only)."""
        return SFTRun(self.base_steps, self.base_batch_size, 1.0, self.base_lr)

    @property
    def sft_run(self) -> SFTRun:
        """Reasoning SFT from the base."""
        return SFTRun(self.sft_steps, self.sft_batch_size, self.answer_only_ratio, self.sft_lr)

    @property
    def save_steps(self) -> int:
        """Checkpoint cadence: about eight per training stage, so a kill loses little."""
        return max(5, max(self.sft_steps, self.grpo_steps, self.base_steps) // 8)

    def describe(self) -> str:
        total = sum(self.estimates.values())
        machine = ("the reference 2-core machine" if self.speed == 1 else
                   f"this machine ({self.speed:g}x the reference 2-core machine's speed)")
        return (f"{self.settings.studies} studies, seed {self.settings.seed}; vision "
                f"{self.vision_steps} steps, base {self.base_steps}, SFT {self.sft_steps} (batch "
                f"{self.sft_batch_size}), GRPO {self.grpo_steps} ({self.grpo_prompts_per_step} "
                f"prompts x {self.grpo_generations} generations); about {total / 60:.1f} min "
                f"on {machine}")


def plan_for(settings: DemoSettings, speed: float | None = None) -> DemoPlan:
    """The plan for `settings` on a machine of `speed` (settings.speed when given, else 1, the
    reference): training gets what the other stages leave of the minutes.

    >>> plan = plan_for(DemoSettings(studies=1000, minutes=8))
    >>> plan.sft_steps > plan.grpo_steps > 0
    True
    >>> plan_for(DemoSettings(studies=1000, minutes=8)) == plan
    True
    >>> plan_for(DemoSettings(studies=1000, minutes=8), speed=0.5).sft_steps < plan.sft_steps
    True
    """
    speed = settings.speed or speed or 1.0
    test_items = TEST_ITEMS_PER_STUDY * settings.studies
    fixed = (SECONDS_FIXED + SECONDS_PER_STUDY * settings.studies) / speed
    predict = SECONDS_PER_TEST_ITEM * test_items / speed
    train = max(settings.minutes * 60 - fixed - predict, MIN_TRAIN_SECONDS)
    rates = {"vision": VISION_STEPS_PER_S * speed, "base": BASE_STEPS_PER_S * speed,
             "sft": SFT_STEPS_PER_S * speed, "grpo": GRPO_STEPS_PER_S * speed}
    shares = {"vision": VISION_SHARE, "base": BASE_SHARE, "sft": SFT_SHARE,
              "grpo": 1 - VISION_SHARE - BASE_SHARE - SFT_SHARE}
    floors = {"vision": 10, "base": 10, "sft": 10, "grpo": 4}
    steps = {stage: max(floors[stage], round(shares[stage] * train * rates[stage]))
             for stage in rates}
    estimates = {stage: steps[stage] / rates[stage] for stage in rates}
    estimates |= {"predict": predict, "other": fixed}
    return DemoPlan(settings, speed, steps["sft"], steps["grpo"], vision_steps=steps["vision"],
                    base_steps=steps["base"], estimates=estimates)
