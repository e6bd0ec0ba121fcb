"""RadRBench-CXR as an lmms-eval task: the hooks its YAML names, and the folder export.

`chestx export lmms-eval --bench BENCH --out DIR` writes DIR/<task>.yaml, DIR/utils.py and
DIR/test.parquet (the benchmark's test split with its images embedded). lmms-eval loads the
folder with `--include_path DIR` (or `TaskManager(include_path=DIR)`); `utils.py` only
re-exports this module's hooks, so the folder scores with the installed toolkit's parser and
offline judge: a model's answer is parsed and graded as `chestx score` grades it
(`scoring.score.score_items`), and RadRScore with its three parts comes from `RulesJudge`.

Metrics: `accuracy` (mean answer score: 1/0 per option item, finding-set F1 for multi_open) and
`radrscore`, `completeness`, `factuality`, `effectiveness` (means over the items with a
reference chain; items without one, such as the cross-centre binary items, count only towards
accuracy, as in `chestx score`).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from chestx_reasoner.models.prompt import user_text

TASK = "radrbench_cxr"
JUDGED = ("radrscore", "completeness", "factuality", "effectiveness")
METRICS = ("accuracy", *JUDGED)
# The generation settings a reasoning model needs: greedy, room for the chain.
MAX_NEW_TOKENS = 1024

# One judge per process, used by one thread at a time: lmms-eval calls process_results from a
# thread pool (process_docs_parallel), and the judge's spaCy pipelines are shared state.
_JUDGE: Any = None
_LOCK = threading.Lock()


def _judge() -> Any:
    """The judge, built on first use; call with _LOCK held."""
    global _JUDGE
    if _JUDGE is None:
        from chestx_reasoner.scoring.judge_rules import RulesJudge

        _JUDGE = RulesJudge()
    return _JUDGE


def doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    """The item's images as RGB PIL images, in order (temporal: prior, then current)."""
    return [image.convert("RGB") for image in doc["images"]]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None
                ) -> str:
    """Question, options and the reasoning/answer instruction: the text of our one prompt.

    >>> doc_to_text({"task": "binary", "question": "Is there an effusion?",
    ...              "options": ["Yes", "No"]}).splitlines()[:3]
    ['Is there an effusion?', 'A) Yes', 'B) No']
    """
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{user_text(doc)}{kwargs.get('post_prompt', '')}"


def doc_to_target(doc: dict[str, Any]) -> str:
    return str(doc["answer"])


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float | None]:
    """One item's metrics from the model's output, graded as `chestx score` grades it."""
    from chestx_reasoner.scoring.score import score_items

    record = {key: doc.get(key) for key in ("id", "source", "task", "question", "answer",
                                            "report", "image_paths")}
    record.update(options=list(doc.get("options") or []),
                  reasoning=list(doc.get("reasoning") or []),
                  prediction=results[0] if results else "", model="lmms-eval")
    with _LOCK:
        (scored,) = score_items([record], _judge())
    return {"accuracy": float(scored["answer_score"]),
            **{name: scored[name] for name in JUDGED}}


def mean_defined(values: list[float | None]) -> float:
    """Mean of the values that are defined (RadRScore is null without a reference chain);
    NaN when none is.

    >>> mean_defined([1.0, None, 0.5])
    0.75
    """
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else math.nan


def task_yaml(task: str = TASK) -> str:
    """The task's YAML: lmms-eval's format, every hook in utils.py."""
    metrics = "\n".join(
        f"  - metric: {name}\n    aggregation: !function utils.mean_defined\n"
        f"    higher_is_better: true" for name in METRICS)
    return f"""# RadRBench-CXR (chestx-reasoner), exported by `chestx export lmms-eval`.
task: {task}
dataset_path: parquet
dataset_kwargs:
  data_files:
    test: {{path}}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: !function utils.doc_to_target
generation_kwargs:
  max_new_tokens: {MAX_NEW_TOKENS}
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
{metrics}
metadata:
  version: 1
"""


UTILS = '''"""Hooks of the RadRBench-CXR task: the installed chestx-reasoner's parser and judge."""

from chestx_reasoner.bench.lmms_task import (  # noqa: F401
    doc_to_target,
    doc_to_text,
    doc_to_visual,
    mean_defined,
    process_results,
)
'''


def export_lmms_eval(bench: Path, out: Path, task: str = TASK, split: str = "test") -> Path:
    """Write OUT/<task>.yaml, OUT/utils.py and OUT/<split>.parquet; returns the YAML's path.

    The YAML names the Parquet file by its absolute path (lmms-eval resolves relative paths
    against its working folder, not the task's), so move the folder with a new export.
    """
    from chestx_reasoner.bench.export import write_split_parquet

    if not (bench / f"{split}.jsonl").is_file():
        raise FileNotFoundError(f"{bench / f'{split}.jsonl'}: no such file (--bench)")
    out.mkdir(parents=True, exist_ok=True)
    data = write_split_parquet(bench, split, out / f"{split}.parquet")
    (out / "utils.py").write_text(UTILS, encoding="utf-8")
    path = out / f"{task}.yaml"
    text = task_yaml(task).replace("{path}", str(data.resolve())).replace(
        "    test: ", f"    {split}: ").replace("test_split: test", f"test_split: {split}")
    path.write_text(text, encoding="utf-8")
    return path
