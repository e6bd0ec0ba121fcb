"""The GPU suite: one table of SFT tokens/s and MFU, batched generation tokens/s, one GRPO step's
time and the judge's items/s, for a Qwen2-VL-2B-shaped model with random weights.

    python benchmarks/gpu_suite.py                        # CUDA: the 2B shape in bf16
    python benchmarks/gpu_suite.py --device cpu           # the CPU path: tiny shape (tested)
    benchmarks/gpu_suite.sh                               # on a GPU machine without network

Nothing is downloaded: the model is built from Qwen2-VL-2B's published config
(`predict_throughput.QWEN2_VL_2B`) with random weights; the GRPO step's tokenizer is trained here
on the prompt format (`chestx model init`'s trainer) and its images are drawn here.

- SFT: `train_throughput`'s step (AdamW, one 448x448 image + --text-tokens text tokens per row,
  loss on the answer half); MFU = 6 x (language params x tokens + vision params x patches) per
  step / step time / the bf16 matmul peak measured on this device (not a datasheet figure).
- generation: `generate` at --gen-batch (32) sequences, each exactly --new-tokens new tokens
  after one image and 64 text tokens; tokens/s = batch x new tokens / wall time. `dynamic` is
  Transformers' default cache; `static` adds its static cache with `torch.compile` (the first,
  compiling call is not timed).
- GRPO: one optimizer step of `chestx train grpo`'s trainer (`train.grpo.make_grpo_trainer`, TRL
  `GRPOTrainer`, Transformers generation, 8 completions of up to --grpo-completion tokens, KL
  1e-3 against a reference copy); the second step is the one reported (the first includes
  warm-up). Rewards: format, outcome and process when the judge's spaCy stack is installed,
  else format and outcome (said in the table).
- judge: `chestx score`'s offline judge (RulesJudge through `scoring.score.score_file`) on
  `examples/predictions.jsonl` repeated to --judge-items items; items/s of the scoring loop.
  CPU work: it needs spaCy + medspacy, which a bare GPU machine lacks (see gpu_suite.sh).

Goals (issue): SFT >= 40 % MFU; generation >= 2,000 tokens/s at batch 32.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from chestx_reasoner.logging_setup import quiet_transformers  # noqa: E402
from predict_throughput import QWEN2_VL_2B  # noqa: E402
from train_throughput import (  # noqa: E402
    measured_peak_flops,
    parameter_split,
    synthetic_batch,
    time_steps,
)

# The CPU path's shape: the same architecture, small enough for a test.
TINY = {
    "text_config": {**QWEN2_VL_2B["text_config"], "vocab_size": 2048, "hidden_size": 64,
                    "intermediate_size": 128, "num_hidden_layers": 2,
                    "num_attention_heads": 4, "num_key_value_heads": 2,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                        "mrope_section": [2, 3, 3]},
                    "bos_token_id": 0, "eos_token_id": 2},
    "vision_config": {**QWEN2_VL_2B["vision_config"], "depth": 2, "embed_dim": 32,
                      "hidden_size": 64, "num_heads": 2},
    "image_token_id": 5, "video_token_id": 6, "vision_start_token_id": 3,
    "vision_end_token_id": 4, "tie_word_embeddings": True,
}
SHAPES = {"2b": QWEN2_VL_2B, "tiny": TINY}
# Sizes of each section's work: the 2B rows fit 8 minutes on one H100/H200 with room to spare;
# the tiny ones only check, in seconds on a CPU, that every section runs.
DEFAULTS = {
    "2b": {"steps": 10, "warmup": 3, "sft_batch": 8, "text_tokens": 512, "gen_batch": 32,
           "new_tokens": 256, "grpo_completion": 256, "judge_items": 400},
    "tiny": {"steps": 1, "warmup": 1, "sft_batch": 2, "text_tokens": 16, "gen_batch": 4,
             "new_tokens": 4, "grpo_completion": 8, "judge_items": 24},
}
GOALS = {"sft_mfu": 0.40, "gen_tokens_s": 2000.0}
Row = tuple[str, str, str, str]  # measure, value, setting, note


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def build(shape: str, device: str, dtype: torch.dtype) -> Any:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    with torch.device(device):
        return Qwen2VLForConditionalGeneration._from_config(
            Qwen2VLConfig(**SHAPES[shape]), attn_implementation="sdpa", dtype=dtype)


def sft(args: argparse.Namespace, dtype: torch.dtype) -> list[Row]:
    peak = measured_peak_flops(args.device, dtype)
    model = build(args.shape, args.device, dtype)
    side = 32 if args.shape == "2b" else 4
    inputs = synthetic_batch(model.config, args.sft_batch, (1, side, side), args.text_tokens,
                             args.device, dtype)
    seconds, memory = time_steps(model, inputs, args.device, args.steps, args.warmup)
    tokens = int(inputs["input_ids"].numel())
    text, vision = parameter_split(model)
    flops = 6 * (text * tokens + vision * int(inputs["pixel_values"].shape[0]))
    mfu = flops / seconds / peak
    del model
    setting = (f"batch {args.sft_batch} x {inputs['input_ids'].shape[1]} tokens, AdamW, "
               f"{(text + vision) / 1e6:,.1f} M params")
    goal = f"goal >= {GOALS['sft_mfu']:.0%}" if args.shape == "2b" else ""
    return [("SFT tokens/s", f"{tokens / seconds:,.0f}", setting,
             f"step {seconds * 1000:.0f} ms, peak {memory:.1f} GiB"),
            ("SFT MFU", f"{mfu:.1%}", f"measured matmul peak {peak / 1e9:,.0f} GFLOP/s", goal)]


def generation(args: argparse.Namespace, dtype: torch.dtype) -> list[Row]:
    model = build(args.shape, args.device, dtype).eval()
    config = model.config
    side = 32 if args.shape == "2b" else 4
    patches = side * side
    ids = torch.cat([torch.full((8,), 100), torch.tensor([config.vision_start_token_id]),
                     torch.full((patches // 4,), config.image_token_id),
                     torch.tensor([config.vision_end_token_id]), torch.full((56,), 200)])
    batch = args.gen_batch
    input_ids = ids.repeat(batch, 1).to(args.device)
    channels = 3 * 2 * 14 * 14
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
              "mm_token_type_ids": (input_ids == config.image_token_id).long(),
              "pixel_values": torch.randn(batch * patches, channels, dtype=dtype,
                                          device=args.device),
              "image_grid_thw": torch.tensor([[1, side, side]] * batch, device=args.device)}
    rows: list[Row] = []
    caches = ["dynamic", "static"] if args.device.startswith("cuda") else ["dynamic"]
    for cache in caches:
        settings = {"max_new_tokens": args.new_tokens, "min_new_tokens": args.new_tokens,
                    "do_sample": False, "pad_token_id": 0}
        if cache == "static":
            settings["cache_implementation"] = "static"
        try:
            with torch.inference_mode():
                model.generate(**inputs, **settings)  # warm-up (compiles for static)
                _sync(args.device)
                start = time.perf_counter()
                model.generate(**inputs, **settings)
                _sync(args.device)
                seconds = time.perf_counter() - start
        except Exception as error:  # one failing variant must not cost the others their rows
            rows.append((f"generation tokens/s ({cache})", "failed", f"batch {batch}",
                         " ".join(str(error).split())[:80]))
            continue
        goal = f"goal >= {GOALS['gen_tokens_s']:,.0f}" if args.shape == "2b" else ""
        rows.append((f"generation tokens/s ({cache})", f"{batch * args.new_tokens / seconds:,.0f}",
                     f"batch {batch}, {args.new_tokens} new tokens, prompt "
                     f"{input_ids.shape[1]} tokens", goal))
    del model
    return rows


def grpo_items(root: Path, n: int = 8) -> Path:
    """Eight binary prompts with drawn 448x448 images, in the mined JSONL form GRPO reads."""
    from PIL import Image, ImageDraw

    findings = ["pleural effusion", "pneumothorax", "cardiomegaly", "edema"]
    records = []
    for i in range(n):
        image = Image.new("L", (448, 448), 20)
        ImageDraw.Draw(image).ellipse((100 + i * 5, 80, 340, 400), fill=120 + i * 10)
        name = f"img{i}.png"
        image.save(root / name)
        finding = findings[i % len(findings)]
        present = i % 2 == 0
        report = (f"FINDINGS: There is a {finding}. IMPRESSION: {finding.capitalize()}."
                  if present else f"FINDINGS: No {finding}. IMPRESSION: No acute disease.")
        records.append({
            "id": f"gpu-{i}", "source": "synthetic", "task": "binary", "split": "train",
            "images": [name], "question": f"Does this chest X-ray show {finding}?",
            "options": ["Yes", "No"], "answer": "A" if present else "B", "report": report,
            "reasoning": [f"The image {'shows' if present else 'shows no'} {finding}.",
                          f"So the answer is {'A' if present else 'B'}."],
            "mining": {"status": "kept"}})
    path = root / "mined.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _save_model(root: Path, shape: str, device: str, dtype: torch.dtype) -> Path:
    """The shape's model (random, saved in `dtype`) with a tokenizer trained on the prompt
    format, whose ids all lie inside the model's vocabulary."""
    from chestx_reasoner.models.tiny_build import (
        SIZES,
        build_processor,
        format_texts,
        train_tokenizer,
    )

    vocab = SHAPES[shape]["text_config"]["vocab_size"]
    tokenizer = train_tokenizer([*format_texts()] * 4, min(vocab, 1024))
    side = 448 if shape == "2b" else 56  # 2b: 256 image tokens per prompt, as in the SFT rows
    processor = build_processor(tokenizer, replace(SIZES["small"], image_side=side))
    model = build(shape, device, dtype)  # random init is much faster on the GPU
    special = {name: tokenizer.convert_tokens_to_ids(name) for name in
               ("<|endoftext|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>")}
    config = model.config
    config.image_token_id, config.video_token_id = special["<|image_pad|>"], special[
        "<|video_pad|>"]
    config.vision_start_token_id = special["<|vision_start|>"]
    config.vision_end_token_id = special["<|vision_end|>"]
    generation = model.generation_config
    generation.eos_token_id = [special["<|im_end|>"]]
    generation.pad_token_id = generation.bos_token_id = special["<|endoftext|>"]
    out = root / "model"
    processor.save_pretrained(out)
    model.save_pretrained(out)
    return out


