"""What every model adapter shares: generation settings, the item it is given, its interface.

An adapter is one file in this package that registers a factory in `MODELS` (see `__init__`);
`chestx predict` does the reading, image loading, batching and resumable writing, so an adapter
only turns a batch of prepared items into raw output strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from PIL import Image


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """Decoding settings every adapter honours (those that generate text)."""

    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    seed: int = 0
    batch_size: int = 8
    # False: ask for the answer alone (the prompt of SFT's answer-only examples), e.g. to see
    # what a base model answers before it was taught to reason
    reasoning: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(slots=True)
class PreparedItem:
    """A benchmark item with its images resolved (and loaded, for models that look at them)."""

    sample: dict[str, Any]
    image_paths: list[Path] = field(default_factory=list)
    images: list[Image.Image] = field(default_factory=list)  # RGB, in `sample["images"]` order


class ModelAdapter(Protocol):
    """Turns prepared items into raw model outputs (the `prediction` field), in order."""

    name: str  # written to each record's `model`
    # What the loop prepares: "none" (images are not read: random, reference), "files" (paths
    # checked to exist: the adapter sends the files), "pixels" (decoded to RGB PIL images).
    image_input: ClassVar[str]

    def predict(self, items: list[PreparedItem], settings: GenerationSettings
                ) -> list[str | None]:
        """One raw output per item, in the same order; None = no output this time (not written,
        so a rerun tries the item again)."""
        ...


IMAGE_INPUTS = ("none", "files", "pixels")
ImageInput = Literal["none", "files", "pixels"]


class ModelLoadError(RuntimeError):
    """A model spec that cannot be loaded; the message is one line that says what to do."""
