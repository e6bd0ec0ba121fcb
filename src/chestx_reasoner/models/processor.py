"""Qwen2-VL processors without a video processor, and loading any checkpoint's processor.

Why: Transformers builds Qwen2-VL's video processor on torchvision, which has no CPU build here
and which image benchmarks never need. `ImageOnlyQwen2VLProcessor` is Qwen2VLProcessor minus the
video slot: same chat template, image tokens and `mm_token_type_ids`. Saved folders name the
standard `Qwen2VLProcessor` (with a video section mirroring the image settings), so they load in
stock Transformers wherever torchvision is installed, and through `load_processor` everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoProcessor, Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin

QWEN_VL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl"})
_VIDEO_KEYS = ("do_convert_rgb", "do_normalize", "do_rescale", "do_resize", "image_mean",
               "image_std", "merge_size", "patch_size", "resample", "rescale_factor", "size",
               "temporal_patch_size")


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """Qwen2VLProcessor with an image processor and a tokenizer only."""

    def __init__(self, image_processor: Any = None, tokenizer: Any = None,
                 chat_template: str | None = None, **kwargs: Any) -> None:
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template,
                                **kwargs)

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> Any:
        """Save, then name the standard processor class so stock Transformers can load it."""
        result = super().save_pretrained(save_directory, **kwargs)
        directory = Path(save_directory)
        config_path = directory / "processor_config.json"
        config = json.loads(config_path.read_text())
        config["processor_class"] = "Qwen2VLProcessor"
        image = config.get("image_processor", {})
        config.setdefault("video_processor", {
            "video_processor_type": "Qwen2VLVideoProcessor",
            **{key: image[key] for key in _VIDEO_KEYS if key in image}})
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        tokenizer_path = directory / "tokenizer_config.json"
        if tokenizer_path.exists():
            tokenizer_config = json.loads(tokenizer_path.read_text())
            tokenizer_config["processor_class"] = "Qwen2VLProcessor"
            tokenizer_path.write_text(json.dumps(tokenizer_config, indent=2) + "\n")
        return result


def model_type(path: str, *, local_only: bool) -> str:
    """The checkpoint's `model_type` from its config.json."""
    return AutoConfig.from_pretrained(path, local_files_only=local_only).model_type


def load_processor(path: str, *, local_only: bool = True) -> Any:
    """The checkpoint's processor; Qwen2-VL-family checkpoints get the image-only one."""
    if model_type(path, local_only=local_only) in QWEN_VL_TYPES:
        return ImageOnlyQwen2VLProcessor.from_pretrained(path, local_files_only=local_only)
    return AutoProcessor.from_pretrained(path, local_files_only=local_only)
