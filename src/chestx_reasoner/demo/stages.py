"""The demo's stages: each calls the same function its `chestx` command calls, nothing else.

A stage knows the command line it stands for (written to DIR/commands.sh, so every step can be
rerun by hand), runs, and returns a one-line result. Its outputs are its checkpoint: every
runner below resumes (JSONL writers skip finished ids, training resumes from its last complete
`checkpoint-N`, model init replaces its folder atomically), and the runner marks a stage done
only after it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from chestx_reasoner.demo.plan import DemoPlan, SFTRun
from chestx_reasoner.progress import format_rate

log = logging.getLogger(__name__)

# The lines of the final table: prediction file name -> model spec.
BASELINES = ("random", "reference")
BASE = "tiny-base"  # the base model that sees (vision pretraining + answer-only SFT)
TRAINED = ("tiny-sft", "tiny-sft-grpo")
VISION = "vision"   # the vision-pretrained model (not a table line: its language model is new)
ANSWER_ONLY = (BASE,)  # asked for the answer alone: the base was never taught to reason


class StageProgress(Protocol):
    """What a stage tells the display: its size, its steps, a short status (loss, rewards)."""

    def start(self, total: int | None, done: int = 0) -> None: ...
    def advance(self, k: int = 1) -> None: ...
    def status(self, text: str) -> None: ...


@dataclass(frozen=True)
class DemoPaths:
    """Where every stage reads and writes, under the demo folder."""

    root: Path

    cohort = property(lambda self: self.root / "cohort")
    bench = property(lambda self: self.root / "bench")
    train_items = property(lambda self: self.bench / "train.jsonl")
    test_items = property(lambda self: self.bench / "test.jsonl")
    train_mined = property(lambda self: self.bench / "train-mined.jsonl")
    test_mined = property(lambda self: self.bench / "test-mined.jsonl")
    models = property(lambda self: self.root / "models")
    scored = property(lambda self: self.root / "scored")
    report = property(lambda self: self.root / "report.html")
    stages = property(lambda self: self.root / "stages")

    def model(self, name: str) -> Path:
        return self.models / name

    def predictions(self, name: str) -> Path:
        return self.root / "predictions" / f"{name}.jsonl"

    def spec(self, name: str) -> str:
        """The `--model` of a prediction line: a baseline's name, or a trained folder."""
        return name if name in BASELINES else f"hf:{self.model(name)}"


Runner = Callable[[DemoPaths, DemoPlan, StageProgress], str]


@dataclass(frozen=True)
class Stage:
    name: str
    unit: str  # what the progress bar counts
    command: Callable[[DemoPaths, DemoPlan], list[str]]
    run: Runner


# --- data ------------------------------------------------------------------------------------


