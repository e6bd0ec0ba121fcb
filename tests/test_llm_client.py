"""The OpenAI-compatible client against a real local HTTP server with scripted faults."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chestx_reasoner.llm.cache import CachedResponse, ResponseCache
from chestx_reasoner.llm.client import (
    ChatClient,
    LLMError,
    LLMOutputError,
    LLMSettings,
    Usage,
    chat_url,
    run,
)
from llm_server import FakeChatServer

KEY_ENV = "CHESTX_TEST_LLM_KEY"
# Deliberately shaped unlike sk-/hf_ keys so the generic log redaction cannot hide a leak.
SECRET = "zq-Unusual-Secret-Value-0042"
MESSAGES = [{"role": "user", "content": "Is there a pneumothorax?"}]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"enum": ["yes", "no"]}, "reason": {"type": "string"}},
    "required": ["label"],
    "additionalProperties": False,
}


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def settings(server: FakeChatServer, **overrides: Any) -> LLMSettings:
    values: dict[str, Any] = {"url": server.url, "model": "fake-model", "api_key_env": KEY_ENV,
                              "backoff_s": 0.01, "timeout_s": 5.0, "max_retries": 3}
    values.update(overrides)
    return LLMSettings(**values)


def call(server: FakeChatServer, method: str = "complete", *args: Any, **overrides: Any) -> Any:
    """Run one client call in a fresh client; returns (result or exception, usage)."""

    async def go() -> tuple[Any, Usage]:
        async with ChatClient(settings(server, **overrides)) as client:
            try:
                result = await getattr(client, method)(*args)
            except LLMError as exc:
                result = exc
            return result, client.usage

    return run(go())


# -- plain completions -----------------------------------------------------------------------
def test_success_and_usage(server: FakeChatServer) -> None:
    server.script(["first", "second"])

    async def go() -> tuple[list[str], Usage]:
        async with ChatClient(settings(server)) as client:
            out = [await client.complete(MESSAGES), await client.complete(MESSAGES, stop=["\n"])]
            return out, client.usage

    out, usage = run(go())
    assert out == ["first", "second"]
    assert (usage.calls, usage.cached, usage.retries, usage.failures) == (2, 0, 0, 0)
    assert (usage.prompt_tokens, usage.completion_tokens) == (22, 14)
    first, second = (r.json for r in server.requests)
    assert first == {"model": "fake-model", "messages": MESSAGES, "temperature": 0.0,
                     "max_tokens": 1024}
    assert second["stop"] == ["\n"]
    summary = usage.summary(settings(server, price_in_per_mtok=1.0, price_out_per_mtok=2.0))
    assert "2 calls" in summary and "cost $0.0001" in summary and "\n" not in summary
    assert usage.cost(settings(server)) is None


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_v1(server: FakeChatServer, suffix: str) -> None:
    result, _ = call(server, "complete", MESSAGES, url=server.root_url + suffix)
    assert result == "ok"
    assert server.requests[0].path == "/v1/chat/completions"
    assert chat_url("https://api.example.com/v1/chat/completions").count("/v1") == 1


def test_image_parts_pass_through(server: FakeChatServer) -> None:
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Describe."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]}]
    assert call(server, "complete", messages)[0] == "ok"
    assert server.requests[0].json["messages"] == messages


def test_authorization_only_with_key_and_key_never_leaks(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    call(server, "complete", MESSAGES)
    assert "authorization" not in server.requests[0].headers

    monkeypatch.setenv(KEY_ENV, SECRET)
    cache = tmp_path / "cache.sqlite"
    server.script([("status", 429, {"Retry-After": "0"}), "ok"])
    assert call(server, "complete", MESSAGES, cache_path=cache)[0] == "ok"
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"
    # a hostile server that echoes the header back in its error body
    server.script([lambda req: ("status", 401, {}, f"bad key: Bearer {SECRET} {SECRET}")])
    error, usage = call(server, "complete", [{"role": "user", "content": "x"}], cache_path=cache)
    assert isinstance(error, LLMError) and error.status == 401 and usage.failures == 1
    assert SECRET not in str(error) and SECRET not in error.body and "401" in str(error)
    assert SECRET not in caplog.text and "retry 1/3" in caplog.text
    for path in tmp_path.iterdir():  # the db and its WAL / shm companions
        assert SECRET.encode() not in path.read_bytes()


# -- retries ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", [
    ("status", 429, {"Retry-After": "0"}),
    ("status", 500),
    ("status", 503, {"Retry-After": "0"}),
    "invalid_json",
    "truncated",
])
def test_retryable_fault_then_success(server: FakeChatServer, fault: Any,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chestx_reasoner.llm.client")
    server.script([fault, "recovered"])
    result, usage = call(server, "complete", MESSAGES)
    assert result == "recovered"
    assert server.request_count == 2 and (usage.retries, usage.calls, usage.failures) == (1, 1, 0)
    assert "retry 1/3" in caplog.text
    if isinstance(fault, tuple):
        assert f"HTTP {fault[1]}" in caplog.text


def test_retry_after_is_honoured(server: FakeChatServer) -> None:
    server.script([("status", 429, {"Retry-After": "0.3"}), "ok"])
    start = time.perf_counter()
    assert call(server, "complete", MESSAGES, backoff_s=0.0)[0] == "ok"
    assert time.perf_counter() - start >= 0.3


def test_timeout_then_success(server: FakeChatServer) -> None:
    server.script([("sleep", 2.0), "late but fine"])
    start = time.perf_counter()
    result, usage = call(server, "complete", MESSAGES, timeout_s=0.3)
    assert result == "late but fine" and usage.retries == 1
    assert time.perf_counter() - start < 1.5


def test_gives_up_after_max_retries(server: FakeChatServer) -> None:
    server.script([("status", 500, {}, '{"error": "overloaded\\nplease wait"}')] * 3)
    error, usage = call(server, "complete", MESSAGES, max_retries=2)
    assert isinstance(error, LLMError) and not isinstance(error, LLMOutputError)
    assert server.request_count == 3 and (usage.retries, usage.failures) == (2, 1)
    message = str(error)
    assert "\n" not in message and "HTTP 500" in message and "3 attempts" in message
    assert "overloaded" in message


def test_connection_refused_gives_up(server: FakeChatServer) -> None:
    url = server.url
    server.stop()
    error, _ = call(server, "complete", MESSAGES, url=url, max_retries=1)
    assert isinstance(error, LLMError) and error.status is None and "2 attempts" in str(error)


def test_400_is_not_retried(server: FakeChatServer) -> None:
    server.script([("status", 400, {}, '{"error": {"message": "messages must not be empty"}}')])
    error, usage = call(server, "complete", MESSAGES)
    assert isinstance(error, LLMError) and error.status == 400
    assert server.request_count == 1 and usage.retries == 0
    assert "HTTP 400" in str(error) and "messages must not be empty" in str(error)


# -- complete_json ----------------------------------------------------------------------------
def test_json_valid_first_time(server: FakeChatServer) -> None:
    server.script([("json", {"label": "yes", "reason": "visible pleural line"})])
    result, _ = call(server, "complete_json", MESSAGES, SCHEMA, "verdict")
    assert result == {"label": "yes", "reason": "visible pleural line"}
    assert server.requests[0].json["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True}}


@pytest.mark.parametrize(("mode", "expected"), [
    ("json_object", {"type": "json_object"}), ("none", None)])
def test_json_structured_output_modes(server: FakeChatServer, mode: str, expected: Any) -> None:
    server.script([('{"label": "no"}')])
    result, _ = call(server, "complete_json", MESSAGES, SCHEMA, structured_output=mode)
    assert result == {"label": "no"}
    assert server.requests[0].json.get("response_format") == expected


def test_json_fenced_with_prose(server: FakeChatServer) -> None:
    server.script(['Here you go:\n```json\n{"label": "no", "reason": "a {brace}"}\n```\nBye.'])
    assert call(server, "complete_json", MESSAGES, SCHEMA)[0] == {"label": "no",
                                                                  "reason": "a {brace}"}


@pytest.mark.parametrize(("bad", "named"), [
    (("json", {"label": "maybe"}), "'maybe' is not one of ['yes', 'no']"),
    (("content", "not json at all"), "no JSON object found"),
    (("content", '{"label": "yes",'), "invalid JSON"),
])
def test_json_repair_round(server: FakeChatServer, bad: Any, named: str) -> None:
    server.script([bad, ("json", {"label": "yes"})])
    result, usage = call(server, "complete_json", MESSAGES, SCHEMA)
    assert result == {"label": "yes"} and server.request_count == 2
    repair = server.requests[1].json["messages"]
    assert repair[:-2] == MESSAGES
    assert repair[-2] == {"role": "assistant", "content": bad[1] if bad[0] == "content"
                          else json.dumps(bad[1])}
    assert repair[-1]["role"] == "user" and named in repair[-1]["content"]
    assert (usage.calls, usage.prompt_tokens) == (2, 22)


def test_json_still_wrong_raises_after_two_requests(server: FakeChatServer,
                                                    tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    server.script([("json", {"label": "maybe"}), ("json", {"verdict": "yes"})])
    error, usage = call(server, "complete_json", MESSAGES, SCHEMA, cache_path=cache)
    assert isinstance(error, LLMOutputError) and server.request_count == 2
    assert "'label' is a required property" in str(error) and usage.failures == 1
    server.script([("json", {"label": "no"})])  # nothing was cached: the next call asks again
    assert call(server, "complete_json", MESSAGES, SCHEMA, cache_path=cache)[0] == {"label": "no"}
    assert server.request_count == 3


def test_response_format_rejected_is_dropped_for_the_client(server: FakeChatServer) -> None:
    def strict_server(request: dict[str, Any]) -> Any:
        if "response_format" in request:
            return ("status", 400, {}, json.dumps(
                {"error": {"message": "Unrecognized request argument: response_format"}}))
        return ("json", {"label": "yes"})

    server.script([strict_server] * 3)

    async def go() -> list[dict[str, Any]]:
        async with ChatClient(settings(server)) as client:
            return [await client.complete_json(MESSAGES, SCHEMA),
                    await client.complete_json([{"role": "user", "content": "again"}], SCHEMA)]

    assert run(go()) == [{"label": "yes"}] * 2
    assert ["response_format" in r.json for r in server.requests] == [True, False, False]


# -- cache ------------------------------------------------------------------------------------
def test_cache_hits_and_survives_new_client(server: FakeChatServer, tmp_path: Path) -> None:
    cache = tmp_path / "llm" / "cache.sqlite"
    server.script(["cached answer", ("json", {"label": "yes"})])

    async def go() -> tuple[list[Any], Usage]:
        async with ChatClient(settings(server, cache_path=cache)) as client:
            out = [await client.complete(MESSAGES), await client.complete(MESSAGES),
                   await client.complete_json(MESSAGES, SCHEMA),
                   await client.complete_json(MESSAGES, SCHEMA)]
            return out, client.usage

    out, usage = run(go())
    assert out == ["cached answer", "cached answer", {"label": "yes"}, {"label": "yes"}]
    assert server.request_count == 2 and (usage.calls, usage.cached) == (2, 2)

    out, usage = run(go())  # a new client on the same file
    assert out[0] == "cached answer" and server.request_count == 2 and usage.cached == 4
    assert usage.prompt_tokens == 0
    # a different temperature or schema is a different request
    assert call(server, "complete", MESSAGES, cache_path=cache, temperature=0.5)[0] == "ok"
    assert server.request_count == 3


def test_failures_are_not_cached(server: FakeChatServer, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    server.script([("status", 500)] * 2 + ["fine"])
    assert isinstance(call(server, "complete", MESSAGES, cache_path=cache, max_retries=1)[0],
                      LLMError)
    assert call(server, "complete", MESSAGES, cache_path=cache)[0] == "fine"
    assert server.request_count == 3


def _write_rows(args: tuple[Path, int]) -> None:
    path, worker = args
    cache = ResponseCache(path)
    for i in range(100):
        cache.put(f"{worker}-{i}", "m", "answer", 1, 2)
    cache.close()


def test_cache_shared_by_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_write_rows, [(path, worker) for worker in range(8)]))
    cache = ResponseCache(path)
    assert len(cache) == 800 and cache.get("7-99") == CachedResponse("answer", 1, 2)
    cache.close()


# -- concurrency ------------------------------------------------------------------------------
def test_concurrency_is_bounded(server: FakeChatServer) -> None:
    server.latency_s = 0.2

    async def go() -> list[str]:
        async with ChatClient(settings(server, concurrency=5)) as client:
            return await asyncio.gather(*(client.complete(
                [{"role": "user", "content": f"q{i}"}]) for i in range(20)))

    start = time.perf_counter()
    assert run(go()) == ["ok"] * 20
    elapsed = time.perf_counter() - start
    assert server.max_in_flight == 5 and server.request_count == 20
    assert 0.75 < elapsed < 1.5


def test_run_inside_a_running_loop(server: FakeChatServer) -> None:
    async def outer() -> str:
        async def inner() -> str:
            async with ChatClient(settings(server)) as client:
                return await client.complete(MESSAGES)

        return run(inner())

    assert asyncio.run(outer()) == "ok"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="structured_output"):
        LLMSettings(url="http://x", model="m", structured_output="grammar")
