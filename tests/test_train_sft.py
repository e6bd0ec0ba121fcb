"""SFT on CPU with the tiny Qwen2-VL: the data mix and its skips, loss on the assistant turn
only, a few steps lowering the loss on a fixed batch, output loading through hf:DIR, resume
continuing the step count, merged LoRA, and the `chestx train sft` command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner, Result

import chestx_reasoner
from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
from chestx_reasoner.cli import app
from chestx_reasoner.data.synth import SynthConfig, synthesize
from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.mining.run import RulesBackend, mine_file
from chestx_reasoner.models import LoadOptions, load_model
from chestx_reasoner.models.base import GenerationSettings, PreparedItem
from chestx_reasoner.models.images import load_image
from chestx_reasoner.models.tiny_build import build_tiny, save_tiny
from chestx_reasoner.train.configs import ChestXSFTConfig
from chestx_reasoner.train.data import build_sft_dataset, read_items, sft_examples
from chestx_reasoner.train.sft import TrainError, make_sft_trainer, run_sft

runner = CliRunner()
FAST = {"per_device_train_batch_size": 2, "learning_rate": 1e-3, "report_to": "none",
        "disable_tqdm": True, "dataloader_pin_memory": False}


def make_training_data(root: Path) -> tuple[Path, Path]:
    """(mined JSONL, tiny model folder) from a small synthetic cohort, all in-process."""
    synthesize(root / "cohort", SynthConfig(n=60, seed=5, size=64))
    build_benchmark([SourceSpec("synthetic", root / "cohort")], root / "bench",
                    BuildConfig(per_finding=2))
    mined = root / "bench" / "mined.jsonl"
    mine_file(root / "bench" / "train.jsonl", mined, RulesBackend())
    model, processor = build_tiny("tiny", [mined], seed=0)
    return mined, save_tiny(root / "model", model, processor, "tiny", 0, [mined])


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def subset(mined: Path, name: str, n: int) -> Path:
    """n items, a temporal (two-image) one first, in a file beside `mined` (image paths stay
    relative to the bench)."""
    items = records(mined)
    items.sort(key=lambda r: r["task"] != "temporal")  # stable: file order otherwise
    out = mined.parent / name
    out.write_text("".join(json.dumps(r) + "\n" for r in items[:n]))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_training_data(tmp_path_factory.mktemp("sft"))


def config(out: Path, **fields: object) -> ChestXSFTConfig:
    return ChestXSFTConfig(output_dir=str(out), **{**FAST, **fields})


def test_mix_counts_skips_and_answer_only_share(data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, _ = data
    items = records(mined)[:12]
    items[0]["mining"]["status"] = "dropped"  # a dropped chain: answer-only at most
    items[1]["reasoning"] = []
    items[2]["images"] = ["images/nowhere.png"]
    items[3]["answer"] = ""
    path = mined.parent / "edge.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in items))
    usable, skipped = read_items(path)
    assert skipped == {"missing image": 1, "without question or answer": 1}
    assert len(usable) == 10 and sum(bool(i.steps) for i in usable) == 8
    assert usable[0].fields["reasoning"] == []  # the dropped chain is no reward reference
    examples, n_reasoning, n_answer = sft_examples(usable, 0.2, seed=1)
    assert (n_reasoning, n_answer) == (8, 2) and len(examples) == 10
    assert all(t.startswith("<think>\n") for _, t in examples[:8])
    assert [t for _, t in examples[8:]] == [f"<answer>{i.fields['answer']}</answer>"
                                            for i, _ in examples[8:]]
    again = sft_examples(usable, 0.2, seed=1)[0]
    assert [i.fields["id"] for i, _ in again] == [i.fields["id"] for i, _ in examples]
    many = sft_examples(usable, 0.75, seed=1)  # 24 answer-only copies of 10 items: repeats
    assert many[2] == 24 and many[1] / (many[1] + many[2]) == 0.25
    only = sft_examples(usable, 1.0)
    assert (only[1], only[2]) == (0, 10)
    assert sft_examples(usable, 0.0)[2] == 0
    no_chains = mined.parent / "nochain.jsonl"
    no_chains.write_text("".join(json.dumps({**r, "reasoning": []}) + "\n" for r in items[4:]))
    with pytest.raises(RecordError, match="--answer-only-ratio 1"):
        build_sft_dataset(no_chains, answer_only_ratio=0.0)
    moved = tmp_path / "moved.jsonl"  # away from the bench: images resolve via image_root
    shutil.copy(path, moved)
    with pytest.raises(RecordError, match=r"images of 11 items are not in .*--image-root"):
        read_items(moved)
    assert len(read_items(moved, image_root=mined.parent)[0]) == 10


def test_labels_cover_only_the_assistant_turn(data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    small = subset(mined, "labels.jsonl", 6)
    trainer, processor, _ = make_sft_trainer(small, f"hf:{model_dir}",
                                             config(tmp_path / "o", answer_only_ratio=0.25))
    dataset = trainer.train_dataset
    rows = [dataset[i] for i in (0, len(dataset) - 1)]  # a reasoning and an answer-only one
    targets = [row["completion"][0]["content"][0]["text"] for row in rows]
    assert targets[0].startswith("<think>") and targets[1].startswith("<answer>")
    # Each kind of target has its own instruction, so the two never compete for one prompt.
    instructions = [row["prompt"][0]["content"][-1]["text"].splitlines()[-1] for row in rows]
    assert instructions[0].startswith("Think step by step")
    assert instructions[1].startswith("Give only")
    batch = trainer.data_collator([dataset[i] for i in (0, len(dataset) - 1)])
    assert {"mm_token_type_ids", "pixel_values", "image_grid_thw"} <= set(batch)
    assert rows[0]["prompt"][0]["content"][0]["text"] == "Prior study:"  # temporal first
    assert batch["image_grid_thw"].shape[0] == 2 + len(rows[1]["images"])
    tokenizer = processor.tokenizer
    image_id = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for row, target in enumerate(targets):
        labels, ids = batch["labels"][row], batch["input_ids"][row]
        kept = labels != -100
        assert tokenizer.decode(ids[kept]) == target + "<|im_end|>\n"
        first = int(kept.nonzero()[0])
        assert not kept[:first].any() and (ids[:first] == image_id).any()  # prompt, image: -100
        assert tokenizer.decode(ids[:first]).endswith("<|im_start|>assistant\n")


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(data: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    mined, model_dir = data
    small = subset(mined, "fixed.jsonl", 4)
    cfg = config(tmp_path / "o", answer_only_ratio=0.0, per_device_train_batch_size=4,
                 max_steps=6, learning_rate=3e-3, save_strategy="no")
    trainer, _, summary = make_sft_trainer(small, f"hf:{model_dir}", cfg)
    assert (summary.reasoning, summary.answer_only) == (4, 0)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    model = trainer.model

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(model(**batch).loss)

    before = loss()
    trainer.train()
    after = loss()
    assert trainer.state.global_step == 6
    assert after < before - 0.5, (before, after)


def test_small_vocabulary_loss_is_the_tiled_heads_loss(data: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    """The tiny model trains through its own cross-entropy (faster on a CPU) and a big
    vocabulary through TRL's tiled LM head; both give the same loss on the same batch."""
    mined, model_dir = data
    small = subset(mined, "heads.jsonl", 4)
    losses, kinds = {}, {}
    for fused in (None, True):
        cfg = config(tmp_path / f"o{fused}", answer_only_ratio=0.25,
                     per_device_train_batch_size=4, fused_lm_head=fused)
        trainer, _, _ = make_sft_trainer(small, f"hf:{model_dir}", cfg)
        kinds[fused] = type(trainer).__name__
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
        trainer.model.eval()
        with torch.no_grad():
            losses[fused] = float(trainer.compute_loss(trainer.model, dict(batch)))
    assert kinds == {None: "FullLogitsSFTTrainer", True: "SFTTrainer"}
    assert losses[None] == pytest.approx(losses[True], rel=1e-4), losses
    assert 1.0 < losses[None] < 20.0  # a real loss of a random model, not a zero


