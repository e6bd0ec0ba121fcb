"""verl integration through verl's own code (verl 0.9.1 installed in the test environment).

docs/training.md's two commands run here as far as a CPU allows: `chestx export verl` as
written, and the `main_ppo` overrides merged into verl's own generated trainer config (every key
must exist there). verl's `RLHFDataset` reads the exported Parquet into the chat it would roll
out, verl's `RewardLoopWorker` (what `main_ppo` runs in its reward actors) loads our reward by
the recipe's `pkg://` path and scores a batch, and verl's `BatchRewardManager` scores the same
batch through `compute_score_batch`.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import verl
from omegaconf import OmegaConf
from typer.testing import CliRunner
from verl import DataProto
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker, migrate_legacy_reward_impl
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn
from verl.workers.reward_manager import BatchRewardManager

from chestx_reasoner.cli import app
from chestx_reasoner.models.prompt import build_messages, target_text
from chestx_reasoner.train import verl_reward
from chestx_reasoner.train.rewards import format_reward, outcome_reward, process_reward
from test_train_sft import records

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
VERL_CONFIG = Path(verl.__file__).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"
runner = CliRunner()


def verl_block() -> list[list[str]]:
    """The docs' verl commands, each as its argument list (backslash continuations joined)."""
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", DOCS, flags=re.DOTALL)
                if "verl.trainer.main_ppo" in b]
    return [shlex.split(command) for command in block.replace("\\\n", " ").splitlines()
            if command.strip()]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, training_data: tuple[Path, Path]
             ) -> tuple[Path, Path, Path]:
    """(mined JSONL, tiny model, export folder), the export made by the docs' command."""
    root = tmp_path_factory.mktemp("verl")
    mined, model_dir = training_data
    export, _ = verl_block()
    assert export[:3] == ["chestx", "export", "verl"]
    args = export[1:]
    args[args.index("--data") + 1] = str(mined)
    args[args.index("--out") + 1] = str(root / "verl")
    result = runner.invoke(app, [*args, "--test-ratio", "0.2"])
    assert result.exit_code == 0, result.output
    return mined, model_dir, root / "verl"


def recipe_config(export: Path, model_dir: Path) -> object:
    """verl's generated trainer config with the docs' overrides, pointed at local files."""
    _, main = verl_block()
    assert main[:3] == ["python3", "-m", "verl.trainer.main_ppo"]
    base = OmegaConf.load(VERL_CONFIG)
    local = {"data.train_files": str(export / "train.parquet"),
             "data.val_files": str(export / "test.parquet"),
             "actor_rollout_ref.model.path": str(model_dir)}
    overrides = []
    for arg in main[3:]:
        key, value = arg.split("=", 1)
        if key.startswith("+"):
            key = key[1:]  # hydra's "add a new key"
        else:  # the key must exist (a `???` value, one to fill in, exists too)
            parent, _, leaf = key.rpartition(".")
            node = OmegaConf.select(base, parent, default={})
            assert leaf in node.keys(), key  # noqa: SIM118 (`in node` skips `???` values)
        overrides.append(f"{key}={local.get(key, value)}")
    config = OmegaConf.merge(base, OmegaConf.from_dotlist(overrides))
    return migrate_legacy_reward_impl(config)  # as verl's entry points do


def test_export_writes_verl_rl_layout(exported: tuple[Path, Path, Path]) -> None:
    mined, _, export = exported
    train = pq.read_table(export / "train.parquet").to_pylist()
    test = pq.read_table(export / "test.parquet").to_pylist()
    source = {r["id"]: r for r in records(mined)}
    assert len(train) + len(test) == len(source) and test  # nothing lost, something held out
    assert not {r["extra_info"]["id"] for r in train} & {r["extra_info"]["id"] for r in test}
    for row in train + test:
        item = source[row["extra_info"]["id"]]
        assert row["data_source"] == f"radrbench-cxr/{item['task']}"
        assert row["ability"] == "radiology"
        assert row["reward_model"] == {"style": "rule", "ground_truth": item["answer"]}
        (turn,) = row["prompt"]
        assert turn["role"] == "user"
        assert turn["content"].count("<image>") == len(item["images"]) == len(row["images"])
        assert all(image["bytes"] for image in row["images"])
        info = row["extra_info"]
        assert (info["task"], info["options"], info["report"]) == (
            item["task"], item["options"], item["report"])
        assert info["question"] == item["question"] and info["source"] == item["source"]
        kept = item["mining"]["status"] in ("kept", "repaired")
        assert info["reasoning"] == (item["reasoning"] if kept else [])
    assert [r["extra_info"]["index"] for r in train] == list(range(len(train)))


