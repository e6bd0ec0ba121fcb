"""SFT training throughput: tokens/s, step time, peak memory and MFU on a fixed synthetic batch.

    python benchmarks/train_throughput.py                       # CPU: tiny and small models
    python benchmarks/train_throughput.py --pipeline            # + SFTTrainer end to end (CPU)
    python benchmarks/train_throughput.py --device cuda [--batch-sizes 1,4,8] [--attn sdpa]
        [--liger] [--grad-ckpt] [--text-tokens 512] [--steps 10]

GPU (--device cuda): Qwen2-VL-2B's published shape (QWEN2_VL_2B of predict_throughput.py)
with random weights in bf16 (nothing downloaded), AdamW, each sequence one 448x448 image (256
visual tokens from 1,024 patches) plus --text-tokens text tokens, loss on the text after the
image (as SFT's completion-only loss). CPU: the `tiny` and `small` models of `chestx model init`
in float32, one 112x112 (224x224 for small) image per sequence.

A step is forward + backward + optimizer step; times are means over --steps after --warmup.
MFU = model FLOPs per step / step time / the device's peak, where model FLOPs are 6 x (language
model parameters x tokens + vision tower parameters x patches) (attention's quadratic term is
left out, as in the usual 6ND estimate) and the peak is measured here with a large matmul (bf16
on GPU, float32 on CPU), not taken from a datasheet. Peak memory: allocated CUDA memory on GPU,
the process's peak RSS on CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chestx_reasoner.logging_setup import quiet_transformers
from predict_throughput import QWEN2_VL_2B


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measured_peak_flops(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul on this device: the ceiling MFU is measured against."""
    n = 8192 if device.startswith("cuda") else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    repeats = 20 if device.startswith("cuda") else 5
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def parameter_split(model: Any) -> tuple[int, int]:
    """(language model parameters doing matmuls, vision tower parameters): an untied input
    embedding is a lookup, not a matmul, and is left out; a tied one counts once, as lm_head."""
    text = vision = 0
    for name, param in model.named_parameters():  # tied weights are listed once
        if ".visual." in f".{name}":
            vision += param.numel()
        else:
            text += param.numel()
    embedding = model.get_input_embeddings().weight
    if embedding is not model.get_output_embeddings().weight:
        text -= embedding.numel()
    return text, vision