@pytest.fixture(scope="module")
def trained_run(data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory,
                ) -> tuple[Path, Result]:
    """`chestx train sft` end to end: 3 steps, then the folder it saved and what it printed."""
    mined, model_dir = data
    out = tmp_path_factory.mktemp("run") / "sft"
    result = runner.invoke(app, ["train", "sft", "--data", str(mined), "--model",
                                 f"hf:{model_dir}", "--out", str(out), "--max-steps", "3",
                                 "--batch-size", "2", "--lr", "1e-3",
                                 "--answer-only-ratio", "0.3"])
    assert result.exit_code == 0, result.output
    assert "SFT: 3 steps; loss" in result.stderr and f"hf:{out}" in result.stderr
    return out, result


@pytest.fixture(scope="module")
def trained(trained_run: tuple[Path, Result]) -> Path:
    return trained_run[0]


def test_cli_prints_one_progress_line_per_step(trained_run: tuple[Path, Result]) -> None:
    out, result = trained_run
    lines = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], result.output
    assert re.fullmatch(r"step 3/3  loss \d+\.\d{3}  lr \d\.\de[-+]\d\d  [\d.]+ steps/s",
                        lines[-1]), lines[-1]
    assert "{'loss'" not in result.output and "'grad_norm'" not in result.output
    history = records(out / "log_history.jsonl")  # what is written to disk keeps every key
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3]
    assert {"loss", "grad_norm", "learning_rate", "epoch"} <= set(history[0])


