"""Prediction throughput: the tiny model on CPU (items/s through `chestx predict`'s loop), and
batched generation of a Qwen2-VL-2B-shaped model with random weights (tokens/s) on a GPU.

    python benchmarks/predict_throughput.py [--bench BENCH/test.jsonl] [--items 64]
    python benchmarks/predict_throughput.py --device cuda [--batch-sizes 1,8,32] [--new-tokens 256]

CPU: without --bench a 200-study synthetic cohort and benchmark are made in a temporary folder;
a fresh `tiny` model (and `small`) predicts --items items at each batch size.
GPU (--device cuda): Qwen2-VL-2B's published shape (28 layers, hidden 1536, vision tower of 32
blocks) built from a config with random weights in bf16 (nothing downloaded); each row
generates exactly --new-tokens tokens per sequence from a prompt of one 448x448 image
(256 visual tokens) and 64 text tokens. `--shape 2b --device cpu` runs the same rows on CPU
(slowly), to check the set-up without a GPU.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from rich.console import Console
from rich.table import Table

from chestx_reasoner.logging_setup import quiet_transformers
from chestx_reasoner.models.base import GenerationSettings
from chestx_reasoner.models.hf import HFModel
from chestx_reasoner.models.predict import predict_file
from chestx_reasoner.models.tiny_build import build_tiny

QWEN2_VL_2B = {
    "text_config": {"vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960,
                    "num_hidden_layers": 28, "num_attention_heads": 12,
                    "num_key_value_heads": 2, "max_position_embeddings": 32768,
                    "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
                    "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0,
                                        "mrope_section": [16, 24, 24]},
                    "bos_token_id": 151643, "eos_token_id": 151645},
    "vision_config": {"depth": 32, "embed_dim": 1280, "hidden_size": 1536, "num_heads": 16,
                      "mlp_ratio": 4, "patch_size": 14, "spatial_merge_size": 2,
                      "temporal_patch_size": 2},
    "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
    "vision_end_token_id": 151653, "tie_word_embeddings": True,
}


def cpu_rows(bench: Path, items: int, batch_sizes: list[int], new_tokens: int) -> Table:
    table = Table(title=f"tiny models on CPU ({torch.get_num_threads()} threads), "
                        f"{items} items, up to {new_tokens} new tokens")
    for column in ("model", "params", "batch", "items/s", "gen tokens/s", "mean new tokens"):
        table.add_column(column, justify="right")
    for size in ("tiny", "small"):
        model, processor = build_tiny(size, [bench])
        adapter = HFModel(model, processor, size)
        params = sum(p.numel() for p in model.parameters())
        warm = GenerationSettings(max_new_tokens=4, batch_size=2)
        predict_file(bench, Path(tempfile.mkdtemp()) / "warm.jsonl", adapter, warm, limit=2)
        for batch in batch_sizes:
            out = Path(tempfile.mkdtemp()) / "p.jsonl"
            settings = GenerationSettings(max_new_tokens=new_tokens, batch_size=batch)
            adapter.generated_tokens = 0
            summary = predict_file(bench, out, adapter, settings, limit=items)
            table.add_row(size, f"{params / 1e6:.2f} M", str(batch), f"{summary.rate:.1f}",
                          f"{adapter.generated_tokens / summary.seconds:.0f}",
                          f"{adapter.generated_tokens / max(1, summary.done):.0f}")
    return table


def qwen2_vl_2b_rows(device: str, batch_sizes: list[int], new_tokens: int) -> Table:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    config = Qwen2VLConfig(**QWEN2_VL_2B)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration(config).to(dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    grid = torch.tensor([[1, 32, 32]])  # 448 x 448 px: 32 x 32 patches, 256 merged tokens
    patches = int(grid.prod())
    text_before, text_after = 8, 56
    table = Table(title=f"Qwen2-VL-2B shape, random weights, {dtype}, {device}, "
                        f"{params / 1e9:.2f} B params, {new_tokens} new tokens per sequence")
    for column in ("batch", "prompt tokens", "seconds", "gen tokens/s", "peak GiB"):
        table.add_column(column, justify="right")
    for batch in batch_sizes:
        ids = torch.cat([torch.full((text_before,), 100), torch.tensor([151652]),
                         torch.full((patches // 4,), 151655), torch.tensor([151653]),
                         torch.full((text_after,), 200)])
        input_ids = ids.repeat(batch, 1).to(device)
        inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                  "mm_token_type_ids": (input_ids == 151655).long(),
                  "pixel_values": torch.randn(batch * patches, 1176, dtype=dtype, device=device),
                  "image_grid_thw": grid.repeat(batch, 1).to(device)}
        generate = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens,
                    "do_sample": False, "pad_token_id": 151643}
        with torch.inference_mode():
            model.generate(**inputs, **{**generate, "max_new_tokens": 2, "min_new_tokens": 2})
            if device.startswith("cuda"):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            model.generate(**inputs, **generate)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
        table.add_row(str(batch), str(input_ids.shape[1]), f"{seconds:.2f}",
                      _rate(batch * new_tokens / seconds), f"{peak:.1f}" if peak else "-")
    return table


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2f}"


def synthetic_bench() -> Path:
    from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
    from chestx_reasoner.data.synth import SynthConfig, synthesize

    root = Path(tempfile.mkdtemp(prefix="chestx-predict-bench-"))
    synthesize(root / "cohort", SynthConfig(n=200, seed=0, size=128))
    build_benchmark([SourceSpec("synthetic", root / "cohort")], root / "bench", BuildConfig())
    return root / "bench" / "test.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, help="benchmark items (default: synthetic)")
    parser.add_argument("--items", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", choices=("tiny", "2b"), help="default: tiny on CPU, 2b on GPU")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated")
    parser.add_argument("--new-tokens", type=int, default=None)
    args = parser.parse_args()
    quiet_transformers()
    shape = args.shape or ("2b" if args.device.startswith("cuda") else "tiny")
    console = Console()
    if shape == "2b":
        sizes = [int(b) for b in (args.batch_sizes or "1,8,32").split(",")]
        console.print(qwen2_vl_2b_rows(args.device, sizes, args.new_tokens or 256))
    else:
        sizes = [int(b) for b in (args.batch_sizes or "1,8").split(",")]
        bench = args.bench or synthetic_bench()
        console.print(cpu_rows(bench, args.items, sizes, args.new_tokens or 64))


if __name__ == "__main__":
    main()