def _synth(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
    from chestx_reasoner.data.synth import settings_for, write_preview
    from chestx_reasoner.data.synth.writer import synthesize

    config = settings_for(paths.cohort, n=plan.settings.studies, seed=plan.settings.seed)
    progress.start(config.n)
    summary = synthesize(paths.cohort, config, progress=progress.advance)
    write_preview(paths.cohort, 24, paths.cohort / "preview.png")
    return (f"{summary.studies} studies of {summary.patients} patients, {summary.pairs} "
            "prior/current pairs")


def _build(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
    from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark

    progress.start(None)
    manifest = build_benchmark([SourceSpec("synthetic", paths.cohort)], paths.bench,
                               BuildConfig(seed=plan.settings.seed), progress=progress.status)
    counts = manifest["counts"]
    return f"{sum(counts['train'].values())} train and {sum(counts['test'].values())} test items"


def _chain_style(plan: DemoPlan, split: str) -> str:
    """The training chains are the plan's style; the test split's reference chains, which the
    judge scores against, stay the paper's full chains."""
    return plan.train_chain_style if split == "train" else "full"


def _mine(split: str) -> Runner:
    def run(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
        from chestx_reasoner.mining.run import RulesBackend, mine_file, mine_settings

        items, out = (paths.train_items, paths.train_mined) if split == "train" else (
            paths.test_items, paths.test_mined)
        style = _chain_style(plan, split)
        summary = mine_file(items, out, RulesBackend(seed=plan.settings.seed, style=style),
                            on_start=lambda todo, done: progress.start(todo + done, done),
                            progress=progress.advance,
                            settings=mine_settings("rules", plan.settings.seed, style=style))
        return ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "resumed"

    return run


# --- models ----------------------------------------------------------------------------------


def _init(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
    from chestx_reasoner.models.tiny_build import build_tiny, save_tiny

    progress.start(None)
    progress.status("training the tokenizer")
    model, processor = build_tiny("tiny", [paths.train_items], seed=plan.settings.seed)
    save_tiny(paths.model("init"), model, processor, "tiny", plan.settings.seed,
              [paths.train_items])
    parameters = sum(p.numel() for p in model.parameters())
    return (f"tiny Qwen2-VL, {parameters / 1e6:.2f} M parameters, vocabulary "
            f"{len(processor.tokenizer)}")


def _train_callback(progress: StageProgress, keys: dict[str, str]) -> Any:
    """A TrainerCallback that moves the stage's bar per optimizer step and shows `keys`."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress.start(state.max_steps, state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            progress.advance(1)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kwargs: Any) -> None:
            shown = [f"{label} {logs[key]:.3f}" for key, label in keys.items()
                     if isinstance((logs or {}).get(key), int | float)]
            if shown:
                progress.status(" · ".join(shown))

    return Progress()


def _resume(out: Path) -> bool:
    from chestx_reasoner.train.sft import complete_checkpoints

    return bool(complete_checkpoints(out))


def _vision(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
    from chestx_reasoner.train.vision import VisionConfig, run_vision_pretrain

    config = VisionConfig(output_dir=str(paths.model(VISION)), max_steps=plan.vision_steps,
                          batch_size=plan.vision_batch_size, learning_rate=plan.vision_lr,
                          seed=plan.settings.seed, save_steps=plan.save_steps)
    result = run_vision_pretrain(paths.train_items, f"hf:{paths.model('init')}", config,
                                 resume=_resume(paths.model(VISION)),
                                 callbacks=[_train_callback(progress, {"loss": "loss"})])
    return result.describe()


def _sft_runner(name: str, start: str, run_of: Callable[[DemoPlan], SFTRun]) -> Runner:
    """SFT from models/START into models/NAME with the vision tower frozen (the base's)."""

    def run(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
        from chestx_reasoner.train.configs import ChestXSFTConfig
        from chestx_reasoner.train.sft import run_sft

        out, sft = paths.model(name), run_of(plan)
        config = ChestXSFTConfig(
            output_dir=str(out), max_steps=sft.steps, learning_rate=sft.learning_rate,
            per_device_train_batch_size=sft.batch_size,
            answer_only_ratio=sft.answer_only_ratio, freeze_vision=True,
            seed=plan.settings.seed, save_steps=plan.save_steps, save_total_limit=2,
            report_to="none")
        result = run_sft(paths.train_mined, f"hf:{paths.model(start)}", config,
                         resume=_resume(out),
                         callbacks=[_train_callback(progress, {"loss": "loss"})])
        losses = [e["loss"] for e in result.log_history if "loss" in e]
        return (f"{result.global_step} steps, loss {losses[0]:.2f} -> {losses[-1]:.2f}; "
                f"{result.data.describe()}") if losses else f"{result.global_step} steps"

    return run


def sft_stage(label: str, name: str, start: str, run_of: Callable[[DemoPlan], SFTRun]
              ) -> Stage:
    """The `train sft --freeze-vision` stage that trains models/START into models/NAME with
    the plan's `run_of(plan)` settings."""

    def command(p: DemoPaths, plan: DemoPlan) -> list[str]:
        sft = run_of(plan)
        return _cmd("train", "sft", "--data", p.train_mined, "--model", f"hf:{p.model(start)}",
                    "--out", p.model(name), "--max-steps", sft.steps, "--lr",
                    sft.learning_rate, "--batch-size", sft.batch_size, "--answer-only-ratio",
                    sft.answer_only_ratio, "--freeze-vision", "--seed", plan.settings.seed,
                    "--resume")

    return Stage(label, "steps", command, _sft_runner(name, start, run_of))


REWARD_KEYS = {f"rewards/{name}_reward/mean": name for name in ("format", "outcome", "process")}


def _grpo(name: str, weights: tuple[float, ...] | None = None) -> Runner:
    """GRPO from the SFT model into models/NAME; `weights` of the format, outcome and process
    rewards (None: TRL's, all 1). Every reward is logged whatever its weight."""

    def run(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
        from chestx_reasoner.train.configs import ChestXGRPOConfig
        from chestx_reasoner.train.grpo import run_grpo

        out = paths.model(name)
        config = ChestXGRPOConfig(
            output_dir=str(out), max_steps=plan.grpo_steps, learning_rate=plan.grpo_lr,
            num_generations=plan.grpo_generations,
            per_device_train_batch_size=plan.grpo_generations * plan.grpo_prompts_per_step,
            max_completion_length=plan.grpo_completion_tokens,
            temperature=plan.grpo_temperature, seed=plan.settings.seed,
            save_steps=plan.save_steps, save_total_limit=2, report_to="none",
            reward_weights=list(weights) if weights else None)
        result = run_grpo(paths.train_mined, f"hf:{paths.model('tiny-sft')}", config,
                          resume=_resume(out),
                          callbacks=[_train_callback(progress, REWARD_KEYS)])
        means = []
        for key, reward in REWARD_KEYS.items():
            values = [e[key] for e in result.log_history if key in e]
            if values:
                means.append(f"{reward} {sum(values) / len(values):.2f}")
        return f"{result.global_step} steps; mean rewards " + ", ".join(means)

    return run


def grpo_stage(name: str, label: str, weights: tuple[float, ...] | None = None) -> Stage:
    """The `train grpo` stage that writes models/NAME (the demo's, or an ablation's)."""

    def command(p: DemoPaths, plan: DemoPlan) -> list[str]:
        return _cmd(
            "train", "grpo", "--data", p.train_mined, "--model", f"hf:{p.model('tiny-sft')}",
            "--out", p.model(name), "--max-steps", plan.grpo_steps, "--lr", plan.grpo_lr,
            "--num-generations", plan.grpo_generations, "--prompts-per-step",
            plan.grpo_prompts_per_step, "--max-completion-length",
            plan.grpo_completion_tokens, "--temperature", plan.grpo_temperature,
            "--seed", plan.settings.seed,
            *(("--reward-weights", ",".join(f"{w:g}" for w in weights)) if weights else ()),
            "--resume")

    return Stage(label, "steps", command, _grpo(name, weights))


def _predict(name: str) -> Runner:
    def run(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
        from chestx_reasoner.models import LoadOptions, load_model
        from chestx_reasoner.models.base import GenerationSettings
        from chestx_reasoner.models.predict import predict_file, predict_settings

        settings = GenerationSettings(max_new_tokens=plan.predict_tokens, temperature=0.0,
                                      seed=plan.settings.seed,
                                      batch_size=plan.predict_batch_size,
                                      reasoning=name not in ANSWER_ONLY)
        progress.start(None)
        progress.status(f"loading {name}")
        adapter = load_model(paths.spec(name), LoadOptions(device="cpu",
                                                           seed=plan.settings.seed))
        summary = predict_file(paths.test_mined, paths.predictions(name), adapter, settings,
                               on_start=lambda todo, done: progress.start(todo + done, done),
                               progress=progress.advance,
                               made_by=predict_settings(adapter, paths.spec(name), settings))
        return f"{summary.done} items, {format_rate(summary.rate)} items/s"

    return run


def _score(names: tuple[str, ...], where: Callable[[DemoPaths], Path]) -> Runner:
    def run(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
        from chestx_reasoner.scoring.judge_rules import RulesJudge
        from chestx_reasoner.scoring.score import score_file, score_settings

        files = [paths.predictions(name) for name in names]
        summary, _ = score_file(files, where(paths), RulesJudge(),
                                on_start=lambda todo, done: progress.start(todo + done, done),
                                progress=progress.advance, settings=score_settings("rules"))
        return f"{summary.done + summary.already_done} predictions scored by the offline judge"

    return run


def score_stage(label: str, names: tuple[str, ...], where: Callable[[DemoPaths], Path]
                ) -> Stage:
    """`chestx score` of the predictions of `names` into the folder `where(paths)`."""
    return Stage(label, "items", lambda p, plan: _cmd(
        "score", *(part for name in names for part in ("--predictions", p.predictions(name))),
        "--out", where(p)), _score(names, where))


def _report(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
    from chestx_reasoner.demo.report import write_demo_report

    progress.start(None)
    write_demo_report(paths, plan)
    return str(paths.report)


# --- the equivalent command lines ------------------------------------------------------------


def _cmd(*parts: object) -> list[str]:
    return ["chestx", *(str(p) for p in parts)]


def predict_stage(name: str) -> Stage:
    """`chestx predict` of model `name` (a baseline or a trained folder) on the mined test set."""
    return Stage(f"predict {name}", "items", lambda p, plan: _cmd(
        "predict", "--bench", p.test_mined, "--model", p.spec(name), "--out",
        p.predictions(name), "--max-new-tokens", plan.predict_tokens, "--batch-size",
        plan.predict_batch_size, "--seed", plan.settings.seed, "--device", "cpu",
        *(("--answer-only",) if name in ANSWER_ONLY else ())),
        _predict(name))


STAGES: tuple[Stage, ...] = (
    Stage("synth", "studies", lambda p, plan: _cmd(
        "synth", "--out", p.cohort, "--n", plan.settings.studies, "--seed", plan.settings.seed,
        "--preview", 24), _synth),
    Stage("build", "", lambda p, plan: _cmd(
        "build", "--source", "synthetic", "--root", p.cohort, "--out", p.bench, "--seed",
        plan.settings.seed), _build),
    Stage("mine train", "items", lambda p, plan: _cmd(
        "mine", "--bench", p.train_items, "--out", p.train_mined, "--seed",
        plan.settings.seed, "--style", _chain_style(plan, "train")), _mine("train")),
    Stage("mine test", "items", lambda p, plan: _cmd(
        "mine", "--bench", p.test_items, "--out", p.test_mined, "--seed",
        plan.settings.seed), _mine("test")),
    Stage("model init", "", lambda p, plan: _cmd(
        "model", "init", "--out", p.model("init"), "--data", p.train_items, "--seed",
        plan.settings.seed, "--overwrite"), _init),
    Stage("train vision", "steps", lambda p, plan: _cmd(
        "train", "vision", "--data", p.train_items, "--model", f"hf:{p.model('init')}",
        "--out", p.model(VISION), "--max-steps", plan.vision_steps, "--batch-size",
        plan.vision_batch_size, "--lr", plan.vision_lr, "--seed", plan.settings.seed,
        "--save-steps", plan.save_steps, "--resume"), _vision),
    sft_stage("train base", BASE, VISION, lambda plan: plan.base_run),
    sft_stage("train sft", TRAINED[0], BASE, lambda plan: plan.sft_run),
    grpo_stage(TRAINED[1], "train grpo"),
    *(predict_stage(name) for name in (*BASELINES, BASE, *TRAINED)),
    score_stage("score", (*BASELINES, BASE, *TRAINED), lambda p: p.scored),
    Stage("report", "", lambda p, plan: ["(chestx demo writes DIR/report.html)"], _report),
)
