"""Training examples from mined JSONL: the one prompt format, images loaded lazily.

Why lazy: a benchmark holds tens of thousands of X-rays; datasets keep only paths and each
example's images are decoded when a batch is drawn (TRL's VLM collators process pixels on the
fly too). Why a JSON column: mined records carry nested fields of varying shape, and Arrow would
merge message parts of different keys into one struct (an image part would gain `text: None`),
so the chat messages are built from the record at access time, never stored in Arrow.

SFT examples are prompt/completion conversations: the user turn is `prompt.build_messages(item)`,
the assistant turn `prompt.target_text(steps, answer)`; an answer-only copy pairs the
answer-only prompt (`build_messages(item, reasoning=False)`) with `target_text([], answer)`, so
the reasoning prompt is always answered with reasoning. GRPO examples are prompt-only, with
the columns the rewards read.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chestx_reasoner.jsonl import RecordError, iter_records, record_id
from chestx_reasoner.models.images import (
    ImageReadError,
    check_image,
    load_image,
    missing_images_error,
    resolve_image,
)
from chestx_reasoner.models.prompt import THINK_OPEN, build_messages, target_text

# Fields of a mined record an example needs (the rest stays in the file).
ITEM_KEYS = ("id", "source", "task", "split", "finding", "question", "options", "answer",
             "report", "reasoning", "images")
# Columns GRPO passes on to every reward function as keyword arguments.
REWARD_COLUMNS = ("id", "question", "answer", "task", "options", "report", "reasoning")
# Mining statuses whose chain is a reasoning target (`dropped`, `no report` are not).
CHAIN_STATUSES = frozenset({"kept", "repaired"})


@dataclass(frozen=True, slots=True)
class Item:
    """One usable mined item: its fields, its image files, and its chain (may be empty)."""

    fields: dict[str, Any]
    image_paths: tuple[str, ...]
    steps: tuple[str, ...]


@dataclass(slots=True)
class DataSummary:
    """What went into a training set, and what was skipped and why."""

    items: int = 0
    reasoning: int = 0
    answer_only: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        """One line for the console."""
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return (f"{self.items} items -> {self.reasoning} reasoning + {self.answer_only} "
                f"answer-only examples" + (f"; skipped {skipped}" if skipped else ""))


def chain_of(record: dict[str, Any]) -> tuple[str, ...]:
    """The record's reasoning steps if they can be a target: mined, not dropped, not empty.

    >>> chain_of({"reasoning": ["a", " "], "mining": {"status": "kept"}})
    ('a',)
    >>> chain_of({"reasoning": ["a"], "mining": {"status": "dropped"}})
    ()
    """
    status = (record.get("mining") or {}).get("status", "kept")
    steps = record.get("reasoning") or []
    if status not in CHAIN_STATUSES or not isinstance(steps, list):
        return ()
    return tuple(str(step).strip() for step in steps if str(step).strip())


def read_items(path: Path, image_root: Path | None = None) -> tuple[list[Item], Counter[str]]:
    """Usable items of a mined (or benchmark) JSONL file, and counts of skipped ones by reason.

    Images resolve against `image_root` (default: the file's folder). An item whose image is
    missing or unreadable is skipped and counted; a record without question or answer too.
    Malformed lines raise RecordError (one line naming file and line), as does a file none of
    whose items is usable because their images are missing (a wrong image root, not data).
    """
    root = image_root if image_root is not None else path.parent
    items: list[Item] = []
    skipped: Counter[str] = Counter()
    first_missing: Path | None = None
    for line, record in iter_records(path):
        record_id(path, line, record)
        images = record.get("images")
        if not isinstance(images, list):
            raise RecordError(f"{path}:{line}: field 'images' must be a list of paths")
        if not str(record.get("answer") or "").strip() or not record.get("question"):
            skipped["without question or answer"] += 1
            continue
        files = [resolve_image(str(image), root) for image in images]
        if not all(file.is_file() for file in files):
            skipped["missing image"] += 1
            first_missing = first_missing or next(f for f in files if not f.is_file())
            continue
        try:
            for file in files:
                check_image(file)
        except ImageReadError:
            skipped["unreadable image"] += 1
            continue
        fields = {key: record.get(key) for key in ITEM_KEYS}
        fields["options"] = list(fields["options"] or [])
        fields["report"] = str(fields["report"] or "")
        steps = chain_of(record)
        fields["reasoning"] = list(steps)  # a dropped chain is no reference for the rewards
        items.append(Item(fields, tuple(str(file) for file in files), steps))
    if not items and first_missing is not None:
        raise RecordError(missing_images_error(path, root, skipped["missing image"],
                                               first_missing))
    return items, skipped



def answer_only_count(reasoning: int, ratio: float) -> int:
    """How many answer-only examples make them `ratio` of the mix with `reasoning` examples.

    >>> answer_only_count(300, 0.25), answer_only_count(300, 0.0), answer_only_count(10, 0.5)
    (100, 0, 10)
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"answer-only ratio must be in [0, 1), got {ratio}")
    return round(ratio * reasoning / (1.0 - ratio))


