"""`openai:MODEL@URL`: any OpenAI-compatible `/v1/chat/completions` server as the model.

vLLM serving Qwen2-VL, Ollama, or a hosted API. Images travel as base64 data URLs inside
`image_url` parts; requests go through the shared client (bounded concurrency, retries with
backoff, SQLite cache, key from an environment variable that is never logged). A request that
still fails after its retries leaves its item unwritten (logged and counted), so a long run goes
on and a rerun tries the item again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from chestx_reasoner.llm.client import ChatClient, LLMError, LLMSettings, Usage, run
from chestx_reasoner.models import MODELS, LoadOptions
from chestx_reasoner.models.base import GenerationSettings, ModelLoadError, PreparedItem
from chestx_reasoner.models.images import ImageReadError, data_url
from chestx_reasoner.models.prompt import build_messages

log = logging.getLogger(__name__)


def split_target(argument: str) -> tuple[str, str]:
    """('MODEL', 'URL') from 'MODEL@URL' (the model name may itself contain '@').

    >>> split_target("Qwen/Qwen2-VL-7B-Instruct@http://127.0.0.1:8000/v1")
    ('Qwen/Qwen2-VL-7B-Instruct', 'http://127.0.0.1:8000/v1')
    """
    model, at, url = argument.rpartition("@")
    if not at or not model or not url.startswith(("http://", "https://")):
        raise ModelLoadError(f"openai spec needs MODEL@URL with an http(s) URL, got "
                             f"'openai:{argument}' (e.g. openai:qwen2-vl@http://127.0.0.1:8000/v1)")
    return model, url


def openai_messages(item: PreparedItem, reasoning: bool = True) -> list[dict[str, Any]]:
    """The shared prompt with each image as an `image_url` data-URL part."""
    def image(index: int) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": data_url(item.image_paths[index])}}

    return build_messages(item.sample, image=image, reasoning=reasoning)


class OpenAIModel:
    image_input: ClassVar[str] = "files"  # sends the files as they are; no decoding needed

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.name = settings.model
        self.usage = Usage()
        self.failures = 0

    def predict(self, items: list[PreparedItem], settings: GenerationSettings
                ) -> list[str | None]:
        return run(self._predict_all(items, settings))

    async def _predict_all(self, items: list[PreparedItem],
                           settings: GenerationSettings) -> list[str | None]:
        params: dict[str, Any] = {"max_tokens": settings.max_new_tokens,
                                  "temperature": settings.temperature, "seed": settings.seed}
        async with ChatClient(self.settings) as client:
            try:
                return list(await asyncio.gather(
                    *(self._predict_one(client, item, params, settings.reasoning)
                      for item in items)))
            finally:
                self.usage.add(client.usage)

    async def _predict_one(self, client: ChatClient, item: PreparedItem,
                           params: dict[str, Any], reasoning: bool = True) -> str | None:
        try:
            messages = openai_messages(item, reasoning)
        except (ImageReadError, OSError) as error:  # unreadable: one item lost, not the run
            self.failures += 1
            log.warning("%s: no prediction, image unreadable (%s)", item.sample.get("id"), error)
            return None
        try:
            return await client.complete(messages, **params)
        except LLMError as error:
            self.failures += 1
            log.warning("%s: no prediction, left for a rerun (%s)", item.sample.get("id"), error)
            return None

    def usage_summary(self) -> str:
        return self.usage.summary(self.settings)


@MODELS.register("openai")
def load_openai(argument: str, options: LoadOptions) -> OpenAIModel:
    model, url = split_target(argument)
    settings = LLMSettings(url=url, model=model, api_key_env=options.api_key_env,
                           concurrency=options.concurrency, cache_path=options.cache_path)
    return OpenAIModel(settings)
