"""`chestx model init`: a Qwen2-VL-architecture model small enough to train on a CPU.

Random weights from a small config, and a byte-level BPE tokenizer trained here (the
`tokenizers` library) on the cohort's own words: its reports, questions, options and reasoning,
plus the prompt and answer format. Processor and model are saved with `save_pretrained`, so the
folder loads back through `hf:DIR` like any checkpoint. Same data and seed give the same folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chestx_reasoner.bench.sample import FINDING_NAMES
from chestx_reasoner.jsonl import RecordError, iter_records
from chestx_reasoner.models.prompt import FORMAT_TOKENS, IMAGE_LABELS, instruction, target_text

# Qwen2-VL's control tokens, in Qwen's order; ids are 0..6 in our vocabulary.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
SYSTEM_PROMPT = "You are a helpful assistant."

# Qwen2-VL's chat template (images as <|vision_start|><|image_pad|><|vision_end|>, a default
# system turn), so the tiny model is prompted exactly as a real Qwen2-VL checkpoint is.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True, slots=True)
class TinySize:
    """Shape of a tiny model. Text head_dim = hidden / heads; mrope_section sums to head_dim/2
    and the vision tower's output `hidden_size` equals the text hidden size (Qwen2-VL's rules)."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vision_depth: int
    vision_dim: int
    vision_heads: int
    image_side: int  # images are resized to about side x side pixels (multiples of 28)


SIZES: dict[str, TinySize] = {
    # 56 px: four merged image tokens. On the demo cohort a linear probe on raw pixels reads
    # the findings as well at 28 or 56 px as at 112 (held-out mean AUC 0.82 / 0.82 / 0.81), and
    # the pretrained tower reaches the same AUC in about half the time of 112 px (0.80 after
    # 800 steps), so the language model reads a shorter prompt at no loss of signal.
    "tiny": TinySize(vocab=2048, hidden=128, layers=2, heads=4, kv_heads=2, intermediate=384,
                     vision_depth=2, vision_dim=64, vision_heads=4, image_side=56),
    "small": TinySize(vocab=4096, hidden=256, layers=4, heads=8, kv_heads=4, intermediate=768,
                      vision_depth=4, vision_dim=128, vision_heads=4, image_side=224),
}


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim/2 rotary pairs over (time, height, width) as Qwen2-VL does (1:1.5:1.5).

    >>> mrope_section(128), mrope_section(32)
    ([16, 24, 24], [4, 6, 6])
    """
    half = head_dim // 2
    temporal = half // 4
    spatial = (half - temporal) // 2
    return [temporal, spatial, half - temporal - spatial]


def format_texts() -> list[str]:
    """The prompt scaffolding every example contains, so the tokenizer learns it whole."""
    texts = [SYSTEM_PROMPT, "system", "user", "assistant", *FORMAT_TOKENS]
    texts += [instruction(task, mode) for task in ("single", "multi_open")
              for mode in (True, False)]
    texts += [label for labels in IMAGE_LABELS.values() for label in labels]
    texts += [f"Does this chest X-ray show {name}?" for name in FINDING_NAMES.values()]
    texts += [target_text(["step"], letter) for letter in "ABCD"]
    return texts


def item_texts(paths: Iterable[Path]) -> Iterator[str]:
    """Questions, options, answers, reports and reasoning of benchmark or mined JSONL files;
    a file without any record is an error (a tokenizer trained on nothing would be useless)."""
    for path in paths:
        empty = True
        for _line, record in iter_records(path):
            empty = False
            for key in ("question", "report", "answer"):
                if isinstance(record.get(key), str):
                    yield record[key]
            for key in ("options", "reasoning"):
                yield from (str(x) for x in record.get(key) or [])
        if empty:
            raise RecordError(f"{path}: no records to train the tokenizer on (--data)")


def synthetic_texts(n: int = 400, seed: int = 0) -> Iterator[str]:
    """Reports of a synthetic cohort: the corpus when no benchmark is given."""
    from chestx_reasoner.data.synth.writer import SynthConfig, plan_reports

    for _study, report in plan_reports(SynthConfig(n=n, seed=seed)):
        yield report.text


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer with Qwen's control tokens and our format tags as single
    tokens, wrapped as a Transformers fast tokenizer."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.add_tokens([AddedToken(tag, normalized=False) for tag in FORMAT_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", model_max_length=4096)
    return fast


def build_processor(tokenizer: Any, size: TinySize) -> Any:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    from chestx_reasoner.models.processor import ImageOnlyQwen2VLProcessor

    side = size.image_side
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=side * side)
    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                     chat_template=CHAT_TEMPLATE)


def build_model(tokenizer: Any, size: TinySize, seed: int = 0) -> Any:
    """A Qwen2VLForConditionalGeneration with random weights (float32)."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    head_dim = size.hidden // size.heads
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": size.hidden,
            "intermediate_size": size.intermediate, "num_hidden_layers": size.layers,
            "num_attention_heads": size.heads, "num_key_value_heads": size.kv_heads,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": mrope_section(head_dim)},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": size.vision_depth, "embed_dim": size.vision_dim,
            "hidden_size": size.hidden, "num_heads": size.vision_heads, "mlp_ratio": 2,
            "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    generation = model.generation_config
    generation.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    generation.pad_token_id = ids["<|endoftext|>"]
    generation.bos_token_id = ids["<|endoftext|>"]
    return model


def build_tiny(size_name: str = "tiny", data: Iterable[Path] = (), seed: int = 0
               ) -> tuple[Any, Any]:
    """(model, processor) of a fresh tiny model; the tokenizer learns `data`'s text (or a
    synthetic cohort's reports when no data is given)."""
    if size_name not in SIZES:
        raise ValueError(f"unknown size {size_name!r} (choose from: {', '.join(SIZES)})")
    size = SIZES[size_name]
    data = list(data)
    corpus = [*format_texts(), *(item_texts(data) if data else synthetic_texts(seed=seed))]
    tokenizer = train_tokenizer(corpus, size.vocab)
    processor = build_processor(tokenizer, size)
    return build_model(tokenizer, size, seed), processor


def save_tiny(out: Path, model: Any, processor: Any, size_name: str, seed: int,
              data: Iterable[Path] = ()) -> Path:
    """Save processor and model, plus a small card of how they were made.

    Written into a sibling temporary folder that replaces OUT only when complete, so a crash
    mid-save never leaves a folder that looks like a model but does not load.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        processor.save_pretrained(tmp)
        model.save_pretrained(tmp)
        card = {"made_by": "chestx model init", "size": size_name, "seed": seed,
                "shape": asdict(SIZES[size_name]),
                "tokenizer_data": [str(p) for p in data] or ["synthetic cohort reports"],
                "parameters": sum(p.numel() for p in model.parameters())}
        (tmp / "chestx_model.json").write_text(json.dumps(card, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes 0700; a model folder is meant to be shared
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
