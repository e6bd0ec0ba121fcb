"""`chestx reproduce`: the paper's ablation in miniature, on the demo's cohort and models.

The paper's claims are that reasoning supervision mined from reports makes a better reasoner,
and that RL with a process reward gated on the right answer beats SFT alone and beats an
outcome-only reward. The demo trains SFT, then GRPO with format + outcome + gated process
rewards. This adds a second GRPO run from the same SFT model with the same steps, seed and
settings but the process reward weighted 0 (format + outcome only; the process reward is still
logged, so its curve shows what it does when nothing optimizes it), predicts and scores the
three trained models together, and writes:

- DIR/ablation.json: per task and overall, the paired bootstrap difference (95 % CI) on
  accuracy and RadRScore of GRPO − SFT for both GRPO runs and of process − outcome-only;
  and each GRPO run's reward means per quarter of its steps;
- DIR/ablation.md: the same as two Markdown tables, for a README or a paper draft.

Run in a finished demo folder with the demo's settings, it reuses every demo stage.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from chestx_reasoner.demo.plan import DemoPlan
from chestx_reasoner.demo.stages import (
    REWARD_KEYS,
    STAGES,
    TRAINED,
    DemoPaths,
    Stage,
    StageProgress,
    grpo_stage,
    predict_stage,
    score_stage,
)
from chestx_reasoner.jsonl import write_atomic

SFT, PROCESS = TRAINED
OUTCOME_ONLY = "tiny-sft-grpo-outcome"
OUTCOME_ONLY_WEIGHTS = (1.0, 1.0, 0.0)  # format, outcome, process
MODELS = (SFT, PROCESS, OUTCOME_ONLY)
# (label, model A, model B): each row is B − A over the same test items.
CONTRASTS = (("GRPO (process) − SFT", SFT, PROCESS),
             ("GRPO (outcome only) − SFT", SFT, OUTCOME_ONLY),
             ("process − outcome only", OUTCOME_ONLY, PROCESS))
METRICS = ("accuracy", "radrscore")


def ablation_dir(paths: DemoPaths) -> Path:
    return paths.root / "ablation"


def reward_quarters(log_history: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Each reward's mean over the first, second, third and last quarter of the logged steps.

    >>> logs = [{"rewards/format_reward/mean": v} for v in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    >>> reward_quarters(logs)["format"]
    [0.1, 0.4, 0.6, 0.9]
    """
    out: dict[str, list[float | None]] = {}
    for key, name in REWARD_KEYS.items():
        values = [float(e[key]) for e in log_history if isinstance(e.get(key), int | float)]
        if not values:
            continue
        bounds = [round(len(values) * q / 4) for q in range(5)]
        out[name] = [round(sum(part) / len(part), 3) if (part := values[a:max(b, a + 1)])
                     else None for a, b in itertools.pairwise(bounds)]
    return out


def ablation_result(paths: DemoPaths, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The contrasts and reward curves of a finished run (read from its folder)."""
    from chestx_reasoner.scoring.curves import read_log_history
    from chestx_reasoner.scoring.stats import paired_differences, read_items

    scored = ablation_dir(paths) / "scored"
    items = {name: read_items(scored, name) for name in MODELS}
    contrasts = []
    for label, a, b in CONTRASTS:
        result = paired_differences(items[a], items[b], METRICS, n_boot, seed)
        contrasts.append({"contrast": label, "a": a, "b": b, "overall": result["overall"],
                          "by_task": result["by_task"]})
    curves = {name: reward_quarters(read_log_history(paths.model(name) / "log_history.jsonl"))
              for name in (PROCESS, OUTCOME_ONLY)}
    return {"models": list(MODELS), "metrics": list(METRICS), "contrasts": contrasts,
            "reward_quarters": curves}


def _diff(cell: dict[str, Any]) -> str:
    if cell.get("diff") is None:
        return "-"
    low, high = cell["ci"] or (None, None)
    ci = f" [{low:+.2f}, {high:+.2f}]" if low is not None else ""
    return f"{cell['diff']:+.2f}{ci}" + (" *" if cell.get("significant") else "")


def ablation_markdown(result: dict[str, Any]) -> str:
    """Two Markdown tables: the contrasts overall and per task, and the reward curves."""
    lines = ["| contrast (B − A) | task | n | accuracy | RadRScore |", "|---|---|---|---|---|"]
    for row in result["contrasts"]:
        for task, cell in [("all", row["overall"]), *row["by_task"].items()]:
            lines.append(f"| {row['contrast']} | {task} | {cell['n']} | "
                         f"{_diff(cell['accuracy'])} | {_diff(cell['radrscore'])} |")
    lines += ["", "paired bootstrap 95 % CI; * the CI excludes 0", "",
              "| GRPO run | reward | 1st quarter | 2nd | 3rd | last quarter |",
              "|---|---|---|---|---|---|"]
    for model, rewards in result["reward_quarters"].items():
        for reward, quarters in rewards.items():
            lines.append(f"| {model} | {reward} | "
                         + " | ".join("-" if q is None else f"{q:.2f}" for q in quarters) + " |")
    return "\n".join(lines) + "\n"


def _ablation(paths: DemoPaths, plan: DemoPlan, progress: StageProgress) -> str:
    progress.start(None)
    result = ablation_result(paths, seed=plan.settings.seed)
    write_atomic(paths.root / "ablation.json", json.dumps(result, indent=2) + "\n")
    write_atomic(paths.root / "ablation.md", ablation_markdown(result))
    process = result["contrasts"][2]["overall"]
    return (f"process − outcome only: accuracy {_diff(process['accuracy'])}, RadRScore "
            f"{_diff(process['radrscore'])}; {paths.root / 'ablation.md'}")


REPRODUCE_STAGES: tuple[Stage, ...] = (
    *STAGES,
    grpo_stage(OUTCOME_ONLY, "train grpo outcome-only", OUTCOME_ONLY_WEIGHTS),
    predict_stage(OUTCOME_ONLY),
    score_stage("score ablation", MODELS, lambda p: ablation_dir(p) / "scored"),
    Stage("ablation", "", lambda p, plan: ["(chestx reproduce writes DIR/ablation.md)"],
          _ablation),
)