class _StepTimes:
    """A TrainerCallback that keeps each optimizer step's wall time."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._start = 0.0

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        _sync("cuda" if torch.cuda.is_available() else "cpu")
        self._start = time.perf_counter()

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        _sync("cuda" if torch.cuda.is_available() else "cpu")
        self.times.append(time.perf_counter() - self._start)


def grpo(args: argparse.Namespace, dtype: torch.dtype) -> list[Row]:
    from chestx_reasoner.train.configs import ChestXGRPOConfig
    from chestx_reasoner.train.grpo import make_grpo_trainer

    judge = importlib.util.find_spec("medspacy") is not None
    rewards = ["format", "outcome", "process"] if judge else ["format", "outcome"]
    root = Path(tempfile.mkdtemp(prefix="chestx-gpu-grpo-"))
    data = grpo_items(root)
    model_dir = _save_model(root, args.shape, args.device, dtype)
    gpu = args.device.startswith("cuda")
    generations = 8 if args.shape == "2b" else 2
    config = ChestXGRPOConfig(
        output_dir=str(root / "out"), num_generations=generations,
        per_device_train_batch_size=generations, max_completion_length=args.grpo_completion,
        max_steps=2, reward_funcs=rewards, report_to="none", disable_tqdm=True,
        save_strategy="no", use_cpu=not gpu, bf16=gpu, dataloader_pin_memory=False,
        shuffle_dataset=False)
    times = _StepTimes()
    trainer, _, _ = make_grpo_trainer(data, f"hf:{model_dir}", config, callbacks=[times])
    trainer.train()
    del trainer
    note = ("rewards " + "+".join(rewards)
            + ("" if judge else " (no spaCy stack here: process reward off)"))
    return [("GRPO step seconds", f"{times.times[-1]:.2f}",
             f"{generations} completions x <= {args.grpo_completion} tokens, KL 1e-3, "
             "Transformers generate", f"first step {times.times[0]:.2f} s; {note}")]


def judge(args: argparse.Namespace) -> list[Row]:
    if importlib.util.find_spec("medspacy") is None:
        return [("judge items/s", "not run", "RulesJudge",
                 "spaCy + medspacy are not installed here (CPU work: see README)")]
    from chestx_reasoner.scoring.judge_rules import RulesJudge
    from chestx_reasoner.scoring.score import score_file

    examples = [json.loads(line) for line in
                (HERE.parent / "examples" / "predictions.jsonl").read_text().splitlines() if line]
    root = Path(tempfile.mkdtemp(prefix="chestx-gpu-judge-"))
    predictions = root / "predictions.jsonl"
    with predictions.open("w", encoding="utf-8") as handle:
        for i in range(args.judge_items):
            record = dict(examples[i % len(examples)])
            record["id"] = f"{record['id']}-{i}"
            record.pop("model", None)
            handle.write(json.dumps(record) + "\n")
    judge_impl = RulesJudge()
    run, _ = score_file(predictions, root / "scored", judge_impl, html=False)
    return [("judge items/s", f"{run.rate:,.0f}", f"RulesJudge, {run.done} items",
             f"{os.cpu_count()} CPUs; one process")]


SECTIONS: dict[str, Callable[..., list[Row]]] = {
    "sft": sft, "generate": generation, "grpo": grpo, "judge": judge}


def run(args: argparse.Namespace) -> tuple[str, list[Row]]:
    """(title, rows): each section's rows, or one 'failed' row naming the error."""
    gpu = args.device.startswith("cuda")
    dtype = torch.bfloat16 if gpu else torch.float32
    device_name = (torch.cuda.get_device_name() if gpu
                   else f"CPU ({torch.get_num_threads()} threads)")
    title = f"GPU suite: Qwen2-VL-{args.shape} shape, random weights, {dtype}, {device_name}"
    rows: list[Row] = []
    for name in args.sections:
        start = time.perf_counter()
        try:
            rows += SECTIONS[name](args) if name == "judge" else SECTIONS[name](args, dtype)
        except Exception as error:  # the table still prints; the cause goes to stderr
            traceback.print_exc()
            rows.append((name, "failed", "", " ".join(f"{type(error).__name__}: {error}".split())
                         [:100]))
        print(f"[{name}: {time.perf_counter() - start:.0f} s]", file=sys.stderr, flush=True)
        if gpu:
            torch.cuda.empty_cache()
    return title, rows


