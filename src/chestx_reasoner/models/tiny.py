"""`tiny[:SIZE]`: a freshly initialised tiny Qwen2-VL, built in memory (no folder needed).

The same model `chestx model init` saves (random weights, tokenizer trained on a synthetic
cohort's reports), handy for smoke tests of the whole path; to train one, `chestx model init
--out DIR` and then use `hf:DIR`.
"""

from __future__ import annotations

from chestx_reasoner.models import MODELS, LoadOptions
from chestx_reasoner.models.base import ModelLoadError
from chestx_reasoner.models.hf import HFModel, pick_device
from chestx_reasoner.models.tiny_build import SIZES, build_tiny


@MODELS.register("tiny")
def load_tiny(argument: str, options: LoadOptions) -> HFModel:
    size = argument or "tiny"
    if size not in SIZES:
        raise ModelLoadError(f"unknown tiny size {size!r} (choose from: {', '.join(SIZES)})")
    model, processor = build_tiny(size, seed=options.seed)
    return HFModel(model.to(pick_device(options.device)), processor, f"tiny-{size}")
