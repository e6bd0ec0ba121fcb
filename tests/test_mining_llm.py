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
        assert dict(summary.outcomes) == {"kept": 12}
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
    assert dict(summary.outcomes) == {"kept": 12}, whys
    assert backend.usage.retries >= 4


def test_a_wrong_conclusion_is_refined_once_then_dropped(bench: Path, tmp_path: Path) -> None:
    with FakeChatServer(default=fake_model(wrong_first=1)) as server:
        summary = mine_file(bench, tmp_path / "a.jsonl", LLMBackend(_settings(server, tmp_path)),
                            limit=1)
        assert dict(summary.outcomes) == {"repaired": 1}
        complaint = _user(server.requests[-1].json)
        assert "previous attempt was rejected: conclusion does not match" in complaint
    with FakeChatServer(default=fake_model(always_wrong=True)) as server:
        summary = mine_file(bench, tmp_path / "b.jsonl",
                            LLMBackend(_settings(server, tmp_path, cache_path=None)), limit=2)
    assert dict(summary.outcomes) == {"dropped": 2}
    assert _records(tmp_path / "b.jsonl")[0]["mining"]["why"] == (
        "conclusion does not match the answer")


def test_a_dead_server_writes_nothing_and_a_rerun_mines_the_items(bench: Path,
                                                                   tmp_path: Path) -> None:
    server = FakeChatServer().start()
    url = server.url
    server.stop()
    settings = LLMSettings(url=url, model="fake", backoff_s=0.01, max_retries=1, timeout_s=1)
    out = tmp_path / "out.jsonl"
    summary = mine_file(bench, out, LLMBackend(settings), limit=2)
    assert (summary.failed, summary.done, dict(summary.outcomes)) == (2, 0, {})
    assert "failed after 2 attempts" in summary.first_failure
    assert not out.exists() or out.read_text() == ""  # nothing written: nothing to skip later
    with FakeChatServer(default=fake_model()) as live:
        rerun = mine_file(bench, out, LLMBackend(_settings(live, tmp_path)), limit=2)
    assert (rerun.failed, rerun.done, rerun.already_done) == (0, 2, 0)
    assert {r["mining"]["status"] for r in _records(out)} <= {"kept", "repaired", "dropped"}


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


MIMIC = ("As compared to the previous radiograph, there is a new right basilar opacity that may "
         "represent aspiration or early pneumonia. Small right pleural effusion. No pneumothorax. "
         "Heart size is normal.")
REAL_ITEMS = [
    {"id": "real-binary", "task": "binary", "question": "Does this chest X-ray show pneumonia? "
     "Options:\nA) Yes\nB) No", "options": ["Yes", "No"], "answer": "A", "report": MIMIC},
    {"id": "real-contradicted", "task": "binary", "question": "Does this chest X-ray show "
     "pneumothorax? Options:\nA) Yes\nB) No", "options": ["Yes", "No"], "answer": "A",
     "report": MIMIC},
    {"id": "real-temporal", "task": "temporal", "question": "You are given two images: one "
     "reference image and one new image. Please identify the progression of pleural effusion. "
     "Options:\nA) stable\nB) worsening\nC) improving", "options": ["stable", "worsening",
                                                                     "improving"],
     "answer": "B", "report": "Previous Report: Trace right pleural effusion. No pneumothorax.\n"
                              "Current Report:The right pleural effusion has increased, now "
                              "moderate, with adjacent atelectasis."},
]


def realistic_model(request: dict) -> tuple[str, object]:
    """Answers like a capable model on these reports: a plan naming the asked finding and its
    differential, evidence quoting the report, and a GPT-4o-like chain in the report's words."""
    text = next(m["content"] for m in request["messages"] if m["role"] == "user")
    if "Plan how to answer" in text:
        return ("json", {"analysis": "Decide from the lung bases and pleura.", "findings": [
            {"finding": "pneumonia", "why": "asked; an opacity may be infective"},
            {"finding": "pleural effusion", "why": "often accompanies it"}]})
    if "Radiology report:" in text:
        if "Prior report" in text:
            return ("json", {"evidence": [{"finding": "pleural effusion", "status": "present",
                                           "location": "right", "quote": "The right pleural "
                                           "effusion has increased, now moderate."}]})
        return ("json", {"evidence": [
            {"finding": "pneumonia", "status": "uncertain", "location": "right base",
             "quote": "new right basilar opacity that may represent aspiration or early "
                      "pneumonia"},
            {"finding": "pleural effusion", "status": "present", "location": "right",
             "quote": "Small right pleural effusion."}]})
    answer = re.search(r"Correct answer: (.+)", text).group(1)
    if "pleural effusion" in text and "stable" in text:
        return ("json", {"steps": [
            "To judge the effusion, compare the costophrenic angles on the two images.",
            "On the prior image there is a trace right pleural effusion.",
            "On the current image the right pleural effusion has increased and is now moderate, "
            "with adjacent atelectasis.", f"The effusion has grown, so the answer is {answer}."]})
    return ("json", {"steps": [
        "To evaluate for pneumonia, look at the lung bases for a new focal opacity.",
        "There is a new right basilar opacity that may represent aspiration or early pneumonia.",
        "A small right pleural effusion accompanies it; there is no pneumothorax.",
        f"The new opacity favours an early infection, so the answer is {answer}."]})


def test_real_reports_keep_hedges_refuse_contradicted_answers_and_split_pairs(
        tmp_path: Path) -> None:
    """On MIMIC-style flattened reports and the dumps' 'Previous Report / Current Report'
    layout: the chain keeps the report's hedge, the item whose report denies its answer is
    refused before any call (as the rules miner would), the two reports reach the model apart."""
    path = tmp_path / "real.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in REAL_ITEMS))
    with FakeChatServer(default=realistic_model) as server:
        backend = LLMBackend(_settings(server, tmp_path, cache_path=None))
        summary = mine_file(path, tmp_path / "out.jsonl", backend)
        prompts = [_user(r.json) for r in server.requests]
    records = {r["id"]: r for r in _records(tmp_path / "out.jsonl")}
    assert dict(summary.outcomes) == {"kept": 2, "dropped": 1}, {
        k: r["mining"] for k, r in records.items()}
    assert "may represent aspiration or early pneumonia" in " ".join(
        records["real-binary"]["reasoning"])
    assert records["real-contradicted"]["mining"]["why"] == (
        "the answer says pneumothorax present, the report absent")
    assert not any("show pneumothorax" in p for p in prompts)  # refused before any call
    evidence = next(p for p in prompts if "Prior report" in p)
    assert "Prior report (the earlier study):\nTrace right pleural effusion." in evidence
    assert "Current report (the later study):\nThe right pleural effusion has increased" in \
        evidence
    assert records["real-temporal"]["reasoning"][-1].endswith("B) worsening.")