def render(title: str, rows: list[Row]) -> Table:
    table = Table(title=title)
    for column in ("measure", "value", "setting", "note"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for row in rows:
        table.add_row(*row)
    return table


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None,
                        help="2b (default on CUDA) or tiny (default on CPU)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated, of {', '.join(SECTIONS)}")
    for name, help_text in (("--steps", "timed SFT steps"), ("--warmup", "untimed SFT steps"),
                            ("--sft-batch", "SFT rows"), ("--text-tokens", "SFT text tokens"),
                            ("--gen-batch", "generated sequences"),
                            ("--new-tokens", "tokens generated per sequence"),
                            ("--grpo-completion", "GRPO max completion tokens"),
                            ("--judge-items", "items the judge scores")):
        key = name[2:].replace("-", "_")
        parser.add_argument(name, type=int, default=None, help=f"{help_text} [2b "
                            f"{DEFAULTS['2b'][key]}, tiny {DEFAULTS['tiny'][key]}]")
    args = parser.parse_args(argv)
    args.shape = args.shape or ("2b" if args.device.startswith("cuda") else "tiny")
    for key, value in DEFAULTS[args.shape].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r} (choose from {', '.join(SECTIONS)})")
    return args


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("error: --device cuda but no CUDA device is visible")
    quiet_transformers()
    title, rows = run(args)
    Console(width=180).print(render(title, rows))
    return rows


if __name__ == "__main__":
    main()
