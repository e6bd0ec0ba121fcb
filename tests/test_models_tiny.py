"""The tiny Qwen2-VL and the hf: adapter on CPU: built from a config with a locally trained
tokenizer, saved and loaded back through hf:DIR, generating in batches; `chestx predict` end to
end on a synthetic benchmark, scored, and resumed after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import chestx_reasoner
from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
from chestx_reasoner.cli import app
from chestx_reasoner.data.synth import SynthConfig, synthesize
from chestx_reasoner.models import LoadOptions, ModelLoadError, load_model
from chestx_reasoner.models.base import GenerationSettings, PreparedItem
from chestx_reasoner.models.hf import HFModel
from chestx_reasoner.models.images import load_image
from chestx_reasoner.models.predict import predict_file
from chestx_reasoner.models.processor import ImageOnlyQwen2VLProcessor
from chestx_reasoner.models.prompt import FORMAT_TOKENS, build_messages, render_prompt
from chestx_reasoner.models.tiny_build import SIZES, build_tiny, mrope_section, save_tiny

runner = CliRunner()
GREEDY = GenerationSettings(max_new_tokens=12, batch_size=4)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tinybench")
    synthesize(root / "cohort", SynthConfig(n=120, seed=2, size=64))
    build_benchmark([SourceSpec("synthetic", root / "cohort")], root / "bench",
                    BuildConfig(per_finding=4))
    return root / "bench"


@pytest.fixture(scope="module")
def tiny_dir(bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "model"
    data = [bench / "train.jsonl"]
    model, processor = build_tiny("tiny", data, seed=0)
    return save_tiny(out, model, processor, "tiny", 0, data)


def _items(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _prepared(bench: Path, n: int, task: str | None = None) -> list[PreparedItem]:
    samples = [s for s in _items(bench / "test.jsonl") if task is None or s["task"] == task][:n]
    return [PreparedItem(s, [bench / p for p in s["images"]],
                         [load_image(bench / p) for p in s["images"]]) for s in samples]


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sizes_follow_qwen2_vl_shape_rules(name: str) -> None:
    size = SIZES[name]
    head_dim = size.hidden // size.heads
    assert sum(mrope_section(head_dim)) == head_dim // 2
    assert size.vision_dim % size.vision_heads == 0 and 64 <= size.hidden <= 256
    assert size.image_side % 28 == 0


def test_saved_folder_loads_through_hf_with_the_same_weights_and_tokenizer(
        tiny_dir: Path, bench: Path) -> None:
    card = json.loads((tiny_dir / "chestx_model.json").read_text())
    assert card["size"] == "tiny" and card["parameters"] > 100_000
    processor_config = json.loads((tiny_dir / "processor_config.json").read_text())
    assert processor_config["processor_class"] == "Qwen2VLProcessor"  # stock name, portable
    assert processor_config["video_processor"]["patch_size"] == 14
    adapter = load_model(f"hf:{tiny_dir}", LoadOptions(device="cpu"))
    assert isinstance(adapter, HFModel) and adapter.name == "model"
    assert isinstance(adapter.processor, ImageOnlyQwen2VLProcessor)
    tokenizer = adapter.processor.tokenizer
    for tag in FORMAT_TOKENS:  # the answer format tags are single tokens
        assert len(tokenizer(tag, add_special_tokens=False)["input_ids"]) == 1
    assert tokenizer.decode(tokenizer("<think>\nNo effusion.\n</think>")["input_ids"]) == \
        "<think>\nNo effusion.\n</think>"
    # The prompt is rendered by the saved chat template, images as Qwen2-VL vision tokens.
    item = _prepared(bench, 1, "temporal")[0]
    prompt = render_prompt(adapter.processor, build_messages(item.sample))
    assert prompt.count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert prompt.index("Prior study:") < prompt.index("Current study:")
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    # Same logits as a freshly built model with the same seed (weights survive the round trip).
    fresh, _ = build_tiny("tiny", [bench / "train.jsonl"], seed=0)
    inputs = adapter.encode([item])
    assert "mm_token_type_ids" in inputs and inputs["image_grid_thw"].shape[0] == 2
    with torch.no_grad():
        a = adapter.model(**inputs).logits
        b = fresh.eval()(**inputs).logits
    assert torch.allclose(a, b, atol=1e-5)


def test_build_is_deterministic_and_seed_changes_weights(bench: Path) -> None:
    data = [bench / "train.jsonl"]
    m1, p1 = build_tiny("tiny", data, seed=3)
    m2, p2 = build_tiny("tiny", data, seed=3)
    m3, _ = build_tiny("tiny", data, seed=4)
    assert p1.tokenizer.get_vocab() == p2.tokenizer.get_vocab()
    w1, w2, w3 = (dict(m.named_parameters()) for m in (m1, m2, m3))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    assert not all(torch.equal(w1[k], w3[k]) for k in w1)


def test_batched_generation_equals_one_at_a_time(tiny_dir: Path, bench: Path) -> None:
    adapter = load_model(f"hf:{tiny_dir}", LoadOptions(device="cpu"))
    items = _prepared(bench, 2, "single") + _prepared(bench, 1, "temporal")
    together = adapter.predict(items, GREEDY)
    alone = [adapter.predict([item], GREEDY)[0] for item in items]
    assert together == alone  # left padding and per-row positions are right
    assert all(isinstance(text, str) for text in together)
    assert any(together)  # an untrained model may stop at once on some items, not on all


def test_sampling_is_reproducible_with_a_seed(tiny_dir: Path, bench: Path) -> None:
    adapter = load_model(f"hf:{tiny_dir}", LoadOptions(device="cpu"))
    items = _prepared(bench, 3, "binary")
    hot = GenerationSettings(max_new_tokens=12, temperature=1.5, seed=7)
    assert adapter.predict(items, hot) == adapter.predict(items, hot)
    other = GenerationSettings(max_new_tokens=12, temperature=1.5, seed=8)
    assert adapter.predict(items, hot) != adapter.predict(items, other)


def test_hub_id_is_not_fetched_unless_asked(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(ModelLoadError, match="--allow-download"):
        load_model("hf:someone/not-a-local-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a loadable checkpoint"):
        load_model(f"hf:{tmp_path / 'empty'}")
    with pytest.raises(ModelLoadError, match="unknown tiny size"):
        load_model("tiny:huge")


def test_cli_init_predict_score_with_the_tiny_model(tiny_dir: Path, bench: Path,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = runner.invoke(app, ["model", "init", "--out", str(out), "--data",
                                 str(bench / "train.jsonl")])
    assert result.exit_code == 0, result.output
    assert "saved to" in result.stderr and (out / "model.safetensors").exists()
    again = runner.invoke(app, ["model", "init", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    preds = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", "--bench", str(bench / "test.jsonl"), "--model",
                                 f"hf:{out}", "--out", str(preds), "--limit", "6",
                                 "--max-new-tokens", "8", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    records = _items(preds)
    assert len(records) == 6 and {r["model"] for r in records} == {"m"}
    assert all(isinstance(r["prediction"], str) for r in records)
    scored = runner.invoke(app, ["score", "--predictions", str(preds), "--out",
                                 str(tmp_path / "scored"), "--no-html"])
    assert scored.exit_code == 0, scored.output
    summary = json.loads((tmp_path / "scored" / "summary.json").read_text())
    assert summary["models"]["m"]["overall"]["n"] == 6


def test_cli_predict_refuses_bad_specs(bench: Path, tmp_path: Path) -> None:
    args = ["predict", "--bench", str(bench / "test.jsonl"), "--out", str(tmp_path / "p.jsonl")]
    result = runner.invoke(app, [*args, "--model", "rnadom"])
    assert result.exit_code == 2 and "did you mean 'random'" in result.stderr
    result = runner.invoke(app, [*args, "--model", "hf:" + str(tmp_path / "nowhere"),
                                 "--device", "cpu"])
    assert result.exit_code == 2 and "--allow-download" in result.stderr


def test_reference_scores_perfectly_and_random_near_chance(bench: Path, tmp_path: Path) -> None:
    for spec in ("reference", "random"):
        preds = tmp_path / f"{spec}.jsonl"
        result = runner.invoke(app, ["predict", "--bench", str(bench / "test.jsonl"),
                                     "--model", spec, "--out", str(preds)])
        assert result.exit_code == 0, result.output
        scored = runner.invoke(app, ["score", "--predictions", str(preds), "--out",
                                     str(tmp_path / f"s-{spec}"), "--no-html"])
        assert scored.exit_code == 0, scored.output
    ref = json.loads((tmp_path / "s-reference" / "summary.json").read_text())
    rnd = json.loads((tmp_path / "s-random" / "summary.json").read_text())
    assert ref["models"]["reference"]["overall"]["accuracy"] == 1.0
    assert 0.15 < rnd["models"]["random"]["overall"]["accuracy"] < 0.65


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_kill_9_then_rerun_gives_exactly_one_record_per_item(tiny_dir: Path, bench: Path,
                                                             tmp_path: Path) -> None:
    samples = _items(bench / "test.jsonl")
    items = [dict(s, id=f"{s['id']}-{k}") for k in range(4) for s in samples]
    big = bench / "big-test.jsonl"  # beside test.jsonl: image paths stay relative to bench
    big.write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(chestx_reasoner.__file__).parents[1]),
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "chestx_reasoner", "predict", "--bench", str(big),
               "--model", f"hf:{tiny_dir}", "--out", str(out), "--batch-size", "2",
               "--max-new-tokens", "24", "--device", "cpu"]
    log = open(tmp_path / "stderr.txt", "w")  # noqa: SIM115
    proc = subprocess.Popen(command, env=env, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not out.exists() or
                                               out.read_text().count("\n") < 20):
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log.close()
    partial = out.read_text().count("\n") if out.exists() else 0
    assert 20 <= partial < len(items), (tmp_path / "stderr.txt").read_text()[-2000:]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    records = _items(out)
    assert [r["id"] for r in records] == [i["id"] for i in items]  # once each, in order
    adapter = load_model(f"hf:{tiny_dir}", LoadOptions(device="cpu"))
    straight = tmp_path / "straight.jsonl"
    predict_file(big, straight, adapter, GenerationSettings(max_new_tokens=24, batch_size=2),
                 limit=partial + 4)
    assert _items(straight) == records[:partial + 4]  # as if never interrupted
