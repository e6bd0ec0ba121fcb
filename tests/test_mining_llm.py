"""The LLM miner against a real local chat-completions server: three passes, verification with
one retry, faults, cache, concurrency, and the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.llm.client import LLMSettings
from chestx_reasoner.mining.llm_miner import LLMBackend
from chestx_reasoner.mining.run import mine_file
from llm_server import FakeChatServer

runner = CliRunner()
REPORT = "FINDINGS: Moderate left pleural effusion. IMPRESSION: Moderate left pleural effusion."


def _item(i: int, answer: str = "A") -> dict[str, Any]:
    return {"id": f"item-{i}", "task": "binary", "question": "Does this chest X-ray show "
            "pleural effusion?", "options": ["Yes", "No"], "answer": answer,
            "report": REPORT}


def _user(request: dict) -> str:
    return request["messages"][-1]["content"]


def fake_model(wrong_first: int = 0, always_wrong: bool = False):  # type: ignore[no-untyped-def]
    """Answers each pass like a careful model; the refine pass can be wrong on purpose."""
    seen: dict[str, int] = {}

    def answer(request: dict) -> tuple[str, str]:
        # The pass prompt is the first user turn (a repair round adds more after it).
        text = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "Plan how to answer" in text:
            return ("json", {"analysis": "One finding decides.", "findings": [
                {"finding": "pleural effusion", "why": "asked"}]})
        if "Radiology report:" in text:
            return ("json", {"evidence": [{"finding": "pleural effusion", "status": "present",
                                           "location": "left", "quote": "Moderate left "
                                           "pleural effusion."}]})
        right = re.search(r"Correct answer: (.+)", text).group(1)
        count = seen[right] = seen.get(right, 0) + 1
        given = "B) No" if always_wrong or count <= wrong_first else right
        return ("json", {"steps": [
            "To answer, evaluate for pleural effusion at the costophrenic angles.",
            "A moderate left pleural effusion blunts the costophrenic angle with a meniscus.",
            f"So the answer is {given}."]})
    return answer


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(_item(i)) + "\n" for i in range(12)))
    return path


def _settings(server: FakeChatServer, tmp_path: Path, **kw: Any) -> LLMSettings:
    kw.setdefault("cache_path", tmp_path / "cache.sqlite")
    return LLMSettings(url=server.url, model="fake", backoff_s=0.01, timeout_s=5, **kw)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_three_passes_per_item_then_cache_makes_a_rerun_free(bench: Path, tmp_path: Path
                                                             ) -> None:
    with FakeChatServer(default=fake_model()) as server:
        backend = LLMBackend(_settings(server, tmp_path))
        summary = mine_file(bench, tmp_path / "out.jsonl", backend)
        assert dict(summary.status) == {"kept": 12}
        # 3 passes x 12 items; identical prompts (the plan of a same question) hit the cache
        assert backend.usage.calls + backend.usage.cached == 36
        assert server.request_count == backend.usage.calls
        for record in _records(tmp_path / "out.jsonl"):
            assert record["reasoning"][-1] == "So the answer is A) Yes."
            assert record["key_findings"][0]["status"] == "present"
            assert record["mining"] == {"backend": "llm", "status": "kept"}
        again = LLMBackend(_settings(server, tmp_path))
        mine_file(bench, tmp_path / "again.jsonl", again)
        assert server.request_count == backend.usage.calls and again.usage.cached == 36
    assert f"{backend.usage.calls} calls" in backend.usage_summary()


def test_server_faults_are_retried(bench: Path, tmp_path: Path) -> None:
    with FakeChatServer(default=fake_model()) as server:
        server.script([("status", 500), "invalid_json", ("status", 429, {"Retry-After": "0"}),
                       "truncated", ("content", "not json at all")])
        backend = LLMBackend(_settings(server, tmp_path, concurrency=1))
        summary = mine_file(bench, tmp_path / "out.jsonl", backend)
    whys = [r["mining"].get("why") for r in _records(tmp_path / "out.jsonl")]
    assert dict(summary.status) == {"kept": 12}, whys
    assert backend.usage.retries >= 4


def test_a_wrong_conclusion_is_refined_once_then_dropped(bench: Path, tmp_path: Path) -> None:
    with FakeChatServer(default=fake_model(wrong_first=1)) as server:
        summary = mine_file(bench, tmp_path / "a.jsonl", LLMBackend(_settings(server, tmp_path)),
                            limit=1)
        assert dict(summary.status) == {"repaired": 1}
        complaint = _user(server.requests[-1].json)
        assert "previous attempt was rejected: conclusion does not match" in complaint
    with FakeChatServer(default=fake_model(always_wrong=True)) as server:
        summary = mine_file(bench, tmp_path / "b.jsonl",
                            LLMBackend(_settings(server, tmp_path, cache_path=None)), limit=2)
    assert dict(summary.status) == {"dropped": 2}
    assert _records(tmp_path / "b.jsonl")[0]["mining"]["why"] == (
        "conclusion does not match the answer")


def test_a_dead_server_drops_items_with_the_reason(bench: Path, tmp_path: Path) -> None:
    server = FakeChatServer().start()
    url = server.url
    server.stop()
    settings = LLMSettings(url=url, model="fake", backoff_s=0.01, max_retries=1, timeout_s=1)
    summary = mine_file(bench, tmp_path / "out.jsonl", LLMBackend(settings), limit=2)
    assert dict(summary.status) == {"dropped": 2}
    assert _records(tmp_path / "out.jsonl")[0]["mining"]["why"].startswith("LLM error")


def test_concurrency_requests_stay_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(_item(i)) + "\n" for i in range(16)))
    with FakeChatServer(default=fake_model(), latency_s=0.05) as server:
        mine_file(path, tmp_path / "out.jsonl",
                  LLMBackend(_settings(server, tmp_path, concurrency=4, cache_path=None)))
        assert server.max_in_flight == 4


def test_cli_mine_with_the_llm_backend(bench: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHESTX_TEST_KEY", "zq-secret-key-123")
    with FakeChatServer(default=fake_model()) as server:
        result = runner.invoke(app, [
            "mine", "--bench", str(bench), "--out", str(tmp_path / "out.jsonl"), "--backend",
            "llm", "--llm-url", server.url, "--llm-model", "fake", "--llm-key-env",
            "CHESTX_TEST_KEY", "--limit", "3", "--price-in", "1", "--price-out", "2"])
        assert server.requests[0].headers["authorization"] == "Bearer zq-secret-key-123"
    assert result.exit_code == 0, result.output
    assert "kept 3" in result.stderr and "zq-secret-key-123" not in result.output
    assert "cost $" in result.stderr and "API key read from $CHESTX_TEST_KEY" in result.stderr
    assert (tmp_path / "out.cache.sqlite").exists()