def synthetic_batch(config: Any, batch: int, grid: tuple[int, int, int], text_tokens: int,
                    device: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """One image and `text_tokens` text tokens per row; labels only on the last half of the
    text (the 'assistant turn'), like completion-only SFT."""
    patches = grid[0] * grid[1] * grid[2]
    merge = config.vision_config.spatial_merge_size ** 2
    vocab = config.text_config.vocab_size
    generator = torch.Generator().manual_seed(0)
    prompt_text = text_tokens // 2
    rows = []
    for _ in range(batch):
        text = torch.randint(10, vocab - 10, (text_tokens,), generator=generator)
        rows.append(torch.cat([torch.tensor([config.vision_start_token_id]),
                               torch.full((patches // merge,), config.image_token_id),
                               torch.tensor([config.vision_end_token_id]), text]))
    input_ids = torch.stack(rows)
    labels = input_ids.clone()
    labels[:, :input_ids.shape[1] - (text_tokens - prompt_text)] = -100
    channels = 3 * config.vision_config.temporal_patch_size * config.vision_config.patch_size ** 2
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
              "mm_token_type_ids": (input_ids == config.image_token_id).long(),
              "labels": labels,
              "pixel_values": torch.randn(batch * patches, channels, generator=generator),
              "image_grid_thw": torch.tensor([grid] * batch)}
    out = {key: value.to(device) for key, value in inputs.items()}
    out["pixel_values"] = out["pixel_values"].to(dtype)
    return out


def time_steps(model: Any, inputs: dict[str, torch.Tensor], device: str, steps: int,
               warmup: int) -> tuple[float, float]:
    """(mean seconds per optimizer step, peak memory GiB)."""
    fused = {"fused": True} if device.startswith("cuda") else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, **fused)
    model.train()

    def step() -> None:
        loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:  # ru_maxrss is KiB on Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return seconds, peak


def _row(table: Table, model: Any, inputs: dict[str, torch.Tensor], label: str, device: str,
         steps: int, warmup: int, peak_flops: float) -> None:
    seconds, memory = time_steps(model, inputs, device, steps, warmup)
    tokens = int(inputs["input_ids"].numel())
    patches = int(inputs["pixel_values"].shape[0])
    text_params, vision_params = parameter_split(model)
    flops = 6 * (text_params * tokens + vision_params * patches)
    table.add_row(label, f"{(text_params + vision_params) / 1e6:.1f} M",
                  str(inputs["input_ids"].shape[0]), str(tokens), f"{seconds * 1000:.1f}",
                  f"{1 / seconds:.2f}", f"{tokens / seconds:,.0f}", f"{memory:.2f}",
                  f"{100 * flops / seconds / peak_flops:.1f}%")


def _table(title: str) -> Table:
    table = Table(title=title)
    for column in ("model", "params (6ND)", "batch", "tokens/step", "step ms", "steps/s",
                   "tokens/s", "peak GiB", "MFU"):
        table.add_column(column, justify="right")
    return table


def gpu_table(args: argparse.Namespace) -> Table:
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    dtype = torch.bfloat16
    peak = measured_peak_flops(args.device, dtype)
    config = Qwen2VLConfig(**QWEN2_VL_2B)
    torch.manual_seed(0)
    with torch.device(args.device):
        model = Qwen2VLForConditionalGeneration._from_config(
            config, attn_implementation=args.attn, dtype=dtype)
    notes = [f"attn {args.attn}"]
    if args.liger:
        if importlib.util.find_spec("liger_kernel") is None:
            notes.append("liger: not installed, off")
        else:
            from liger_kernel.transformers import apply_liger_kernel_to_qwen2_vl

            apply_liger_kernel_to_qwen2_vl(model=model)
            notes.append("liger on")
    if args.grad_ckpt:
        enable = getattr(model, "activation_checkpointing_enable", None)  # Transformers >= 5.x
        (enable or model.gradient_checkpointing_enable)({"use_reentrant": False})
        notes.append("grad ckpt")
    table = _table(f"SFT step, Qwen2-VL-2B shape, random weights, bf16, "
                   f"{torch.cuda.get_device_name()}, measured bf16 peak {peak / 1e12:.0f} "
                   f"TFLOP/s; {', '.join(notes)}")
    for batch in args.batch_sizes:
        inputs = synthetic_batch(config, batch, (1, 32, 32), args.text_tokens, args.device,
                                 dtype)
        _row(table, model, inputs, "2b", args.device, args.steps, args.warmup, peak)
    return table


def cpu_table(args: argparse.Namespace) -> Table:
    from chestx_reasoner.models.tiny_build import SIZES, build_tiny

    peak = measured_peak_flops("cpu", torch.float32)
    table = _table(f"SFT step on CPU ({torch.get_num_threads()} threads), float32, measured "
                   f"matmul peak {peak / 1e9:.0f} GFLOP/s")
    for size in ("tiny", "small"):
        model, _ = build_tiny(size)
        side = SIZES[size].image_side // 14
        for batch in args.batch_sizes:
            inputs = synthetic_batch(model.config, batch, (1, side, side), args.text_tokens,
                                     "cpu", torch.float32)
            _row(table, model, inputs, size, "cpu", args.steps, args.warmup, peak)
    return table


def pipeline_rate(steps: int) -> str:
    """Steps/s of `run_sft` end to end (image loading, collation, Trainer) on a tiny model."""
    from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
    from chestx_reasoner.data.synth import SynthConfig, synthesize
    from chestx_reasoner.mining.run import RulesBackend, mine_file
    from chestx_reasoner.models.tiny_build import build_tiny, save_tiny
    from chestx_reasoner.train.configs import ChestXSFTConfig
    from chestx_reasoner.train.sft import run_sft

    root = Path(tempfile.mkdtemp(prefix="chestx-train-bench-"))
    synthesize(root / "cohort", SynthConfig(n=80, seed=0, size=128))
    build_benchmark([SourceSpec("synthetic", root / "cohort")], root / "bench", BuildConfig())
    mined = root / "bench" / "mined.jsonl"
    mine_file(root / "bench" / "train.jsonl", mined, RulesBackend())
    model, processor = build_tiny("tiny", [mined])
    save_tiny(root / "model", model, processor, "tiny", 0, [mined])
    config = ChestXSFTConfig(output_dir=str(root / "out"), max_steps=steps,
                             per_device_train_batch_size=8, save_strategy="no",
                             disable_tqdm=True, logging_steps=steps,
                             dataloader_pin_memory=False)
    result = run_sft(mined, f"hf:{root / 'model'}", config)
    runtime = next(h["train_runtime"] for h in result.log_history if "train_runtime" in h)
    return (f"run_sft end to end (tiny, batch 8, {steps} steps incl. the first): "
            f"{steps / runtime:.2f} steps/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated [cpu 1,8; gpu 1,4,8]")
    parser.add_argument("--text-tokens", type=int, default=None,
                        help="text tokens per sequence [cpu 256; gpu 512]")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--attn", default="sdpa", choices=("sdpa", "eager", "flash_attention_2"))
    parser.add_argument("--liger", action="store_true", help="Liger kernels where installed")
    parser.add_argument("--grad-ckpt", action="store_true", help="gradient checkpointing")
    parser.add_argument("--pipeline", action="store_true",
                        help="also time run_sft end to end on a tiny model (CPU)")
    args = parser.parse_args()
    quiet_transformers()
    gpu = args.device.startswith("cuda")
    args.batch_sizes = [int(b) for b in (args.batch_sizes or ("1,4,8" if gpu else "1,8"))
                        .split(",")]
    args.text_tokens = args.text_tokens or (512 if gpu else 256)
    console = Console(width=160)
    if gpu:
        if not torch.cuda.is_available():
            sys.exit("error: --device cuda but no CUDA device is visible")
        console.print(gpu_table(args))
    else:
        console.print(cpu_table(args))
        if args.pipeline:
            console.print(pipeline_rate(max(args.steps, 5)))


if __name__ == "__main__":
    main()
