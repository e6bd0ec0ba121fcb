"""Mined items as verl's RL dataset: train/test Parquet that `verl.trainer.main_ppo` reads.

verl's `RLHFDataset` reads rows of `data_source`, a chat `prompt` whose text holds one
`<image>` placeholder per image, `images` (here `datasets` Image structs: the bytes travel in the
file, so a cluster needs no shared image folder), `ability`, `reward_model.ground_truth`, and an
`extra_info` dict that verl hands unchanged to the reward function. `extra_info` carries what
the process reward reads (task, options, report, mined reasoning, question), so
`train.verl_reward.compute_score` scores exactly as `chestx train grpo` does.

The prompt is the one prompt of `models.prompt` with each image part written as `<image>`:
verl splits the text at the placeholders back into the same image and text parts, so a verl run
and a TRL run show the model the same turn. Items are read by `train.data.read_items`, the same
reader (and the same skips) as `chestx train grpo`.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.models.prompt import build_messages
from chestx_reasoner.train.data import DataSummary, Item, read_items

DATA_SOURCE = "radrbench-cxr"
ABILITY = "radiology"
IMAGE = "<image>"
_RAW_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg"})


@dataclass(frozen=True, slots=True)
class VerlExport:
    """What `export_verl` wrote: the two Parquet files, their row counts, and the skips."""

    train: Path
    test: Path
    n_train: int
    n_test: int
    summary: DataSummary


def prompt_messages(fields: dict[str, Any]) -> list[dict[str, str]]:
    """The chat of one item in verl's form: string content with `<image>` placeholders.

    >>> prompt_messages({"task": "binary", "question": "Is there an effusion?",
    ...                  "options": ["Yes", "No"], "images": ["a.jpg"]})[0]["content"].split()[:3]
    ['<image>Is', 'there', 'an']
    """
    out = []
    for message in build_messages(fields):
        text = "".join(IMAGE if part["type"] == "image" else part["text"]
                       for part in message["content"])
        out.append({"role": message["role"], "content": text})
    return out


def data_source(task: str) -> str:
    """verl groups validation metrics by `data_source`: one group per task family."""
    return f"{DATA_SOURCE}/{task}"


def in_test(item_id: str, test_ratio: float) -> bool:
    """Seeded by the id alone, so a grown file keeps every earlier item on its side.

    >>> in_test("x1", 0.0), in_test("x1", 1.0)
    (False, True)
    """
    digest = hashlib.sha1(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_ratio


def _image_bytes(path: str) -> dict[str, Any]:
    """JPEG bytes as they are; anything else (DICOM, 16-bit PNG) as the 8-bit PNG models see."""
    file = Path(path)
    if file.suffix.lower() in _RAW_IMAGE_SUFFIXES:
        return {"bytes": file.read_bytes(), "path": file.name}
    from chestx_reasoner.models.images import load_image

    buffer = io.BytesIO()
    load_image(file).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": file.with_suffix(".png").name}


def _row(item: Item, split: str, index: int) -> dict[str, Any]:
    fields = item.fields
    return {
        "data_source": data_source(str(fields["task"])),
        "prompt": prompt_messages(fields),
        "images": [_image_bytes(path) for path in item.image_paths],
        "ability": ABILITY,
        "reward_model": {"style": "rule", "ground_truth": str(fields["answer"])},
        "extra_info": {
            "split": split, "index": index, "id": str(fields["id"]),
            "source": str(fields.get("source") or ""), "task": str(fields["task"]),
            "question": str(fields["question"]),
            "options": [str(option) for option in fields["options"]],
            "report": str(fields["report"]), "reasoning": list(fields["reasoning"]),
        },
    }


def _features() -> Any:
    from datasets import Features, Image, List, Value

    text = Value("string")
    return Features({
        "data_source": text,
        "prompt": List({"role": text, "content": text}),
        "images": List(Image()),
        "ability": text,
        "reward_model": {"style": text, "ground_truth": text},
        "extra_info": {"split": text, "index": Value("int64"), "id": text, "source": text,
                       "task": text, "question": text, "options": List(text), "report": text,
                       "reasoning": List(text)},
    })


def _rows(items: Sequence[Item], split: str) -> Iterator[dict[str, Any]]:
    # a tuple, not a list: `Dataset.from_generator` would shard a list into one call per item
    for index, item in enumerate(items):
        yield _row(item, split, index)


def split_items(items: Sequence[Item], test_ratio: float) -> tuple[list[Item], list[Item]]:
    """(train, test) by a hash of each id; at least one test item whenever there are two items,
    because verl validates before its first step and refuses an empty validation set."""
    test = [item for item in items if in_test(str(item.fields["id"]), test_ratio)]
    if not test and len(items) >= 2 and test_ratio > 0:
        test = [min(items, key=lambda item: hashlib.sha1(
            str(item.fields["id"]).encode("utf-8")).digest())]
    chosen = {id(item) for item in test}
    return [item for item in items if id(item) not in chosen], test


def export_verl(data: Path, out: Path, *, image_root: Path | None = None,
                test_ratio: float = 0.05) -> VerlExport:
    """Write OUT/train.parquet and OUT/test.parquet from a mined JSONL file.

    Each file is written beside its final name and renamed into place, so an interrupted export
    never leaves a half-written Parquet file. Raises RecordError for bad input (one line) and
    ValueError for a test ratio outside [0, 1).
    """
    import datasets

    if not 0.0 <= test_ratio < 1.0:
        raise ValueError(f"--test-ratio must be in [0, 1), got {test_ratio}")
    items, skipped = read_items(data, image_root)
    summary = DataSummary(len(items), sum(1 for item in items if item.steps), 0, skipped)
    if not items:
        raise RecordError(f"{data}: no usable item ({summary.describe()})")
    train, test = split_items(items, test_ratio)
    out.mkdir(parents=True, exist_ok=True)
    datasets.disable_progress_bars()
    paths = {"train": out / "train.parquet", "test": out / "test.parquet"}
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as cache:
        for split, part in (("train", train), ("test", test)):
            table = datasets.Dataset.from_generator(
                _rows, gen_kwargs={"items": tuple(part), "split": split}, features=_features(),
                cache_dir=cache, split=datasets.Split(split)) if part else \
                datasets.Dataset.from_list([], features=_features())
            staging = Path(cache) / f"{split}.parquet"
            table.to_parquet(str(staging))
            shutil.move(str(staging), paths[split])
    return VerlExport(paths["train"], paths["test"], len(train), len(test), summary)