def test_export_refuses_bad_input_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "images": "x.png", "question": "q", "answer": "A"}\n')
    result = runner.invoke(app, ["export", "verl", "--data", str(bad), "--out",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "bad.jsonl:1: field 'images' must be a list" in result.stderr
    assert "Traceback" not in result.output


def _dataset(export: Path, model_dir: Path, config: object) -> RLHFDataset:
    from transformers import AutoTokenizer

    from chestx_reasoner.models.processor import load_processor

    data_config = OmegaConf.merge(config.data, {"filter_overlong_prompts": False,
                                                "cache_dir": str(export / "cache")})
    return RLHFDataset([str(export / "train.parquet")], AutoTokenizer.from_pretrained(model_dir),
                       data_config, processor=load_processor(str(model_dir)))  # no torchvision here


def test_verl_dataset_rebuilds_our_prompt(exported: tuple[Path, Path, Path]) -> None:
    mined, model_dir, export = exported
    dataset = _dataset(export, model_dir, recipe_config(export, model_dir))
    source = {r["id"]: r for r in records(mined)}
    temporal = 0
    for index in range(len(dataset)):
        row = dataset[index]
        item = source[row["extra_info"]["id"]]
        ours = build_messages(item)[0]["content"]
        theirs = row["raw_prompt"][0]["content"]
        assert [part["type"] for part in theirs] == [part["type"] for part in ours]
        assert [p.get("text") for p in theirs] == [p.get("text") for p in ours]
        assert all(p["image"].size[0] > 0 for p in theirs if p["type"] == "image")
        temporal += item["task"] == "temporal"
    assert temporal  # two-image prompts went through too


def _batch(export: Path, model_dir: Path, config: object) -> tuple[DataProto, list[dict]]:
    """Right and wrong completions for the first 8 training prompts, as verl's rollout hands
    them to the reward: prompts, responses and attention mask, plus the rows' non-tensor data."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dataset = _dataset(export, model_dir, config)
    rows = [dataset[i] for i in range(8)]
    texts, expected = [], []
    for i, row in enumerate(rows):
        info = row["extra_info"]
        answer = row["reward_model"]["ground_truth"]
        wrong = {"A": "B", "B": "A", "C": "A", "D": "A"}.get(answer, "atelectasis")
        right = i % 2 == 0
        texts.append(target_text(info["reasoning"] or ["The lungs are clear."],
                                 answer if right else wrong))
        expected.append({"right": right, "info": info, "answer": answer})
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    width = max(len(ids) for ids in encoded)
    responses = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), 4 + width, dtype=torch.long)
    for i, ids in enumerate(encoded):
        responses[i, :len(ids)] = torch.tensor(ids)
        mask[i, :4 + len(ids)] = 1
    batch = collate_fn(rows)
    non_tensors = {k: v for k, v in batch.items() if not isinstance(v, torch.Tensor)}
    data = DataProto.from_dict(
        tensors={"prompts": torch.ones(len(rows), 4, dtype=torch.long),
                 "responses": responses, "attention_mask": mask},
        non_tensors=non_tensors)
    for item, text in zip(expected, texts, strict=True):
        item["text"] = text
    return data, expected


def _ours(expected: list[dict]) -> list[dict]:
    """What `chestx train grpo`'s TRL rewards pay the same completions, summed with 1,1,1."""
    texts = [e["text"] for e in expected]
    columns = {"answer": [e["answer"] for e in expected],
               "task": [e["info"]["task"] for e in expected],
               "options": [list(e["info"]["options"]) for e in expected],
               "report": [e["info"]["report"] for e in expected],
               "reasoning": [list(e["info"]["reasoning"]) for e in expected],
               "question": [e["info"]["question"] for e in expected]}
    parts = [format_reward(texts), outcome_reward(texts, **columns),
             process_reward()(texts, **columns)]
    return [{"format": f, "outcome": o, "process": p or 0.0,
             "score": f + o + (p or 0.0)} for f, o, p in zip(*parts, strict=True)]


def test_reward_loop_worker_scores_like_trl(exported: tuple[Path, Path, Path]) -> None:
    _, model_dir, export = exported
    config = recipe_config(export, model_dir)
    assert config.reward.custom_reward_function.path == "pkg://chestx_reasoner.train.verl_reward"
    assert (config.actor_rollout_ref.rollout.n, config.actor_rollout_ref.actor.kl_loss_coef) == (
        8, 0.001)
    data, expected = _batch(export, model_dir, config)

    async def score() -> list[dict]:
        worker = RewardLoopWorker(config)  # built inside the loop it awaits on, as in verl
        return await worker.compute_score_batch(data)

    results = asyncio.run(score())
    want = _ours(expected)
    assert len(results) == len(want) == 8
    for result, ours, item in zip(results, want, expected, strict=True):
        info = result["reward_extra_info"]
        assert result["reward_score"] == pytest.approx(ours["score"])
        for part in ("format", "outcome", "process"):
            assert info[part] == pytest.approx(ours[part]), part
        assert info["format"] == 1.0
        assert info["outcome"] == (1.0 if item["right"] else 0.0)
        if not item["right"]:
            assert info["process"] == 0.0  # gated on the answer
    assert any(r["reward_extra_info"]["process"] > 0 for r in results)


def test_batch_reward_manager_scores_the_same(exported: tuple[Path, Path, Path]) -> None:
    from transformers import AutoTokenizer

    _, model_dir, export = exported
    config = recipe_config(export, model_dir)
    config.reward.custom_reward_function.name = "compute_score_batch"
    data, expected = _batch(export, model_dir, config)
    manager = BatchRewardManager(AutoTokenizer.from_pretrained(model_dir), num_examine=0,
                                 compute_score=get_custom_reward_fn(config))
    out = manager(data, return_dict=True)
    want = _ours(expected)
    lengths = data.batch["attention_mask"][:, 4:].sum(-1)
    scores = out["reward_tensor"][torch.arange(8), lengths - 1]
    assert scores.tolist() == pytest.approx([w["score"] for w in want])
    assert out["reward_tensor"].sum().item() == pytest.approx(sum(w["score"] for w in want))
    for part in ("format", "outcome", "process"):
        assert out["reward_extra_info"][part] == pytest.approx([w[part] for w in want])


def test_reward_weights_and_numpy_fields() -> None:
    info = {"task": "single", "options": np.array(["edema", "pneumothorax"], dtype=object),
            "report": "", "reasoning": np.array([], dtype=object)}
    good = "<think>Air without lung markings.</think><answer>B</answer>"
    assert verl_reward.compute_score("x", good, "B", info, reward_weights=[0.5, 2, 1]) == {
        "score": 2.5, "format": 1.0, "outcome": 1.0, "process": 0.0}
    assert verl_reward.compute_score("x", good, None, info)["outcome"] == 0.0
    with pytest.raises(ValueError, match="wants 3 numbers"):
        verl_reward.compute_score("x", good, "B", info, reward_weights="1,2")
    assert json.dumps(verl_reward.compute_score("x", "", "B", None))  # plain floats only


def test_readme_shows_the_docs_export_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [line for line in readme.splitlines() if "chestx export verl" in line]
    export, _ = verl_block()
    assert shlex.split(line)[1:] == export[1:]  # the line the fixture above runs
