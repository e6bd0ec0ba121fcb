"""The one prompt format that training and inference share.

A model is asked the item's question with its options (A) … D)), shown its image (temporal
items: the prior then the current study, each labelled), and told to reason step by step inside
`<think>…</think>` and to give the final answer inside `<answer>…</answer>`. Messages use the
Transformers multimodal chat format, so each checkpoint renders them with its own chat template
(`render_prompt`); the OpenAI adapter swaps each image part for a data URL.

>>> item = {"task": "single", "question": "Which finding is in this chest X-ray?",
...         "options": ["edema", "pneumothorax"], "images": ["a.jpg"]}
>>> question, a, b, rule = user_text(item).splitlines()
>>> a, b, rule.startswith("Think step by step inside <think></think>")
('A) edema', 'B) pneumothorax', True)
>>> target_text(["The heart is normal.", "So the answer is B."], "B")
'<think>\\nThe heart is normal.\\nSo the answer is B.\\n</think>\\n<answer>B</answer>'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chestx_reasoner.bench.sample import LETTERS

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
FORMAT_TOKENS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

_STEPS = "Think step by step inside <think></think>, one step per line, then give "
_DIRECT = "Give only "
_ANSWER_KIND = {
    "multi_open": "the findings present, separated by commas,",
}
_DEFAULT_KIND = "the letter of the correct option"
IMAGE_LABELS = {"temporal": ("Prior study:", "Current study:")}

ImagePart = dict[str, Any]


def options_text(options: Sequence[str]) -> str:
    """'A) first' … one option per line, lettered as the answer key is."""
    if len(options) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options are supported, got {len(options)}")
    return "\n".join(f"{letter}) {text}" for letter, text in zip(LETTERS, options, strict=False))


def instruction(task: str, reasoning: bool = True) -> str:
    """The output-format instruction (benchmark questions never contain one).

    `reasoning=False` asks for the answer alone: the prompt of SFT's answer-only examples, so
    that the two kinds of target never compete for the same prompt (a model trained on both
    under one prompt learns to skip its reasoning).
    """
    kind = _ANSWER_KIND.get(task, _DEFAULT_KIND)
    return f"{_STEPS if reasoning else _DIRECT}{kind} inside <answer></answer>."


def user_text(item: dict[str, Any], reasoning: bool = True) -> str:
    """Question, options and instruction: the text of the user turn."""
    parts = [str(item["question"]).strip()]
    if item.get("options"):
        parts.append(options_text(item["options"]))
    parts.append(instruction(str(item.get("task", "")), reasoning))
    return "\n".join(parts)


def image_parts(item: dict[str, Any], image: Callable[[int], ImagePart] | None = None
                ) -> list[ImagePart]:
    """The image content parts, each temporal image preceded by its prior/current label."""
    make = image or (lambda _index: {"type": "image"})
    labels = IMAGE_LABELS.get(str(item.get("task", "")))
    parts: list[ImagePart] = []
    for index, _path in enumerate(item.get("images") or []):
        if labels and index < len(labels):
            parts.append({"type": "text", "text": labels[index]})
        parts.append(make(index))
    return parts


def build_messages(item: dict[str, Any], image: Callable[[int], ImagePart] | None = None,
                   system: str | None = None, reasoning: bool = True) -> list[dict[str, Any]]:
    """The chat of one item: an optional system turn, then images and text in the user turn.

    `image(index)` makes the content part of image `index` ({"type": "image"} by default; the
    OpenAI adapter returns an `image_url` part). `reasoning=False`: the answer-only prompt.
    """
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    content = [*image_parts(item, image), {"type": "text", "text": user_text(item, reasoning)}]
    messages.append({"role": "user", "content": content})
    return messages


def target_text(steps: Sequence[str], answer: str) -> str:
    """The assistant turn a model learns: the reasoning steps, then the answer.

    With no steps it is answer-only (`<answer>X</answer>`), the paper's second kind of target.
    """
    answer_part = f"{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"
    lines = [str(step).strip() for step in steps if str(step).strip()]
    if not lines:
        return answer_part
    return f"{THINK_OPEN}\n" + "\n".join(lines) + f"\n{THINK_CLOSE}\n{answer_part}"


def render_prompt(processor: Any, messages: list[dict[str, Any]]) -> str:
    """The prompt string in the checkpoint's own chat format, ending where the answer starts."""
    template_owner = processor if getattr(processor, "chat_template", None) else \
        getattr(processor, "tokenizer", processor)
    return template_owner.apply_chat_template(messages, add_generation_prompt=True,
                                              tokenize=False)
