"""GRPO on CPU with the tiny Qwen2-VL: the dataset hands every reward the columns it reads,
a short run uses all three rewards with their weights and logs each one's mean per step, its
output loads through hf:DIR, and `chestx train grpo` refuses bad options on one line."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.models import LoadOptions, load_model
from chestx_reasoner.models.base import GenerationSettings, PreparedItem
from chestx_reasoner.models.images import load_image
from chestx_reasoner.models.prompt import target_text
from chestx_reasoner.train.configs import ChestXGRPOConfig
from chestx_reasoner.train.data import build_grpo_dataset
from chestx_reasoner.train.grpo import make_grpo_trainer, reward_metric_names, run_grpo
from chestx_reasoner.train.rewards import get_reward_funcs
from test_train_sft import make_training_data, records

runner = CliRunner()
METRICS = ["rewards/format_reward/mean", "rewards/outcome_reward/mean",
           "rewards/process_reward/mean"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    mined, model_dir = make_training_data(tmp_path_factory.mktemp("grpo"))
    firsts: dict[str, dict] = {}  # one prompt per task, the two-image temporal one first
    for record in records(mined):
        firsts.setdefault(record["task"], record)
    ordered = sorted(firsts.values(), key=lambda r: r["task"] != "temporal")
    small = mined.parent / "small.jsonl"
    small.write_text("".join(json.dumps(r) + "\n" for r in ordered))
    return small, model_dir


def config(out: Path, **fields: object) -> ChestXGRPOConfig:
    base = {"num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 8,
            "max_steps": 2, "report_to": "none", "disable_tqdm": True,
            "dataloader_pin_memory": False, "save_strategy": "no",
            "shuffle_dataset": False}  # step 1 is the temporal prompt
    return ChestXGRPOConfig(output_dir=str(out), **{**base, **fields})


def test_paper_defaults_and_config_checks(tmp_path: Path) -> None:
    cfg = ChestXGRPOConfig(output_dir=str(tmp_path))
    assert (cfg.num_generations, cfg.beta, cfg.learning_rate) == (8, 0.001, 5e-7)
    assert cfg.reward_funcs == ["format", "outcome", "process"]
    assert cfg.bf16 is False and cfg.gradient_checkpointing is False  # CPU: fp32, no ckpt
    assert reward_metric_names(cfg) == METRICS
    with pytest.raises(ValueError, match="give one weight per reward"):
        ChestXGRPOConfig(output_dir=str(tmp_path), reward_weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="choose from: format, outcome, process"):
        ChestXGRPOConfig(output_dir=str(tmp_path), reward_funcs=["format", "style"])


def test_dataset_columns_feed_every_reward(data: tuple[Path, Path]) -> None:
    mined, _ = data
    dataset, summary = build_grpo_dataset(mined)
    assert len(dataset) == summary.items == 6
    rows = [dataset[i] for i in range(len(dataset))]
    row = rows[0]
    assert row["prompt"][0]["role"] == "user" and len(row["images"]) == len(
        [p for p in row["prompt"][0]["content"] if p["type"] == "image"])
    columns = {key: [r[key] for r in rows] for key in rows[0] if key != "prompt"}
    right = [[{"role": "assistant", "content": target_text(r["reasoning"], r["answer"])}]
             for r in rows]
    wrong_letter = {"A": "B", "B": "A", "C": "A", "D": "A"}
    wrong = [[{"role": "assistant", "content": target_text(
        r["reasoning"], wrong_letter.get(r["answer"], "A"))}] for r in rows]
    format_reward, outcome_reward, process_reward = get_reward_funcs(
        ["format", "outcome", "process"])
    prompts = [r["prompt"] for r in rows]
    assert format_reward(right, prompts=prompts, **columns) == [1.0] * 6
    assert outcome_reward(right, prompts=prompts, **columns) == [1.0] * 6
    assert all(score > 0.5 for score in process_reward(right, prompts=prompts, **columns))
    option_rows = [i for i, r in enumerate(rows) if r["options"]]
    assert option_rows
    wrong_process = process_reward(wrong, prompts=prompts, **columns)
    assert all(wrong_process[i] == 0.0 for i in option_rows)  # gated on the answer


def test_short_run_logs_each_reward_and_saves_a_loadable_model(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    trainer, _, _ = make_grpo_trainer(mined, f"hf:{model_dir}",
                                      config(tmp_path / "probe", reward_weights=[2, 3, 5]))
    assert trainer.reward_func_names == ["format_reward", "outcome_reward", "process_reward"]
    assert trainer.reward_weights.tolist() == [2.0, 3.0, 5.0]
    out = tmp_path / "grpo"
    result = run_grpo(mined, f"hf:{model_dir}", config(out, reward_weights=[1, 1, 0.5]))
    assert result.global_step == 2
    steps = [h for h in result.log_history if "loss" in h]
    assert [h["step"] for h in steps] == [1, 2]
    for entry in steps:
        for name in METRICS:
            assert 0.0 <= entry[name] <= 1.0
        assert entry["completions/max_length"] <= 8
    card = json.loads((out / "chestx_train.json").read_text())
    assert card["reward_weights"] == [1, 1, 0.5] and card["global_step"] == 2
    adapter = load_model(f"hf:{out}", LoadOptions(device="cpu"))
    sample = records(mined)[0]
    item = PreparedItem(sample, [], [load_image(mined.parent / p) for p in sample["images"]])
    assert isinstance(adapter.predict([item], GenerationSettings(max_new_tokens=4))[0], str)


def test_cli_runs_and_refuses_bad_options(data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    base = ["train", "grpo", "--data", str(mined), "--model", str(model_dir)]
    out = tmp_path / "g"
    result = runner.invoke(app, [*base, "--out", str(out), "--num-generations", "2",
                                 "--max-steps", "1", "--max-completion-length", "6",
                                 "--reward-weights", "1,1,2"])
    assert result.exit_code == 0, result.output
    assert "GRPO: 1 steps" in result.stderr and (out / "model.safetensors").exists()
    (line,) = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert re.match(r"step 1/1  loss -?\d+\.\d{3}  lr \S+  reward -?\d+\.\d\d \(format "
                    r"\d\.\d\d outcome \d\.\d\d process \d\.\d\d\)", line), line
    assert "{'loss'" not in result.output
    bad = [(["--reward-weights", "1,2"], "wants 3 numbers"),
           (["--reward-weights", "a,b,c"], "wants 3 numbers"),
           (["--num-generations", "1"], "num-generations")]
    if importlib.util.find_spec("vllm") is None:
        bad.append((["--use-vllm"], "needs the vllm package"))
    for args, message in bad:
        result = runner.invoke(app, [*base, "--out", str(tmp_path / "x"), *args])
        assert result.exit_code == 2 and message in result.stderr, result.output


def test_several_prompts_of_unequal_length_share_a_step(data: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    """Two prompts a step, one far longer than the other and with a wider image: the
    processor must pad on the left as TRL's prompt ids are, or the image positions it reports
    shift by the padding; the short prompt's image then reads as text and the images' grids
    go to the wrong rows (Qwen2-VL's multimodal RoPE failed on a shape mismatch)."""
    mined, model_dir = data
    short = next(r for r in records(mined) if r["task"] == "binary")
    wide = tmp_path / "wide.png"
    load_image(mined.parent / short["images"][0]).resize((224, 112)).save(wide)
    long = {**short, "id": "long", "images": [str(wide)],
            "question": short["question"] + " Consider the heart, "
            "the mediastinum, both lungs zone by zone, the pleura, the bones and every "
            "line or tube, then compare with what a normal film of this kind shows." * 2}
    pair = tmp_path / "pair.jsonl"
    pair.write_text(json.dumps(short) + "\n" + json.dumps(long) + "\n")
    result = run_grpo(pair, f"hf:{model_dir}", config(
        tmp_path / "two", per_device_train_batch_size=4, max_steps=1,
        image_root=str(mined.parent)))
    assert result.global_step == 1
    (step,) = [h for h in result.log_history if "loss" in h]
    assert all(0.0 <= step[name] <= 1.0 for name in METRICS)