def sft_examples(items: Sequence[Item], answer_only_ratio: float, seed: int = 0
                 ) -> tuple[list[tuple[Item, str]], int, int]:
    """(item, target) pairs: a reasoning example per item with a chain, plus answer-only copies.

    Answer-only copies are drawn (seeded, without repeats until every item was used) from all
    items, chain or not, so they make `answer_only_ratio` of the examples; ratio 1 means every
    item answer-only and no reasoning. Returns (examples, reasoning count, answer-only count).
    """
    if not 0.0 <= answer_only_ratio <= 1.0:
        raise ValueError(f"--answer-only-ratio must be in [0, 1], got {answer_only_ratio}")
    with_chain = [item for item in items if item.steps]
    if answer_only_ratio >= 1.0:
        with_chain, n_answer = [], len(items)
    else:
        n_answer = answer_only_count(len(with_chain), answer_only_ratio)
    rng = random.Random(seed)
    drawn: list[Item] = []
    while len(drawn) < n_answer and items:
        pool = list(items)
        rng.shuffle(pool)
        drawn.extend(pool[:n_answer - len(drawn)])
    examples = [(item, target_text(item.steps, str(item.fields["answer"]))) for item in with_chain]
    examples += [(item, target_text([], str(item.fields["answer"]))) for item in drawn]
    return examples, len(with_chain), len(drawn)


def _images(paths: Sequence[str]) -> list[Any]:
    return [load_image(path) for path in paths]


def _sft_transform(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Rows -> TRL's conversational prompt/completion format with PIL images."""
    out: dict[str, list[Any]] = {"prompt": [], "completion": [], "images": []}
    for record, paths, target in zip(batch["record"], batch["image_paths"], batch["target"],
                                     strict=True):
        answer_only = not target.startswith(THINK_OPEN)  # its own prompt: answer alone
        out["prompt"].append(build_messages(json.loads(record), reasoning=not answer_only))
        out["completion"].append([{"role": "assistant",
                                   "content": [{"type": "text", "text": target}]}])
        out["images"].append(_images(paths))
    return out


def _grpo_transform(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Rows -> a conversational prompt, images, and the reward columns."""
    out: dict[str, list[Any]] = {"prompt": [], "images": [],
                                 **{key: [] for key in REWARD_COLUMNS}}
    for record, paths in zip(batch["record"], batch["image_paths"], strict=True):
        fields = json.loads(record)
        out["prompt"].append(build_messages(fields))
        out["images"].append(_images(paths))
        for key in REWARD_COLUMNS:
            out[key].append(fields[key])
    return out


def _dataset(rows: dict[str, list[Any]], transform: Any) -> Any:
    from datasets import Dataset

    return Dataset.from_dict(rows).with_transform(transform)


def build_sft_dataset(path: Path, *, image_root: Path | None = None,
                      answer_only_ratio: float = 0.5, seed: int = 0) -> tuple[Any, DataSummary]:
    """A `datasets.Dataset` of prompt/completion/images examples for SFTTrainer, and its summary.

    Raises RecordError if the file is malformed or yields no example.
    """
    items, skipped = read_items(path, image_root)
    examples, n_reasoning, n_answer = sft_examples(items, answer_only_ratio, seed)
    summary = DataSummary(len(items), n_reasoning, n_answer, skipped)
    if not examples:
        hint = ("no item has a mined chain (run `chestx mine`, or pass --answer-only-ratio 1)"
                if items else "no usable item")
        raise RecordError(f"{path}: no training examples: {hint} ({summary.describe()})")
    rows = {"record": [json.dumps(item.fields) for item, _ in examples],
            "image_paths": [list(item.image_paths) for item, _ in examples],
            "target": [target for _, target in examples]}
    return _dataset(rows, _sft_transform), summary


def build_grpo_dataset(path: Path, *, image_root: Path | None = None) -> tuple[Any, DataSummary]:
    """A `datasets.Dataset` with one prompt per usable item for GRPOTrainer, and its summary."""
    items, skipped = read_items(path, image_root)
    summary = DataSummary(len(items), sum(1 for item in items if item.steps), 0, skipped)
    if not items:
        raise RecordError(f"{path}: no usable item ({summary.describe()})")
    rows = {"record": [json.dumps(item.fields) for item in items],
            "image_paths": [list(item.image_paths) for item in items]}
    return _dataset(rows, _grpo_transform), summary
