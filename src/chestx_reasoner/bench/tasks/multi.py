"""`multi` and `multi_open`: "Which findings are in this chest X-ray?"

`multi` offers four sets of findings, exactly one equal to the study's positive findings; the
three others differ from it by swapping, adding or dropping a finding, so they are near misses.
`multi_open` asks the same with no options: the answer is the positive findings.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from chestx_reasoner.bench.tasks import TASKS, Draft, TaskContext, capped, letter, name_of
from chestx_reasoner.data.study import Study

QUESTION = "Which findings are in this chest X-ray?"


def option_text(columns: list[str]) -> str:
    """Findings of one option, in a fixed order so that equal sets read the same."""
    return ", ".join(sorted(name_of(c) for c in columns))


def near_misses(present: list[str], absent: list[str], rng: random.Random,
                count: int = 3) -> list[list[str]] | None:
    """`count` distinct wrong sets close to `present`, or None when there are not enough."""
    truth = frozenset(present)
    found: dict[frozenset[str], list[str]] = {}
    for _ in range(50):
        candidate = set(present)
        move = rng.choice(["swap", "swap", "add", "drop"])
        if move == "swap" or (move == "drop" and len(candidate) > 1):
            candidate.discard(rng.choice(sorted(candidate)))
        if move in ("swap", "add") and absent:
            candidate.add(rng.choice(absent))
        key = frozenset(candidate)
        if key and key != truth and key not in found:
            found[key] = sorted(candidate)
        if len(found) == count:
            return list(found.values())
    return None


@TASKS.register("multi")
def build_multi(studies: list[Study], ctx: TaskContext) -> Iterator[Draft]:
    eligible = [s for s in studies if ctx.labels.positives(s) and len(ctx.labels.absents(s)) >= 2]
    for study in capped(eligible, ctx.per_task, ctx.rng):
        present = ctx.labels.positives(study)
        wrong = near_misses(present, ctx.labels.absents(study), ctx.rng)
        if wrong is None:
            continue
        right = option_text(present)
        options = [right, *(option_text(w) for w in wrong)]
        ctx.rng.shuffle(options)
        yield Draft(task="multi", study=study, images=[study.frontal_image()],
                    question=QUESTION, options=options, answer=letter(options, right),
                    report=study.report)


@TASKS.register("multi_open")
def build_multi_open(studies: list[Study], ctx: TaskContext) -> Iterator[Draft]:
    if not ctx.labels.blank_is_absent:
        return  # label-only sources (SIIM, RSNA) know one column: the full set is unknown
    eligible = [s for s in studies if ctx.labels.positives(s)]
    for study in capped(eligible, ctx.per_task, ctx.rng):
        yield Draft(task="multi_open", study=study, images=[study.frontal_image()],
                    question=QUESTION, options=[],
                    answer=option_text(ctx.labels.positives(study)), report=study.report)
