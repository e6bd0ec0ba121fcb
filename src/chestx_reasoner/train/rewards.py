"""GRPO rewards in TRL's style: format, outcome and the gated process reward.

Each reward is a plain callable `(completions, **kwargs) -> list[float | None]`, one number per
completion; TRL's `GRPOTrainer` passes every dataset column as a keyword argument (lists aligned
with `completions`) plus its own extras (`prompts`, `completion_ids`, `trainer_state`, …), so
each reward names the columns it needs and swallows the rest. `None` means "no reward defined
for this item" and TRL leaves it out of the weighted sum. Weighting is TRL's
`GRPOConfig.reward_weights`, never ours.

- `format`: the completion is exactly `<think>…</think>` then `<answer>…</answer>`.
- `outcome`: `parse_answer` + `answer_score`, the very functions `chestx score` uses, so training
  and evaluation cannot disagree on what an answer is (1/0 for option tasks, finding-set F1 for
  `multi_open`).
- `process`: the factuality of the generated reasoning against the item's report and mined chain
  (RadRScore's Rf, offline judge), paid only when the answer is right: fluent but wrong
  reasoning earns nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from chestx_reasoner.models.prompt import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from chestx_reasoner.registry import Registry, UnknownNameError
from chestx_reasoner.scoring.outcome import answer_score
from chestx_reasoner.scoring.parse import extract_reasoning, parse_answer, split_steps

RewardFunc = Callable[..., list[float | None]]

# An answer at least this good is "right" for the gate: option tasks score exactly 1.0 or 0.0,
# multi_open scores an F1 that float rounding may leave a hair below 1.
RIGHT = 0.999

_FORMAT = re.compile(
    rf"\s*{re.escape(THINK_OPEN)}(?P<think>.*?){re.escape(THINK_CLOSE)}"
    rf"\s*{re.escape(ANSWER_OPEN)}(?P<answer>.*?){re.escape(ANSWER_CLOSE)}\s*",
    re.DOTALL,
)

rewards: Registry[RewardFunc] = Registry("reward")


def _part_text(content: Any) -> str:
    """Text of a message's content: a string, or a list of parts of which the text ones count."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "") if content.get("type", "text") == "text" else ""
    if isinstance(content, Sequence):
        return "".join(_part_text(part) for part in content)
    return str(content)


def completion_text(completion: Any) -> str:
    """The generated text of one completion, whichever shape TRL hands it in.

    Standard prompts give a string; conversational ones a list of messages whose content is a
    string or a list of parts. Only assistant turns count (a message without a role counts too).

    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "Hi"}]}])
    'Hi'
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    return "".join(_part_text(m.get("content")) for m in completion
                   if isinstance(m, dict) and m.get("role", "assistant") == "assistant")


def _well_formed(text: str) -> bool:
    match = _FORMAT.fullmatch(text)
    if match is None or not match["think"].strip() or not match["answer"].strip():
        return False
    tags = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
    return all(text.count(tag) == 1 for tag in tags)


@rewards.register("format")
def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for exactly one non-empty `<think>` followed by one non-empty `<answer>`, else 0.0.

    Strict on purpose: `parse_answer` is lenient so that evaluation scores radiology, and this
    reward is what teaches the model the format evaluation does not insist on.

    >>> format_reward(["<think>\\nNo effusion.\\n</think>\\n<answer>B</answer>",
    ...                "<answer>B</answer><think>No effusion.</think>",
    ...                "<think></think><answer>B</answer>"])
    [1.0, 0.0, 0.0]
    """
    return [1.0 if _well_formed(completion_text(c)) else 0.0 for c in completions]


def _options(options: Sequence[Any] | None, index: int) -> list[str]:
    if options is None:
        return []
    row = options[index]
    return [str(o) for o in row] if row else []


def _outcome(text: str, answer: Any, task: str, options: list[str]) -> float | None:
    if answer is None or not str(answer).strip():
        return None  # no gold answer: nothing to reward against
    item = {"task": task, "answer": str(answer), "options": options}
    return answer_score(item, parse_answer(text, options, task), use_ratescore=False)


