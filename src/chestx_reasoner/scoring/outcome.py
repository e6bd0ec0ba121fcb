"""Outcome scores: did the model answer the question (RadRBench's "accuracy").

Option tasks are right or wrong. `multi_open` answers are finding lists, where exact string match
would punish "pleural effusions" against "effusion", so both sides are mapped onto the findings
vocabulary and compared as sets (F1); a finding named at a coarser or finer granularity than the
reference ("nodule" vs "lung lesion") still counts when both roll up into the same CheXpert
observation. The paper used RaTEScore here; it is used when installed (a hook, not a dependency).
An unparsable answer scores 0: it is wrong, never skipped, or a model could abstain its way up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache

from chestx_reasoner.reports.vocabulary import concepts_by_name, observation_of
from chestx_reasoner.scoring.parse import parse_findings


def _observation(name: str) -> str | None:
    concept = concepts_by_name().get(name)
    return concept.observation if concept else observation_of(name)


def _matches(a: str, b: str) -> bool:
    if a == b:
        return True
    obs = _observation(a)
    return obs is not None and obs == _observation(b)


def _max_matching(left: list[str], right: list[str]) -> int:
    """Size of a maximum one-to-one matching (Kuhn's algorithm): symmetric, unlike greedy."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, name in enumerate(right):
            if j not in seen and _matches(left[i], name):
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(left)))


def finding_f1(predicted: list[str], reference: list[str]) -> float:
    """F1 of two finding lists (canonical names), one-to-one, same name or same observation.

    >>> finding_f1(["cardiomegaly", "nodule"], ["cardiomegaly", "mass", "pneumothorax"])
    0.8
    >>> finding_f1([], []), finding_f1(["edema"], [])
    (1.0, 0.0)
    """
    pred, ref = sorted(set(predicted)), sorted(set(reference))
    if not pred and not ref:
        return 1.0
    if not pred or not ref:
        return 0.0
    return 2 * _max_matching(pred, ref) / (len(pred) + len(ref))


# The PyPI package `RaTEScore` installs the module `RaTEScore`; accept a lowercase one too.
_RATESCORE_MODULES = ("RaTEScore", "ratescore")


@lru_cache(maxsize=1)
def _ratescore_module() -> str | None:
    for name in _RATESCORE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return name
    return None


def ratescore_available() -> bool:
    """Whether the optional RaTEScore package (the paper's multi_open metric) is importable.

    It downloads its NER and encoder models on first use, so it is never a hard dependency.
    """
    return _ratescore_module() is not None


@lru_cache(maxsize=1)
def _ratescorer():  # pragma: no cover - needs the optional package and its model weights
    return importlib.import_module(_ratescore_module() or "RaTEScore").RaTEScore()


def ratescore(predicted: str, reference: str) -> float:  # pragma: no cover - optional package
    """RaTEScore of a predicted findings text against the reference (hook; not installed here)."""
    return float(_ratescorer().compute_score([predicted], [reference])[0])


def answer_score(item: dict, parsed: str | None, use_ratescore: bool | None = None) -> float:
    """1/0 for option tasks; finding-set F1 (or RaTEScore) for multi_open; None parsed -> 0.

    `use_ratescore`: None uses RaTEScore for multi_open when it is installed, False never does.

    >>> answer_score({"task": "single", "answer": "B"}, "B")
    1.0
    >>> answer_score({"task": "multi_open", "answer": "pleural effusion, cardiomegaly"},
    ...              "enlarged heart, pleural effusions", use_ratescore=False)
    1.0
    >>> answer_score({"task": "binary", "answer": "A"}, None)
    0.0
    """
    if parsed is None:
        return 0.0
    if item["task"] == "multi_open" or not item.get("options", ["?"]):
        if use_ratescore is None:
            use_ratescore = ratescore_available()
        if use_ratescore:  # pragma: no cover - optional package
            return ratescore(parsed, item["answer"])
        return finding_f1(parse_findings(parsed), parse_findings(item["answer"]))
    return 1.0 if parsed.strip().upper() == str(item["answer"]).strip().upper() else 0.0


# Metric name -> (how items aggregate, per-item function of (item, parsed answer)).
METRICS: dict[str, tuple[str, Callable[[dict, str | None], float]]] = {
    "accuracy": ("mean", answer_score),
}
