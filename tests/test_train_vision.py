"""Vision pretraining (`chestx train vision`) on CPU with the tiny Qwen2-VL: labels read from
the train split's answers only, the tower trained and the language model untouched, the probe
seeing better than chance on a separable toy set, resume, and SFT with a frozen tower."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.models.hf import load_checkpoint
from chestx_reasoner.train.configs import ChestXSFTConfig
from chestx_reasoner.train.data import Item
from chestx_reasoner.train.sft import run_sft
from chestx_reasoner.train.vision import (
    CARD,
    LABEL_COLUMNS,
    PROBE_FILE,
    VisionConfig,
    image_labels,
    item_labels,
    run_vision_pretrain,
    training_images,
)

runner = CliRunner()


def _item(image: str, **fields: object) -> Item:
    return Item(dict(fields), (image,), ())


def test_each_task_family_labels_what_its_answer_states() -> None:
    multi = item_labels({"task": "multi", "answer": "B", "options": [
        "edema, pneumothorax", "cardiomegaly, pleural effusion", "edema"]})
    assert multi == {"Cardiomegaly": True, "Pleural Effusion": True, "Edema": False,
                     "Pneumothorax": False}
    normal = item_labels({"task": "anomaly", "answer": "A", "options": ["Normal", "Abnormal"]})
    assert normal["No Finding"] and not normal["Edema"] and "Support Devices" not in normal
    assert item_labels({"task": "anomaly", "answer": "B", "options": ["Normal", "Abnormal"]}
                       ) == {"No Finding": False}
    # a finding named by its words or by its column; a temporal item says nothing of presence
    assert item_labels({"task": "binary", "finding": "pleural thickening", "answer": "A",
                        "options": ["Yes", "No"]}) == {"Pleural Other": True}
    assert item_labels({"task": "temporal", "finding": "Edema", "answer": "A",
                        "options": ["Stable", "Worsening", "Improving"]}) == {}
    assert item_labels({"task": "single", "answer": "Z", "options": ["edema"]}) == {}


def test_labels_that_two_items_of_one_image_disagree_on_are_dropped() -> None:
    items = [_item("a.png", task="binary", finding="Edema", answer="A", options=["Yes", "No"]),
             _item("a.png", task="binary", finding="Edema", answer="B", options=["Yes", "No"]),
             _item("a.png", task="binary", finding="Fracture", answer="B",
                   options=["Yes", "No"])]
    labels, conflicts = image_labels(items)
    assert labels == {"a.png": {"Fracture": False}} and conflicts == 1


def _toy_bench(root: Path, n: int = 40, split: str = "train") -> Path:
    """Binary items whose answer is whether the image is bright: a probe must learn it."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        bright = i % 2 == 0
        pixels = rng.integers(150 if bright else 0, 256 if bright else 100, (112, 112, 3))
        Image.fromarray(pixels.astype("uint8")).save(root / f"{i}.png")
        lines.append({"id": f"b{i}", "task": "binary", "split": split, "finding": "Edema",
                      "question": "Does this chest X-ray show edema?", "options": ["Yes", "No"],
                      "answer": "A" if bright else "B", "images": [f"{i}.png"]})
    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_the_tower_learns_what_it_is_shown_and_the_language_model_is_untouched(
        training_data: tuple[Path, Path], tmp_path: Path) -> None:
    _, model_dir = training_data
    data = _toy_bench(tmp_path / "bench")
    out = tmp_path / "vision"
    result = run_vision_pretrain(data, f"hf:{model_dir}", VisionConfig(
        output_dir=str(out), max_steps=30, batch_size=8, learning_rate=3e-3, holdout=0.25,
        save_steps=10))
    assert result.global_step == 30 and result.images == 30
    assert result.holdout_auc["Edema"] > 0.9  # bright vs dark, on images it never trained on
    card = json.loads((out / CARD).read_text())
    assert card["columns"] == list(LABEL_COLUMNS) and card["held_out_images"] == 10
    assert (out / PROBE_FILE).is_file()
    before, _ = load_checkpoint(str(model_dir), allow_download=False, dtype=torch.float32)
    after, _ = load_checkpoint(str(out), allow_download=False, dtype=torch.float32)
    old, new = dict(before.named_parameters()), dict(after.named_parameters())
    changed = {name for name in old if not torch.equal(old[name], new[name])}
    assert changed and all(".visual." in name for name in changed)
    # a finished run is not trained again; a longer one resumes from its last checkpoint
    again = run_vision_pretrain(data, f"hf:{model_dir}", VisionConfig(
        output_dir=str(out), max_steps=30, batch_size=8), resume=True)
    assert again.finished_before and again.global_step == 30
    longer = run_vision_pretrain(data, f"hf:{model_dir}", VisionConfig(
        output_dir=str(out), max_steps=40, batch_size=8, holdout=0.25, save_steps=10),
        resume=True)
    assert longer.resumed_from and longer.resumed_from.endswith("checkpoint-30")
    assert longer.global_step == 40


def test_test_split_items_never_reach_the_tower(tmp_path: Path) -> None:
    data = _toy_bench(tmp_path / "bench", n=6, split="test")
    with pytest.raises(RecordError, match="no training image"):
        training_images(data, None)
    lines = data.read_text().splitlines()
    first = json.loads(lines[0]) | {"split": "train"}
    data.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    labels, skipped = training_images(data, None)
    assert list(labels) == [str(tmp_path / "bench" / "0.png")]
    assert skipped["items of another split"] == 5


def test_cli_says_in_one_line_when_no_item_labels_an_image(training_data: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    _, model_dir = training_data
    data = _toy_bench(tmp_path / "bench", n=2, split="validate")
    result = runner.invoke(app, ["train", "vision", "--data", str(data), "--model",
                                 f"hf:{model_dir}", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no training image with a finding label" in result.output
    assert "Traceback" not in result.output


def test_sft_with_a_frozen_tower_trains_the_language_model_only(
        training_data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = training_data
    out = tmp_path / "sft"
    run_sft(mined, f"hf:{model_dir}", ChestXSFTConfig(
        output_dir=str(out), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3,
        report_to="none", disable_tqdm=True, freeze_vision=True, use_cpu=True))
    before, _ = load_checkpoint(str(model_dir), allow_download=False, dtype=torch.float32)
    after, _ = load_checkpoint(str(out), allow_download=False, dtype=torch.float32)
    old, new = dict(before.named_parameters()), dict(after.named_parameters())
    changed = {name for name in old if not torch.equal(old[name], new[name])}
    assert changed and not any(".visual." in name for name in changed)
