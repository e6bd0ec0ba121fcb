"""lmms-eval integration through lmms-eval's own code (lmms-eval 0.7.3 in the test environment).

`chestx export lmms-eval` writes a task folder; lmms-eval's `TaskManager` finds it by
`include_path`, builds the task from its YAML (loading the Parquet split and our hooks from
utils.py), and `simple_evaluate` runs it with two local models: an oracle that answers with
the reference chain (every metric known in advance) and the tiny Qwen2-VL of `chestx model init`
(random answers, real generation from the images lmms-eval hands over).
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

import pytest
from lmms_eval.api.model import lmms
from lmms_eval.evaluator import simple_evaluate
from lmms_eval.tasks import TaskManager, get_task_dict
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.models import LoadOptions, load_model
from chestx_reasoner.models.base import GenerationSettings, PreparedItem
from chestx_reasoner.models.prompt import target_text
from test_train_sft import records

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def docs_command() -> list[str]:
    """The README's `chestx export lmms-eval` line, as arguments."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [line for line in readme.splitlines() if "chestx export lmms-eval" in line]
    return shlex.split(line)[1:]


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory, training_data: tuple[Path, Path]
         ) -> tuple[Path, Path, Path]:
    """(benchmark folder, tiny model, task folder) with the folder made by the README line."""
    root = tmp_path_factory.mktemp("lmms")
    mined, model_dir = training_data
    args = docs_command()
    args[args.index("--bench") + 1] = str(mined.parent)
    args[args.index("--out") + 1] = str(root / "lmms-task")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return mined.parent, model_dir, root / "lmms-task"


class Answering(lmms):
    """An lmms-eval model whose answer to a doc is `answer(doc, images)`."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer
        self.seen_images: list[int] = []

    def generate_until(self, requests: list[Any]) -> list[str]:
        out = []
        for request in requests:
            _context, _kwargs, doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            images = doc_to_visual(doc)
            self.seen_images.append(len(images))
            out.append(self.answer(doc, images))
        return out

    def loglikelihood(self, requests: list[Any]) -> list[Any]:
        raise NotImplementedError

    def generate_until_multi_round(self, requests: list[Any]) -> list[str]:
        raise NotImplementedError


def evaluate(folder: Path, model: lmms, limit: int | None = None) -> dict[str, Any]:
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    results = simple_evaluate(model=model, tasks=["radrbench_cxr"], task_manager=manager,
                              limit=limit, bootstrap_iters=0, log_samples=False)
    return results["results"]["radrbench_cxr"]


def test_task_folder_loads_in_lmms_eval(task: tuple[Path, Path, Path]) -> None:
    bench, _, folder = task
    assert sorted(p.name for p in folder.iterdir()) == [
        "radrbench_cxr.yaml", "test.parquet", "utils.py"]
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    assert "radrbench_cxr" in manager.all_tasks
    loaded = get_task_dict(["radrbench_cxr"], manager)["radrbench_cxr"]
    docs = list(loaded.test_docs())
    items = records(bench / "test.jsonl")
    assert [d["id"] for d in docs] == [i["id"] for i in items]
    doc, item = docs[0], items[0]
    assert loaded.doc_to_text(doc).startswith(item["question"])
    assert len(loaded.doc_to_visual(doc)) == len(item["images"])
    assert loaded.doc_to_target(doc) == item["answer"]
    assert {m["metric"] for m in loaded.config.metric_list} == {
        "accuracy", "radrscore", "completeness", "factuality", "effectiveness"}


def test_oracle_scores_like_chestx_score(task: tuple[Path, Path, Path]) -> None:
    bench, _, folder = task
    oracle = Answering(lambda doc, _images: target_text(doc["reasoning"], doc["answer"]))
    metrics = evaluate(folder, oracle)
    assert metrics["accuracy,none"] == 1.0
    items = records(bench / "test.jsonl")
    with_chain = [i for i in items if i.get("reasoning")]
    assert oracle.seen_images == [len(i["images"]) for i in items]
    if with_chain:  # reasoning equal to the reference: recalled and supported
        assert metrics["radrscore,none"] > 0.5
    else:
        assert math.isnan(metrics["radrscore,none"])


def test_tiny_model_runs_through_lmms_eval(task: tuple[Path, Path, Path]) -> None:
    _, model_dir, folder = task
    adapter = load_model(f"hf:{model_dir}", LoadOptions(device="cpu"))

    def answer(doc: dict[str, Any], images: list[Any]) -> str:
        item = PreparedItem(doc, [], images)
        return adapter.predict([item], GenerationSettings(max_new_tokens=8))[0]

    model = Answering(answer)
    metrics = evaluate(folder, model, limit=4)
    assert len(model.seen_images) == 4
    assert 0.0 <= metrics["accuracy,none"] <= 1.0


def test_export_refuses_a_missing_bench(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "lmms-eval", "--bench", str(tmp_path),
                                 "--out", str(tmp_path / "t")])
    assert result.exit_code == 2 and "test.jsonl: no such file (--bench)" in result.stderr


def test_docs_lmms_eval_command_parses_with_lmms_evals_own_parser(
        task: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from lmms_eval.__main__ import parse_eval_args
    from lmms_eval.models import AVAILABLE_SIMPLE_MODELS

    docs = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", docs, flags=re.DOTALL)
                if "-m lmms_eval" in b]
    export, launch = (shlex.split(line) for line in block.strip().splitlines())
    assert export[:3] == ["chestx", "export", "lmms-eval"]
    folder = export[export.index("--out") + 1]
    argv = launch[launch.index("lmms_eval") + 1:]
    monkeypatch.setattr("sys.argv", ["lmms-eval", *argv])
    _, args = parse_eval_args()
    assert args.model in AVAILABLE_SIMPLE_MODELS
    assert (args.include_path, args.tasks) == (folder, "radrbench_cxr")
    _, _, exported = task
    assert "radrbench_cxr" in TaskManager(include_path=str(exported),
                                          include_defaults=False).all_tasks
