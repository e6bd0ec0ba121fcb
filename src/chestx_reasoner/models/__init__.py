"""Model adapters for `chestx predict`, one file each, registered by spec prefix in `MODELS`.

A spec names an adapter and its argument: `hf:PATH_OR_ID`, `openai:MODEL@URL`, `tiny[:SIZE]`,
`random`, `reference`. A new adapter is one file here that does
`@MODELS.register("name")` on a factory `(argument: str, options: LoadOptions) -> ModelAdapter`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chestx_reasoner.models.base import ModelAdapter, ModelLoadError
from chestx_reasoner.registry import Registry

_NOT_ADAPTERS = {"base", "prompt", "images", "processor", "predict", "tiny_build"}


def _load_adapters() -> None:
    import chestx_reasoner.models as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_ADAPTERS:
            importlib.import_module(f"{package.__name__}.{module.name}")


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to load a model; each adapter reads the fields it needs."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    allow_download: bool = False  # hf: try the Hugging Face hub for an id not cached locally
    max_pixels: int | None = None  # hf: cap image size (pixels) before the vision tower
    api_key_env: str = "OPENAI_API_KEY"  # openai: environment variable with the key
    concurrency: int = 8  # openai: requests in flight
    cache_path: Path | None = None  # openai: SQLite cache of responses
    seed: int = 0  # random and tiny: the seed of their choices / weights


Factory = Callable[[str, LoadOptions], ModelAdapter]
MODELS: Registry[Factory] = Registry("model", loader=_load_adapters)


def parse_spec(spec: str) -> tuple[str, str]:
    """('hf', 'DIR') from 'hf:DIR'; ('random', '') from 'random'.

    >>> parse_spec("openai:qwen2-vl@http://127.0.0.1:8000/v1")
    ('openai', 'qwen2-vl@http://127.0.0.1:8000/v1')
    >>> parse_spec("reference")
    ('reference', '')
    """
    kind, _, argument = spec.strip().partition(":")
    if not kind:
        raise ModelLoadError(f"empty model spec {spec!r} (e.g. hf:DIR, openai:MODEL@URL, random)")
    return kind, argument


def load_model(spec: str, options: LoadOptions | None = None) -> ModelAdapter:
    """The adapter a spec names, loaded; a bad spec raises ModelLoadError or UnknownNameError."""
    kind, argument = parse_spec(spec)
    return MODELS.get(kind)(argument, options or LoadOptions())


__all__ = ["MODELS", "LoadOptions", "ModelAdapter", "ModelLoadError", "load_model", "parse_spec"]