def test_output_loads_through_hf_and_predicts(trained: Path, data: tuple[Path, Path]) -> None:
    mined, model_dir = data
    card = json.loads((trained / "chestx_train.json").read_text())
    assert card["global_step"] == 3 and card["made_by"] == "chestx train sft"
    assert card["fused_lm_head"] is False  # a tiny vocabulary: the model's own full logits
    assert [h["step"] for h in map(json.loads, (trained / "log_history.jsonl").open())
            if "loss" in h] == [1, 2, 3]
    adapter = load_model(f"hf:{trained}", LoadOptions(device="cpu"))
    base = load_model(f"hf:{model_dir}", LoadOptions(device="cpu"))
    samples = records(mined)[:2]
    items = [PreparedItem(s, [], [load_image(mined.parent / p) for p in s["images"]])
             for s in samples]
    settings = GenerationSettings(max_new_tokens=6, batch_size=2)
    outputs = adapter.predict(items, settings)
    assert len(outputs) == 2 and all(isinstance(text, str) for text in outputs)
    trained_weights = dict(adapter.model.named_parameters())
    assert any(not torch.equal(p, trained_weights[name])
               for name, p in base.model.named_parameters())


def test_resume_continues_the_step_count(data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    out = tmp_path / "run"
    first = run_sft(mined, f"hf:{model_dir}", config(out, max_steps=2))
    assert first.global_step == 2 and (out / "checkpoint-2").is_dir()
    with pytest.raises(TrainError, match="--resume"):
        run_sft(mined, f"hf:{model_dir}", config(out, max_steps=3))
    second = run_sft(mined, f"hf:{model_dir}", config(out, max_steps=3), resume=True)
    assert second.resumed_from and second.resumed_from.endswith("checkpoint-2")
    assert second.global_step == 3 > first.global_step
    assert [h["step"] for h in second.log_history if "loss" in h] == [1, 2, 3]


def test_lora_trains_adapters_and_saves_a_merged_model(data: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    mined, model_dir = data
    out = tmp_path / "lora"
    trainer, _, _ = make_sft_trainer(mined, f"hf:{model_dir}",
                                     config(out, use_lora=True, max_steps=1))
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)
    result = run_sft(mined, f"hf:{model_dir}", config(out, use_lora=True, max_steps=2))
    assert result.global_step == 2
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    merged = load_model(f"hf:{out}", LoadOptions(device="cpu")).model
    base = load_model(f"hf:{model_dir}", LoadOptions(device="cpu")).model
    before, after = dict(base.named_parameters()), dict(merged.named_parameters())
    assert set(before) == set(after)  # plain Qwen2-VL weights, no lora_ keys
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all("language_model" in n and "proj" in n for n in changed)


def test_cli_refuses_bad_input(data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    base = ["train", "sft", "--out", str(tmp_path / "o")]
    cases = [
        (["--data", str(tmp_path / "none.jsonl"), "--model", str(model_dir)], "no such file"),
        (["--data", str(mined), "--model", str(tmp_path / "nowhere")], "not a local folder"),
        (["--data", str(mined), "--model", "tiny"], "hf:DIR"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*base, *args, "--max-steps", "1"])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert len(result.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "images": "a.png"}\n')
    result = runner.invoke(app, [*base, "--data", str(bad), "--model", str(model_dir)])
    assert result.exit_code == 2 and "bad.jsonl:1" in result.stderr


def test_python_dash_m_cli_runs_train_commands() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(chestx_reasoner.__file__).parents[1])}
    result = subprocess.run([sys.executable, "-m", "chestx_reasoner.cli", "train", "--help"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "sft" in result.stdout and "grpo" in result.stdout


def test_mined_to_another_folder_keeps_its_images_for_train_and_predict(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    out = tmp_path / "mined" / "train.jsonl"
    result = runner.invoke(app, ["mine", "--bench", str(mined.parent / "train.jsonl"),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    rebased = records(out)
    assert rebased and all(not Path(p).is_absolute() and (out.parent / p).is_file()
                           for r in rebased for p in r["images"])
    items, skipped = read_items(out)
    assert len(items) == len(rebased) and not skipped
    train = runner.invoke(app, ["train", "sft", "--data", str(out), "--model",
                                f"hf:{model_dir}", "--out", str(tmp_path / "sft"),
                                "--max-steps", "1", "--batch-size", "2"])
    assert train.exit_code == 0, train.output
    predict = runner.invoke(app, ["predict", "--bench", str(out), "--model", f"hf:{model_dir}",
                                  "--out", str(tmp_path / "p.jsonl"), "--limit", "2",
                                  "--max-new-tokens", "4", "--device", "cpu"])
    assert predict.exit_code == 0, predict.output
    assert "predicted 2 items" in predict.stderr


def test_a_file_whose_images_are_all_missing_is_a_one_line_error(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    moved = tmp_path / "elsewhere.jsonl"  # paths still relative to the bench folder
    shutil.copyfile(mined, moved)
    commands = [
        ["train", "sft", "--data", str(moved), "--model", f"hf:{model_dir}",
         "--out", str(tmp_path / "sft"), "--max-steps", "1"],
        ["train", "grpo", "--data", str(moved), "--model", f"hf:{model_dir}",
         "--out", str(tmp_path / "grpo"), "--max-steps", "1"],
        ["predict", "--bench", str(moved), "--model", f"hf:{model_dir}",
         "--out", str(tmp_path / "p.jsonl"), "--device", "cpu"],
    ]
    for command in commands:
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "--image-root" in lines[0] and f"not in {tmp_path}" in lines[0]
    fixed = runner.invoke(app, [*commands[2], "--image-root", str(mined.parent),
                                "--limit", "1", "--max-new-tokens", "4"])
    assert fixed.exit_code == 0 and "predicted 1 items" in fixed.stderr, fixed.output
