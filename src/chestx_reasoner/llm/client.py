"""One OpenAI-compatible chat-completions client for the miner, the judge and the openai: adapter.

Why httpx rather than the openai package: one small dependency, full control of retries, timeouts
and concurrency, and the same code for vLLM, Ollama and hosted APIs, which differ in what they
accept (e.g. response_format) and in how they fail. The API key is read from the environment
variable the settings name; it goes into the Authorization header only and is scrubbed from every
log line and error message; the cache never sees headers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from chestx_reasoner.llm.cache import ResponseCache, cache_key
from chestx_reasoner.logging_setup import redact

logger = logging.getLogger(__name__)

T = TypeVar("T")
STRUCTURED_OUTPUT_MODES = ("json_schema", "json_object", "none")
_BACKOFF_CAP_S = 30.0
_RETRY_AFTER_CAP_S = 300.0  # a server asking for more than 5 minutes is treated as asking for 5
_EXCERPT_CHARS = 200
_REPAIR_PROMPT = (
    "Your previous reply could not be used: {error}. Reply again with only the corrected JSON "
    "object, no prose and no code fences."
)


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to call an endpoint; holds the key's variable name, never the key."""

    url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    temperature: float = 0.0
    max_tokens: int = 1024
    cache_path: Path | None = None
    structured_output: str = "json_schema"
    price_in_per_mtok: float | None = None
    price_out_per_mtok: float | None = None

    def __post_init__(self) -> None:
        if self.structured_output not in STRUCTURED_OUTPUT_MODES:
            raise ValueError(f"structured_output must be one of {STRUCTURED_OUTPUT_MODES}, "
                             f"not {self.structured_output!r}")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError("need concurrency >= 1, max_retries >= 0 and timeout_s > 0")


