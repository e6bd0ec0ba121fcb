"""How fast this machine trains the demo's model, relative to the machine the plan's rates
were measured on; `--minutes` becomes fewer steps on a slower (or busier) machine.

Why a real training step and not a generic CPU benchmark: the tiny model is so small that a
step's time is mostly PyTorch's per-operator overhead, not arithmetic, so only the same
operators in the same shapes track it. The measurement is a few forward/backward/optimizer
steps of a random-weight tiny Qwen2-VL on one SFT-sized batch (16 examples of ~200 tokens with
one 56-px image each), about two seconds.

Why levels and not the raw ratio: the measured speed is noisy (another process, a warm
cache); rounding it down to one of a few levels keeps two runs on the same machine on the same
plan, and so on the same table. Faster machines than the reference keep the reference plan
(they finish early and print the README's table).
"""

from __future__ import annotations

import math
import time

# Seconds of the fastest calibration step on the 2-core reference machine, 2 threads, with the
# 56-px tiny model (0.246-0.248 s over three quiet runs; the plan's rates in plan.py were
# measured on the same machine the same day).
REFERENCE_STEP_SECONDS = 0.247
SPEED_LEVELS = (1.0, 0.8, 0.64, 0.5, 0.4, 0.32, 0.25)  # each ~0.8x the one before
TOLERANCE = 1.15  # the reference machine itself measures 0.9-1.05: it must plan at 1.0


def speed_level(measured: float) -> float:
    """The highest level not above `measured` (give or take the measurement's noise; the
    reference speed is 1.0), so a plan does not assume a machine faster than it was measured;
    the slowest level is the floor.

    >>> speed_level(1.7), speed_level(0.9), speed_level(0.8), speed_level(0.46), speed_level(0.05)
    (1.0, 1.0, 0.8, 0.5, 0.25)
    """
    if not math.isfinite(measured) or measured <= 0:
        return SPEED_LEVELS[-1]
    return next((level for level in SPEED_LEVELS if level <= measured * TOLERANCE),
                SPEED_LEVELS[-1])


class _Vocab:
    """The two things `build_model` asks of a tokenizer: its size and its special-token ids
    (a real tokenizer takes a second to train and changes nothing in a step's time)."""

    def __init__(self, size: int) -> None:
        from chestx_reasoner.models.tiny_build import SPECIAL_TOKENS

        self.ids = {token: size - 1 - i for i, token in enumerate(SPECIAL_TOKENS)}
        self.size = size

    def __len__(self) -> int:
        return self.size

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.ids[token]


def measure_speed(steps: int = 5, batch: int = 16, tokens: int = 200) -> float:
    """This machine's training speed relative to the reference (>1 faster, <1 slower), from
    the fastest of `steps` timed steps after two warm-up steps: a moment's load elsewhere slows
    some steps (a fresh-clone run measured 0.70 by the median while its training then ran at
    the reference rate), a slower machine is slower at every one."""
    import torch

    from chestx_reasoner.models.tiny_build import SIZES, build_model

    size = SIZES["tiny"]
    vocab = _Vocab(size.vocab)
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))  # what the demo's training uses
    try:
        with torch.random.fork_rng():
            model = build_model(vocab, size, seed=0)
            model.train()
            generator = torch.Generator().manual_seed(0)
            patches = (size.image_side // 14) ** 2
            merged = patches // 4
            text = torch.randint(0, size.vocab - 20, (batch, tokens - merged - 2),
                                 generator=generator)
            image = torch.full((batch, merged), vocab.ids["<|image_pad|>"])
            start = torch.full((batch, 1), vocab.ids["<|vision_start|>"])
            end = torch.full((batch, 1), vocab.ids["<|vision_end|>"])
            input_ids = torch.cat([start, image, end, text], dim=1)
            inputs = {
                "input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                "labels": input_ids.clone(),
                "mm_token_type_ids": (input_ids == vocab.ids["<|image_pad|>"]).long(),
                "pixel_values": torch.randn(batch * patches, 3 * 2 * 14 * 14,
                                            generator=generator),
                "image_grid_thw": torch.tensor([[1, size.image_side // 14,
                                                 size.image_side // 14]] * batch),
            }
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            seconds = []
            for step in range(steps + 2):
                began = time.perf_counter()
                model(**inputs).loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if step >= 2:  # the first steps allocate and warm caches
                    seconds.append(time.perf_counter() - began)
    finally:
        torch.set_num_threads(threads)
    return REFERENCE_STEP_SECONDS / min(seconds)
