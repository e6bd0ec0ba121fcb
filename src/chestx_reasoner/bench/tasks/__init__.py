"""Task builders, one file each, registered by name in `TASKS`.

A builder turns the studies of one split into items (`Draft`s: a Sample before its images are
placed in the benchmark folder). It gets a seeded `random.Random`, so option order and sampling
are reproducible, and the `LabelReader` that says what counts as present or absent.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from chestx_reasoner.bench.sample import FINDING_NAMES, LETTERS, LabelReader
from chestx_reasoner.data.study import Study, StudyImage
from chestx_reasoner.registry import Registry


def _load_tasks() -> None:
    import chestx_reasoner.bench.tasks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


@dataclass(slots=True)
class Draft:
    """An item before its images are copied or linked into the benchmark folder."""

    task: str
    study: Study
    images: list[StudyImage]
    question: str
    options: list[str]
    answer: str
    report: str
    suffix: str = ""  # makes the id unique when one study gives several items of a task
    finding: str | None = None


@dataclass(slots=True)
class TaskContext:
    rng: random.Random
    labels: LabelReader
    per_finding: int = 200  # binary: items per finding and split (half positive, half negative)
    per_task: int | None = None  # other tasks: at most this many items per split
    extra: dict = field(default_factory=dict)


TaskBuilder = Callable[[list[Study], TaskContext], Iterator[Draft]]
TASKS: Registry[TaskBuilder] = Registry("task", loader=_load_tasks)


def name_of(column: str) -> str:
    return FINDING_NAMES[column]


def letter(options: list[str], right: str) -> str:
    return LETTERS[options.index(right)]


def capped(items: list, limit: int | None, rng: random.Random) -> list:
    """A seeded sample of at most `limit` items, in their original order."""
    if limit is None or len(items) <= limit:
        return items
    keep = set(rng.sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in keep]
