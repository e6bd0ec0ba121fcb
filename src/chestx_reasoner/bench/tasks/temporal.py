"""`temporal`: a prior and a current image; "identify the progression of X" (MS-CXR-T style).

One item per labelled finding of each pair: A) Stable B) Worsening C) Improving. The report is
the prior report then the current one.
"""

from __future__ import annotations

from collections.abc import Iterator

from chestx_reasoner.bench.tasks import TASKS, Draft, TaskContext, capped, name_of
from chestx_reasoner.data.study import Study

OPTIONS = ["Stable", "Worsening", "Improving"]
_LETTER = {"stable": "A", "worsening": "B", "improving": "C"}


def pair_report(prior: str, current: str) -> str:
    return f"PRIOR REPORT:\n{prior.strip()}\n\nCURRENT REPORT:\n{current.strip()}"


@TASKS.register("temporal")
def build_temporal(studies: list[Study], ctx: TaskContext) -> Iterator[Draft]:
    pairs = [(s, column, label) for s in studies if s.prior_image is not None
             for column, label in sorted(s.progression.items())]
    for study, column, label in capped(pairs, ctx.per_task, ctx.rng):
        yield Draft(
            task="temporal", study=study, images=[study.prior_image, study.frontal_image()],
            question=("Compared with the prior chest X-ray, identify the progression of "
                      f"{name_of(column)}."),
            options=list(OPTIONS), answer=_LETTER[label],
            report=pair_report(study.prior_report or "", study.report),
            suffix=column.lower().replace(" ", "-"), finding=column)
