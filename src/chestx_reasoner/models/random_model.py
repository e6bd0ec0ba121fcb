"""`random`: the chance line. Picks an option uniformly (multi_open: a random set of findings).

Each item's choice depends only on the seed and the item id, so a resumed run writes exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import random
from typing import ClassVar

from chestx_reasoner.bench.sample import FINDING_NAMES, LETTERS
from chestx_reasoner.models import MODELS, LoadOptions
from chestx_reasoner.models.base import GenerationSettings, ModelLoadError, PreparedItem
from chestx_reasoner.models.prompt import target_text

_FINDINGS = sorted(FINDING_NAMES.values())


def item_rng(seed: int, item_id: str) -> random.Random:
    """A generator private to one item (stable across processes, unlike hash())."""
    digest = hashlib.sha256(f"{seed}\0{item_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class RandomModel:
    name = "random"
    image_input: ClassVar[str] = "none"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def answer(self, sample: dict) -> str:
        rng = item_rng(self.seed, str(sample["id"]))
        options = sample.get("options") or []
        if options:
            return LETTERS[rng.randrange(len(options))]
        return ", ".join(rng.sample(_FINDINGS, rng.randint(1, 3)))

    def predict(self, items: list[PreparedItem], settings: GenerationSettings) -> list[str]:
        return [target_text([], self.answer(item.sample)) for item in items]


@MODELS.register("random")
def load_random(argument: str, options: LoadOptions) -> RandomModel:
    if argument:
        raise ModelLoadError(f"'random' takes no argument, got 'random:{argument}'")
    return RandomModel(seed=options.seed)
