"""`binary`: "Does this chest X-ray show X?" A) Yes B) No, balanced per finding.

Also the cross-centre items: on label-only sources (SIIM pneumothorax, RSNA pneumonia) only the
labelled column has positives and negatives, so the same builder makes their items.
"""

from __future__ import annotations

from collections.abc import Iterator

from chestx_reasoner.bench.sample import FINDINGS
from chestx_reasoner.bench.tasks import TASKS, Draft, TaskContext, name_of
from chestx_reasoner.data.study import Study

OPTIONS = ["Yes", "No"]


@TASKS.register("binary")
def build_binary(studies: list[Study], ctx: TaskContext) -> Iterator[Draft]:
    half = max(1, ctx.per_finding // 2)
    for column in FINDINGS:
        positives = [s for s in studies if ctx.labels.present(s, column)]
        negatives = [s for s in studies if ctx.labels.absent(s, column)]
        k = min(len(positives), len(negatives), half)
        chosen = ([(s, "A") for s in ctx.rng.sample(positives, k)]
                  + [(s, "B") for s in ctx.rng.sample(negatives, k)])
        ctx.rng.shuffle(chosen)
        for study, answer in chosen:
            yield Draft(task="binary", study=study, images=[study.frontal_image()],
                        question=f"Does this chest X-ray show {name_of(column)}?",
                        options=list(OPTIONS), answer=answer, report=study.report,
                        suffix=column.lower().replace(" ", "-"), finding=column)
