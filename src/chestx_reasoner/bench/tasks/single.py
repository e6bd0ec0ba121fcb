"""`single`: "Which finding is in this chest X-ray?" one present and three absent, shuffled."""

from __future__ import annotations

from collections.abc import Iterator

from chestx_reasoner.bench.tasks import TASKS, Draft, TaskContext, capped, letter, name_of
from chestx_reasoner.data.study import Study

QUESTION = "Which finding is in this chest X-ray?"


@TASKS.register("single")
def build_single(studies: list[Study], ctx: TaskContext) -> Iterator[Draft]:
    eligible = [s for s in studies
                if ctx.labels.positives(s) and len(ctx.labels.absents(s)) >= 3]
    for study in capped(eligible, ctx.per_task, ctx.rng):
        right = name_of(ctx.rng.choice(ctx.labels.positives(study)))
        options = [right, *(name_of(c) for c in ctx.rng.sample(ctx.labels.absents(study), 3))]
        ctx.rng.shuffle(options)
        yield Draft(task="single", study=study, images=[study.frontal_image()],
                    question=QUESTION, options=options, answer=letter(options, right),
                    report=study.report)
