"""`reference`: emits each item's reference chain and its right answer.

The upper bound of every score, and an end-to-end check of the scorer: scored with
`chestx score`, accuracy must be 1.0 and RadRScore as high as the judge can give.
"""

from __future__ import annotations

from typing import ClassVar

from chestx_reasoner.models import MODELS, LoadOptions
from chestx_reasoner.models.base import GenerationSettings, ModelLoadError, PreparedItem
from chestx_reasoner.models.prompt import target_text


class ReferenceModel:
    name = "reference"
    image_input: ClassVar[str] = "none"

    def predict(self, items: list[PreparedItem], settings: GenerationSettings) -> list[str]:
        return [target_text(item.sample.get("reasoning") or [], str(item.sample["answer"]))
                for item in items]


@MODELS.register("reference")
def load_reference(argument: str, options: LoadOptions) -> ReferenceModel:
    if argument:
        raise ModelLoadError(f"'reference' takes no argument, got 'reference:{argument}'")
    return ReferenceModel()
