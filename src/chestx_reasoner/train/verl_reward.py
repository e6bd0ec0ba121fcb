"""Our GRPO rewards as verl reward functions: format, outcome and the gated process reward.

verl loads a custom reward with `reward.custom_reward_function.path=pkg://chestx_reasoner.
train.verl_reward` and `.name=compute_score` (per response, verl's default `naive` reward
manager) or `.name=compute_score_batch` (verl's batch reward manager). Both return, per
response, a dict: `score` (what GRPO trains on) and the parts `format`, `outcome`, `process`,
which verl logs beside it. The parts are the very callables `chestx train grpo` hands TRL
(`train.rewards`), so a verl run and a TRL run pay the same completion the same reward; the
weighted sum follows TRL's rule that a reward with no value for an item (`None`: no gold
answer, no report) adds nothing. verl averages every logged key, so such a part is logged as 0.0.

Weights default to 1, 1, 1 as in `chestx train grpo`; verl passes
`reward.custom_reward_function.reward_kwargs.reward_weights=[F,O,P]` through as a keyword.
Everything the rewards read besides the response comes from the row's `ground_truth` (the
answer) and `extra_info` (task, options, report, reasoning, question), as written by
`chestx export verl`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from chestx_reasoner.train.rewards import ProcessReward, format_reward, outcome_reward

PARTS = ("format", "outcome", "process")
DEFAULT_WEIGHTS = (1.0, 1.0, 1.0)

# One judge per process: verl's naive manager calls compute_score from a thread pool, and the
# judge's spaCy pipelines are built once (lazily) and used by one thread at a time.
_PROCESS = ProcessReward()
_LOCK = threading.Lock()


def _weights(reward_weights: Any) -> tuple[float, float, float]:
    if reward_weights is None:
        return DEFAULT_WEIGHTS
    if isinstance(reward_weights, str):
        reward_weights = reward_weights.split(",")
    try:
        weights = tuple(float(w) for w in reward_weights)
    except (TypeError, ValueError):
        weights = ()
    if len(weights) != len(PARTS):
        raise ValueError(f"reward_weights wants 3 numbers (format, outcome, process), got "
                         f"{reward_weights!r}")
    return weights  # type: ignore[return-value]


def _list(value: Any) -> list[Any]:
    """A list from what verl hands over: a list, a NumPy array (pandas), or None."""
    return [] if value is None else list(value)


def _columns(ground_truths: Sequence[Any], extra_infos: Sequence[Any]) -> dict[str, list[Any]]:
    """The keyword columns of `train.rewards`, from verl's ground truths and extra_info dicts."""
    infos = [dict(info or {}) for info in extra_infos]
    return {
        "answer": [None if gt is None else str(gt) for gt in ground_truths],
        "task": [str(info.get("task") or "") for info in infos],
        "options": [[str(o) for o in _list(info.get("options"))] for info in infos],
        "report": [info.get("report") for info in infos],
        "reasoning": [[str(s) for s in _list(info.get("reasoning"))] for info in infos],
        "question": [str(info.get("question") or "") for info in infos],
    }


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str],
                        ground_truths: Sequence[Any], extra_infos: Sequence[Any] | None = None,
                        reward_weights: Any = None, **kwargs: Any) -> list[dict[str, float]]:
    """verl's batch form: one dict of `score` and its parts per response.

    The process reward judges the whole batch in one call of the judge, which is why a batch
    manager is faster than scoring responses one by one.

    >>> compute_score_batch(["radrbench-cxr/binary"] * 2,
    ...     ["<think>Sharp angles.</think><answer>B</answer>", "<answer>A</answer>"],
    ...     ["B", "B"], [{"task": "binary", "options": ["Yes", "No"]}] * 2)[1]
    {'score': 0.0, 'format': 0.0, 'outcome': 0.0, 'process': 0.0}
    """
    weights = _weights(reward_weights)
    texts = [str(text or "") for text in solution_strs]
    infos = list(extra_infos) if extra_infos is not None else [{}] * len(texts)
    columns = _columns(ground_truths, infos)
    parts = [format_reward(texts), outcome_reward(texts, **columns)]
    with _LOCK:
        parts.append(_PROCESS(texts, **columns))
    out: list[dict[str, float]] = []
    for i in range(len(texts)):
        values = [part[i] for part in parts]
        score = sum(w * v for w, v in zip(weights, values, strict=True) if v is not None)
        out.append({"score": float(score),
                    **{name: float(v or 0.0) for name, v in zip(PARTS, values, strict=True)}})
    return out


def compute_score(data_source: str, solution_str: str, ground_truth: Any,
                  extra_info: dict[str, Any] | None = None, reward_weights: Any = None,
                  **kwargs: Any) -> dict[str, float]:
    """verl's per-response form (the `naive` reward manager): `score` plus its three parts.

    >>> compute_score("radrbench-cxr/binary", "<think>No fluid.</think><answer>B</answer>",
    ...               "B", {"task": "binary", "options": ["Yes", "No"]})
    {'score': 2.0, 'format': 1.0, 'outcome': 1.0, 'process': 0.0}
    """
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info],
                               reward_weights=reward_weights)[0]