@rewards.register("outcome")
def outcome_reward(completions: Sequence[Any], *, answer: Sequence[Any], task: Sequence[str],
                   options: Sequence[Any] | None, **kwargs: Any) -> list[float | None]:
    """The answer score `chestx score` gives: 1/0 for option tasks, finding-set F1 for
    `multi_open`; None for an item with no gold answer.

    >>> outcome_reward(["<think>Blunted angle.</think><answer>A</answer>", "No."],
    ...                answer=["A", "A"], task=["binary", "binary"],
    ...                options=[["Yes", "No"], ["Yes", "No"]])
    [1.0, 0.0]
    """
    return [_outcome(completion_text(c), answer[i], str(task[i]), _options(options, i))
            for i, c in enumerate(completions)]


class ProcessReward:
    """Factuality of the generated reasoning, paid only when the answer is right.

    A callable class rather than a closure so that it pickles to TRL's workers; the judge (spaCy
    pipelines) is built on the first call and never pickled, unless one was passed in.
    """

    __name__ = "process_reward"

    def __init__(self, judge: Any | None = None) -> None:
        self._given = judge is not None
        self._judge = judge

    @property
    def judge(self) -> Any:
        if self._judge is None:
            from chestx_reasoner.scoring.judge_rules import RulesJudge

            self._judge = RulesJudge()
        return self._judge

    def __getstate__(self) -> dict[str, Any]:
        return {"_given": self._given, "_judge": self._judge if self._given else None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        judge = type(self._judge).__name__ if self._judge is not None else "lazy RulesJudge"
        return f"ProcessReward(judge={judge})"

    def __call__(self, completions: Sequence[Any], *, answer: Sequence[Any],
                 task: Sequence[str], options: Sequence[Any] | None,
                 report: Sequence[Any] | None = None, reasoning: Sequence[Any] | None = None,
                 question: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        out: list[float | None] = [None] * len(texts)
        if report is None:
            return out  # no report column: nothing to check any reasoning against
        todo: list[int] = []
        for i, text in enumerate(texts):
            if not str(report[i] or "").strip():
                continue
            score = _outcome(text, answer[i], str(task[i]), _options(options, i))
            if score is None:
                continue
            out[i] = 0.0
            if score >= RIGHT:
                todo.append(i)
        if not todo:
            return out
        records = [{"task": str(task[i]), "answer": str(answer[i]),
                    "options": _options(options, i), "report": str(report[i]),
                    "reasoning": list(reasoning[i] or []) if reasoning is not None else [],
                    "question": str(question[i]) if question is not None else ""}
                   for i in todo]
        steps = [split_steps(extract_reasoning(texts[i])) for i in todo]
        judgments = self.judge.judge_many(records, steps, [True] * len(todo))
        for i, judgment in zip(todo, judgments, strict=True):
            out[i] = float(judgment.factuality or 0.0)
        return out


def process_reward(judge: Any | None = None) -> ProcessReward:
    """The gated process reward; `judge` defaults to the offline `RulesJudge`, built lazily.

    Gated on the outcome (1.0, or F1 >= 0.999 for multi_open) because factuality alone pays a
    model for describing the image well and then answering wrong; a wrong answer earns 0.0, an
    item without a report None.
    """
    return ProcessReward(judge)


rewards.register("process")(process_reward())

REWARDS: dict[str, RewardFunc] = {name: rewards.get(name) for name in rewards.names()}


def get_reward_funcs(names: Sequence[str]) -> list[RewardFunc]:
    """The reward callables for short names, in order (for `GRPOTrainer(reward_funcs=…)`).

    `process` gets a fresh instance each call, so trainers never share one judge by accident.

    >>> [f.__name__ for f in get_reward_funcs(["format", "outcome", "process"])]
    ['format_reward', 'outcome_reward', 'process_reward']
    """
    out: list[RewardFunc] = []
    for name in names:
        try:
            func = rewards.get(name)
        except UnknownNameError as error:
            raise ValueError(str(error)) from None
        out.append(process_reward() if isinstance(func, ProcessReward) else func)
    return out
