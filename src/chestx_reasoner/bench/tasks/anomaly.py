"""`anomaly`: "Is this chest X-ray normal or abnormal?" balanced normal / abnormal.

Normal: the study's No Finding label is 1. Abnormal: some pathology (not a support device) is
present. Studies with only uncertain findings are neither and are left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from chestx_reasoner.bench.sample import PATHOLOGIES
from chestx_reasoner.bench.tasks import TASKS, Draft, TaskContext
from chestx_reasoner.data.study import Study

QUESTION = "Is this chest X-ray normal or abnormal?"
OPTIONS = ["Normal", "Abnormal"]


@TASKS.register("anomaly")
def build_anomaly(studies: list[Study], ctx: TaskContext) -> Iterator[Draft]:
    normal = [s for s in studies if s.label("No Finding") == 1.0]
    abnormal = [s for s in studies if ctx.labels.positives(s, PATHOLOGIES)]
    k = min(len(normal), len(abnormal))
    if ctx.per_task is not None:
        k = min(k, max(1, ctx.per_task // 2))
    chosen = ([(s, "A") for s in ctx.rng.sample(normal, k)]
              + [(s, "B") for s in ctx.rng.sample(abnormal, k)])
    ctx.rng.shuffle(chosen)
    for study, answer in chosen:
        yield Draft(task="anomaly", study=study, images=[study.frontal_image()],
                    question=QUESTION, options=list(OPTIONS), answer=answer,
                    report=study.report)
