"""`hf:PATH_OR_ID`: any Transformers image-text-to-text model (Qwen2-VL / Qwen2.5-VL first).

Loads through `AutoModelForImageTextToText` and the checkpoint's processor; batched, left-padded
generation; bf16 with `device_map="auto"` on GPU, float32 on CPU. A local folder is always
preferred; an id that is not a folder is looked up in the local Hugging Face cache only, unless
the user passes `allow_download` (`--allow-download`): nothing is fetched unasked.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, ClassVar

from chestx_reasoner.models import MODELS, LoadOptions
from chestx_reasoner.models.base import GenerationSettings, ModelLoadError, PreparedItem
from chestx_reasoner.models.prompt import build_messages, render_prompt

_DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")


def pick_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'cpu'; cpu, cuda, cuda:N or mps as given,
    if there is one: asking for a GPU that is not there is an error, never a CPU run."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not _DEVICE.fullmatch(device):
        raise ModelLoadError(f"--device {device!r}: choose auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelLoadError(f"--device {device}: no CUDA GPU is visible to torch "
                                 "(use --device cpu or auto)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ModelLoadError(f"--device {device}: only {torch.cuda.device_count()} "
                                 "CUDA GPU(s) visible")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError("--device mps: MPS is not available (use --device cpu or auto)")
    return device


def batch_seed(seed: int, items: list[PreparedItem]) -> int:
    """A sampling seed fixed by the run's seed and the batch's first item, so a resumed run
    samples a batch as an uninterrupted one would (given the same batch boundaries)."""
    first = str(items[0].sample.get("id")) if items else ""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{first}".encode()).digest()[:4], "big")


class HFModel:
    image_input: ClassVar[str] = "pixels"

    def __init__(self, model: Any, processor: Any, name: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name
        tokenizer = getattr(processor, "tokenizer", processor)
        tokenizer.padding_side = "left"  # generation continues from the right edge
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_token_id = tokenizer.pad_token_id
        self.generated_tokens = 0  # new tokens generated so far (padding excluded)

    @property
    def device(self) -> Any:
        return self.model.device

    def encode(self, items: list[PreparedItem], reasoning: bool = True) -> Any:
        """Prompts (chat-templated) and pixels of a batch as model inputs on the model's device."""
        texts = [render_prompt(self.processor, build_messages(item.sample, reasoning=reasoning))
                 for item in items]
        images = [image for item in items for image in item.images]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if images:
            kwargs["images"] = images
        return self.processor(**kwargs).to(self.device)

    def predict(self, items: list[PreparedItem], settings: GenerationSettings
                ) -> list[str | None]:
        import torch

        inputs = self.encode(items, settings.reasoning)
        sample = settings.temperature > 0
        options: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens,
                                   "do_sample": sample, "pad_token_id": self.pad_token_id}
        if sample:
            options["temperature"] = settings.temperature
            torch.manual_seed(batch_seed(settings.seed, items))
        else:  # greedy: drop sampling defaults a checkpoint's generation_config may carry
            options.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **options)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        self.generated_tokens += int((new_tokens != self.pad_token_id).sum())
        return list(self.processor.batch_decode(new_tokens, skip_special_tokens=True))


def _display_name(path: str) -> str:
    local = Path(path)
    return local.resolve().name if local.is_dir() else path


def load_checkpoint(path: str, *, allow_download: bool, dtype: Any,
                    device_map: str | None = None) -> tuple[Any, Any]:
    """(model, processor) of an image-text checkpoint: a folder, else the local HF cache, else
    the hub when `allow_download`; the one loader inference and training share."""
    from transformers import AutoModelForImageTextToText

    from chestx_reasoner.models.processor import load_processor

    if not path:
        raise ModelLoadError("a model needs a folder or a hub id, e.g. hf:runs/sft")
    local_only = Path(path).is_dir() or not allow_download
    try:
        processor = load_processor(path, local_only=local_only)
        model = AutoModelForImageTextToText.from_pretrained(
            path, local_files_only=local_only, dtype=dtype, device_map=device_map)
    except (OSError, ValueError) as error:  # no or bad config.json / weights / tokenizer
        if Path(path).is_dir():
            why = " ".join(str(error).split())[:300]
            raise ModelLoadError(f"{path}: not a loadable checkpoint ({why})") from error
        raise ModelLoadError(
            f"{path}: not a local folder and not in the Hugging Face cache; pass "
            "--allow-download to fetch it from the hub") from error
    return model, processor


def load_hf(path: str, options: LoadOptions) -> HFModel:
    """Model and processor from a folder (or the local HF cache, or the hub if allowed)."""
    import torch

    device = pick_device(options.device)
    on_gpu = device.startswith("cuda")
    model, processor = load_checkpoint(
        path, allow_download=options.allow_download,
        dtype=torch.bfloat16 if on_gpu else torch.float32,
        device_map="auto" if device == "cuda" else None)
    if device != "cuda":  # "cuda" was placed by device_map; cpu and cuda:N move as a whole
        model = model.to(device)
    if options.max_pixels:
        size = getattr(getattr(processor, "image_processor", None), "size", None)
        if size is None or "longest_edge" not in size:
            raise ModelLoadError(f"{path}: --max-pixels works for Qwen2-VL-style processors only")
        size["longest_edge"] = options.max_pixels
    return HFModel(model, processor, _display_name(path))


MODELS.register("hf")(load_hf)