class LLMError(RuntimeError):
    """The request failed for good: retries spent, or a 4xx other than 408/429.

    `status` is the last HTTP status (None for timeouts and connection errors); `body` a scrubbed
    excerpt of the server's answer, so callers can react (e.g. to a rejected response_format).
    """

    def __init__(self, message: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status, self.body = status, body


class LLMOutputError(LLMError):
    """complete_json: the content was still not JSON matching the schema after one repair round."""


@dataclass
class Usage:
    """Counters for one client: requests answered, cache hits, retries, failures, tokens."""

    calls: int = 0  # successful HTTP requests (a repair round counts as one more)
    cached: int = 0  # answers served from the cache, no request made
    retries: int = 0  # extra attempts after a retryable failure
    failures: int = 0  # public calls that raised LLMError
    prompt_tokens: int = 0  # as reported by the server; cache hits add nothing
    completion_tokens: int = 0

    def add(self, other: Usage) -> None:
        """Fold another client's counters into these (one run, several clients)."""
        for name in ("calls", "cached", "retries", "failures", "prompt_tokens",
                     "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def cost(self, settings: LLMSettings) -> float | None:
        """Spend in the price's currency, or None unless both prices are known."""
        if settings.price_in_per_mtok is None or settings.price_out_per_mtok is None:
            return None
        return (self.prompt_tokens * settings.price_in_per_mtok
                + self.completion_tokens * settings.price_out_per_mtok) / 1e6

    def summary(self, settings: LLMSettings) -> str:
        """One line for the end of a command's log."""
        text = (f"LLM {settings.model}: {self.calls} calls, {self.cached} cache hits, "
                f"{self.retries} retries, {self.failures} failures, tokens in "
                f"{self.prompt_tokens:,} / out {self.completion_tokens:,}")
        cost = self.cost(settings)
        return text if cost is None else f"{text}, cost ${cost:.4f}"


class _Reply(NamedTuple):
    content: str
    prompt_tokens: int
    completion_tokens: int


class _RetryableResponse(Exception):
    """A 200 whose body is unusable (not JSON, cut off, no choices): worth another attempt."""


def chat_url(base: str) -> str:
    """The chat-completions endpoint for a base URL given with or without /v1.

    >>> chat_url("http://127.0.0.1:8000"), chat_url("http://h:8000/v1/")
    ('http://127.0.0.1:8000/v1/chat/completions', 'http://h:8000/v1/chat/completions')
    """
    base = base.strip().rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def extract_json_object(text: str) -> dict[str, Any]:
    """The outermost JSON object in a reply, tolerating ```json fences and prose around it.

    >>> extract_json_object('Sure:\\n```json\\n{"a": {"b": 1}}\\n```\\nDone.')
    {'a': {'b': 1}}
    """
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    decoder, first_error = json.JSONDecoder(), None
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError as exc:
            first_error = first_error or exc
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    raise ValueError(f"invalid JSON: {first_error}" if first_error else "no JSON object found")


def _check(content: str, validator: Draft202012Validator) -> tuple[dict[str, Any] | None, str]:
    """(object, "") when the content holds a JSON object valid for the schema, else (None, why)."""
    try:
        value = extract_json_object(content)
    except ValueError as exc:
        return None, str(exc)
    error = best_match(validator.iter_errors(value))
    if error is None:
        return value, ""
    return None, f"schema validation failed at {error.json_path}: {error.message}"


def _excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CAP_S)


class ChatClient:
    """Async chat-completions client: bounded concurrency, retries with backoff, SQLite cache."""

    def __init__(
        self, settings: LLMSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.usage = Usage()
        self.endpoint = chat_url(settings.url)
        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        self._secret = key or None  # kept only to scrub it from error messages
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        limits = httpx.Limits(max_connections=settings.concurrency,
                              max_keepalive_connections=settings.concurrency)
        self._http = httpx.AsyncClient(headers=headers, timeout=settings.timeout_s,
                                       transport=transport, limits=limits)
        self._cache = ResponseCache(settings.cache_path) if settings.cache_path else None
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_loop: asyncio.AbstractEventLoop | None = None
        self._send_response_format = settings.structured_output != "none"

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections and the cache."""
        await self._http.aclose()
        if self._cache is not None:
            self._cache.close()

    async def complete(self, messages: list[dict[str, Any]], **params: Any) -> str:
        """One chat completion's text; params (temperature, max_tokens, stop, …) go in the body.

        Cached by a hash of the whole request body; only successful answers are stored.
        """
        body = self._body(messages, params)
        key = cache_key(body)
        hit = self._cache_get(key)
        if hit is not None:
            return hit
        try:
            reply = await self._post(body)
        except LLMError:
            self.usage.failures += 1
            raise
        self._cache_put(key, reply)
        return reply.content

    async def complete_json(
        self, messages: list[dict[str, Any]], schema: dict[str, Any], name: str = "output"
    ) -> dict[str, Any]:
        """A JSON object valid for `schema` (Draft 2020-12), with one repair round if needed.

        Small local models often wrap JSON in prose or fences, or miss a field: we extract the
        object, validate it, and on failure show the model its output and the error once.
        """
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema)
        response_format = self._response_format(schema, name)
        params = {"response_format": response_format} if response_format else {}
        key = cache_key({"request": self._body(messages, params), "schema": schema})
        hit = self._cache_get(key)
        if hit is not None:
            value, _ = _check(hit, validator)
            if value is not None:
                return value
        try:
            reply = await self._post_json(messages, response_format)
            value, error = _check(reply.content, validator)
            if value is None:
                logger.info("LLM output for %s unusable (%s); asking for one repair", name, error)
                prompt = _REPAIR_PROMPT.format(error=error)
                if not (self._send_response_format and response_format
                        and response_format["type"] == "json_schema"):  # the model lacks it
                    prompt += f" It must match this JSON schema: {json.dumps(schema)}"
                repair = [*messages, {"role": "assistant", "content": reply.content},
                          {"role": "user", "content": prompt}]
                second = await self._post_json(repair, response_format)
                value, error = _check(second.content, validator)
                if value is None:
                    raise LLMOutputError(f"{name}: LLM output still invalid after one repair "
                                         f"round: {_excerpt(error)}")
                reply = _Reply(second.content, reply.prompt_tokens + second.prompt_tokens,
                               reply.completion_tokens + second.completion_tokens)
        except LLMError:
            self.usage.failures += 1
            raise
        self._cache_put(key, reply)
        return value

    def _body(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        return {"model": s.model, "messages": messages, "temperature": s.temperature,
                "max_tokens": s.max_tokens, **params}

    def _response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any] | None:
        mode = self.settings.structured_output
        if mode == "json_schema":
            return {"type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True}}
        return {"type": "json_object"} if mode == "json_object" else None

    async def _post_json(
        self, messages: list[dict[str, Any]], response_format: dict[str, Any] | None
    ) -> _Reply:
        """Post with response_format; a server that rejects it gets the request once without it."""
        if not (response_format and self._send_response_format):
            return await self._post(self._body(messages, {}))
        try:
            return await self._post(self._body(messages, {"response_format": response_format}))
        except LLMError as exc:
            if exc.status not in (400, 422) or "response_format" not in exc.body.lower():
                raise
            logger.info("%s rejected response_format (HTTP %s); sending requests without it",
                        self.endpoint, exc.status)
        self._send_response_format = False
        return await self._post(self._body(messages, {}))

    def _cache_get(self, key: str) -> str | None:
        hit = self._cache.get(key) if self._cache is not None else None
        self.usage.cached += hit is not None
        return None if hit is None else hit.response

    def _cache_put(self, key: str, reply: _Reply) -> None:
        if self._cache is not None:
            self._cache.put(key, self.settings.model, reply.content, reply.prompt_tokens,
                            reply.completion_tokens)

    def _scrub(self, text: str) -> str:
        """Mask the key (whatever its shape) and anything that looks like a credential."""
        if self._secret:
            text = text.replace(self._secret, "***")
        return redact(text)

    def _gate(self) -> asyncio.Semaphore:
        """The concurrency semaphore for the running loop (each run() has a new loop)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
            self._semaphore_loop = loop
        return self._semaphore

    async def _post(self, body: dict[str, Any]) -> _Reply:
        """POST with retries on timeouts, connection errors, unusable 200s, 408, 429 and 5xx."""
        s = self.settings
        reason, status = "", None
        for attempt in range(s.max_retries + 1):
            retry_after = None
            try:
                async with self._gate(), asyncio.timeout(s.timeout_s):
                    response = await self._http.post(self.endpoint, json=body)
                status = response.status_code
                if status == 200:
                    return self._parse(response)
                if status not in (408, 429) and status < 500:
                    excerpt = self._scrub(_excerpt(response.text, 2000))
                    raise LLMError(self._scrub(f"LLM request to {self.endpoint} failed: HTTP "
                                               f"{status}: {_excerpt(excerpt)}"), status, excerpt)
                reason = f"HTTP {status}: {_excerpt(response.text)}"
                if status in (429, 503):
                    retry_after = _retry_after(response)
            except httpx.UnsupportedProtocol as exc:  # a bad URL: retrying cannot help
                raise LLMError(self._scrub(f"LLM URL {self.endpoint}: {exc}")) from None
            except (httpx.TimeoutException, TimeoutError):
                reason, status = f"timeout after {s.timeout_s:g} s", None
            except httpx.TransportError as exc:  # refused, reset, body cut off mid-way
                reason, status = f"{type(exc).__name__}: {exc}", None
            except _RetryableResponse as exc:
                reason = str(exc)
            if attempt == s.max_retries:
                break
            delay = min(_BACKOFF_CAP_S, s.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
            wait = delay if retry_after is None else retry_after
            self.usage.retries += 1
            logger.info("LLM request failed (%s); retry %d/%d in %.2f s",
                        self._scrub(_excerpt(reason)), attempt + 1, s.max_retries, wait)
            await asyncio.sleep(wait)
        raise LLMError(self._scrub(f"LLM request to {self.endpoint} failed after "
                                   f"{s.max_retries + 1} attempts: {_excerpt(reason)}"), status)

    def _parse(self, response: httpx.Response) -> _Reply:
        try:
            data = response.json()
            choice = data["choices"][0]
            content = choice["message"]["content"]
        except ValueError as exc:
            raise _RetryableResponse(f"body is not JSON: {_excerpt(response.text)}") from exc
        except (KeyError, IndexError, TypeError) as exc:
            raise _RetryableResponse(f"no choices[0].message: {_excerpt(response.text)}") from exc
        if not isinstance(content, str):
            raise LLMError(f"LLM response from {self.endpoint} has no text content "
                           f"(finish_reason={choice.get('finish_reason')!r})", 200)
        usage = data.get("usage") or {}
        reply = _Reply(content, int(usage.get("prompt_tokens") or 0),
                       int(usage.get("completion_tokens") or 0))
        self.usage.calls += 1
        self.usage.prompt_tokens += reply.prompt_tokens
        self.usage.completion_tokens += reply.completion_tokens
        return reply


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code (CLI commands); inside a running loop (a notebook) it runs
    on a fresh loop in a worker thread, since asyncio.run refuses to nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
