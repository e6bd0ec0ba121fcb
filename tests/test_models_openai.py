"""The `openai:MODEL@URL` adapter through `predict_file` and `chestx predict`, against a real
local chat-completions server with scripted faults."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.llm.client import LLMSettings
from chestx_reasoner.models import LoadOptions, ModelLoadError, load_model, openai_model
from chestx_reasoner.models.base import GenerationSettings
from chestx_reasoner.models.images import ImageReadError
from chestx_reasoner.models.openai_model import OpenAIModel
from chestx_reasoner.models.predict import predict_file
from chestx_reasoner.progress import JobSummary
from llm_server import FakeChatServer

KEY_ENV = "CHESTX_TEST_MODEL_KEY"
SECRET = "zq-Model-Adapter-Secret-7731"  # unlike sk-/hf_ keys: generic redaction cannot hide it
JPEG_PREFIX = "data:image/jpeg;base64,"


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def write_jpeg(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 16), colour).save(path, format="JPEG", quality=90)
    return path


def item(item_id: str, task: str = "single", images: list[str] | None = None,
         question: str | None = None, **extra: Any) -> dict[str, Any]:
    options = [] if task == "multi_open" else ["edema", "pneumothorax", "cardiomegaly"]
    return {"id": item_id, "source": "synthetic", "task": task, "split": "test",
            "images": images if images is not None else [f"img/{item_id}.jpg"],
            "question": question or f"Which finding is present in study {item_id}?",
            "options": options, "answer": "B", "report": "", "reasoning": [], **extra}


def write_bench(folder: Path, items: list[dict[str, Any]], with_images: bool = True) -> Path:
    """bench.jsonl in `folder`, with a distinct real JPEG for every image path it names."""
    folder.mkdir(parents=True, exist_ok=True)
    if with_images:
        for index, record in enumerate(items):
            for offset, name in enumerate(record["images"]):
                write_jpeg(folder / name, ((40 * index) % 256, 100 + 50 * offset, 30))
    bench = folder / "bench.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in items))
    return bench


def fast_model(server: FakeChatServer, **overrides: Any) -> OpenAIModel:
    """The adapter with quick retries (load_model's defaults back off for seconds)."""
    values: dict[str, Any] = {"url": server.url, "model": "m", "api_key_env": KEY_ENV,
                              "backoff_s": 0.01, "timeout_s": 5.0, "max_retries": 2}
    values.update(overrides)
    return OpenAIModel(LLMSettings(**values))


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def predict(bench: Path, out: Path, model: OpenAIModel, **settings: Any) -> JobSummary:
    return predict_file(bench, out, model, GenerationSettings(**settings))


def user_content(request_json: dict[str, Any]) -> list[dict[str, Any]]:
    messages = request_json["messages"]
    assert messages[-1]["role"] == "user"
    return messages[-1]["content"]


def jpeg_bytes(part: dict[str, Any]) -> bytes:
    assert part["type"] == "image_url"
    url = part["image_url"]["url"]
    assert url.startswith(JPEG_PREFIX)
    return base64.b64decode(url[len(JPEG_PREFIX):], validate=True)


# --- spec parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["openai:noatsign", "openai:", "openai:m@", "openai:@http://h/v1",
                                  "openai:m@ftp://host/v1", "openai:m@127.0.0.1:8000"])
def test_bad_openai_specs_are_load_errors(spec: str) -> None:
    with pytest.raises(ModelLoadError) as error:
        load_model(spec)
    assert "MODEL@URL" in str(error.value) and "\n" not in str(error.value)


def test_spec_splits_at_the_last_at_sign(tmp_path: Path) -> None:
    options = LoadOptions(api_key_env=KEY_ENV, concurrency=3, cache_path=tmp_path / "c.sqlite")
    model = load_model("openai:team@org/vl-7b@http://127.0.0.1:9/v1", options)
    assert isinstance(model, OpenAIModel) and model.image_input == "files"
    assert model.name == "team@org/vl-7b"
    assert model.settings.url == "http://127.0.0.1:9/v1"
    assert model.settings.concurrency == 3 and model.settings.api_key_env == KEY_ENV
    assert model.settings.cache_path == tmp_path / "c.sqlite"


# --- what each request carries ----------------------------------------------------------------

def test_request_carries_the_shared_prompt_and_the_image(server: FakeChatServer,
                                                         tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a", question="Which finding is in this X-ray?")])
    summary = predict(bench, tmp_path / "out.jsonl", fast_model(server))
    assert summary.done == 1 and server.request_count == 1
    body = server.requests[0].json
    assert body["model"] == "m"
    content = user_content(body)
    assert [part["type"] for part in content] == ["image_url", "text"]
    assert jpeg_bytes(content[0]) == (tmp_path / "img/a.jpg").read_bytes()
    text = content[1]["text"]
    assert text.startswith("Which finding is in this X-ray?\n")
    assert "A) edema\nB) pneumothorax\nC) cardiomegaly" in text
    assert "<think></think>" in text and "<answer></answer>" in text
    assert "letter of the correct option" in text


def test_answer_only_asks_for_the_letter_without_reasoning(server: FakeChatServer,
                                                          tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a")])
    predict(bench, tmp_path / "out.jsonl", fast_model(server), reasoning=False)
    text = user_content(server.requests[0].json)[-1]["text"]
    assert "A) edema" in text and "Give only the letter of the correct option" in text
    assert "<think>" not in text
    # an answer-only file is another run than a reasoning one: a resume must not mix them
    from chestx_reasoner.models.predict import predict_settings

    model = fast_model(server)
    assert predict_settings(model, "openai:m@x", GenerationSettings(reasoning=False)) != \
        predict_settings(model, "openai:m@x", GenerationSettings())


def test_multi_open_request_has_no_options(server: FakeChatServer, tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a", task="multi_open")])
    predict(bench, tmp_path / "out.jsonl", fast_model(server))
    text = user_content(server.requests[0].json)[-1]["text"]
    assert "A)" not in text and "separated by commas" in text


def test_temporal_images_are_labelled_prior_then_current(server: FakeChatServer,
                                                         tmp_path: Path) -> None:
    record = item("t", task="temporal", images=["img/prior.jpg", "img/current.jpg"])
    bench = write_bench(tmp_path, [record])
    predict(bench, tmp_path / "out.jsonl", fast_model(server))
    content = user_content(server.requests[0].json)
    assert [part["type"] for part in content] == ["text", "image_url", "text", "image_url",
                                                  "text"]
    assert content[0]["text"] == "Prior study:" and content[2]["text"] == "Current study:"
    prior, current = (tmp_path / "img/prior.jpg").read_bytes(), \
        (tmp_path / "img/current.jpg").read_bytes()
    assert prior != current
    assert jpeg_bytes(content[1]) == prior and jpeg_bytes(content[3]) == current


def test_generation_settings_reach_the_body(server: FakeChatServer, tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a")])
    predict(bench, tmp_path / "out.jsonl", fast_model(server), max_new_tokens=77,
            temperature=0.3, seed=5)
    body = server.requests[0].json
    assert body["max_tokens"] == 77 and body["temperature"] == 0.3 and body["seed"] == 5


def test_api_key_is_sent_but_never_written_or_logged(
    server: FakeChatServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    bench = write_bench(tmp_path, [item("plain"), item("echo", question="Echo the header?")])
    out = tmp_path / "out.jsonl"

    def answer(request: dict[str, Any]) -> Any:  # a hostile server that echoes the key back
        if "Echo the header" in json.dumps(request):
            return ("status", 401, {}, f"bad key: Bearer {SECRET}")
        return f"<answer>B</answer> (not {SECRET[:4]})"

    server.default = answer
    server.script([("status", 500, {}, f"upstream said Bearer {SECRET}")])  # a retry log line
    monkeypatch.setenv(KEY_ENV, SECRET)
    summary = predict(bench, out, fast_model(server, concurrency=1))
    assert summary.done == 1 and summary.failed == 1
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {SECRET}"}
    assert "echo: no prediction" in caplog.text and "retry 1/2" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in out.read_text()
    assert [r["id"] for r in read_out(out)] == ["plain"]


def test_no_authorization_header_without_a_key(server: FakeChatServer, tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a")])
    predict(bench, tmp_path / "out.jsonl", fast_model(server))
    assert "authorization" not in server.requests[0].headers


# --- faults ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [("status", 500), ("status", 429, {"Retry-After": "0"}),
                                   ("status", 429), "invalid_json", "truncated"])
def test_a_transient_fault_is_retried(server: FakeChatServer, tmp_path: Path, fault: Any) -> None:
    bench = write_bench(tmp_path, [item("a")])
    out = tmp_path / "out.jsonl"
    server.script([fault, "<answer>C</answer>"])
    model = fast_model(server)
    summary = predict(bench, out, model)
    assert summary.done == 1 and summary.failed == 0
    assert server.request_count == 2 and server.pending == 0
    assert [r["prediction"] for r in read_out(out)] == ["<answer>C</answer>"]
    assert model.usage.retries == 1 and model.failures == 0


def test_malformed_json_forever_is_no_output_not_a_crash(server: FakeChatServer,
                                                        tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a"), item("b")])
    out = tmp_path / "out.jsonl"

    def answer(request: dict[str, Any]) -> Any:
        return "invalid_json" if "study a?" in json.dumps(request) else "fine"

    server.default = answer
    summary = predict(bench, out, fast_model(server))
    assert summary.failed == 1 and summary.done == 1
    assert [(r["id"], r["prediction"]) for r in read_out(out)] == [("b", "fine")]


def test_an_item_that_keeps_failing_is_left_for_a_rerun(server: FakeChatServer,
                                                        tmp_path: Path) -> None:
    items = [item(f"i{n}") for n in range(4)]
    items[2]["question"] = "Doomed question?"
    bench = write_bench(tmp_path, items)
    out = tmp_path / "out.jsonl"

    def flaky(request: dict[str, Any]) -> Any:
        return ("status", 500) if "Doomed" in json.dumps(request) else "<answer>A</answer>"

    server.default = flaky
    model = fast_model(server, max_retries=2)
    summary = predict(bench, out, model, batch_size=2)
    assert summary.failed == 1 and summary.done == 3
    assert sorted(r["id"] for r in read_out(out)) == ["i0", "i1", "i3"]
    doomed = [r for r in server.requests if "Doomed" in json.dumps(r.json)]
    assert len(doomed) == 3  # first try + max_retries
    assert model.failures == 1

    server.default = "<answer>B</answer>"  # the server recovered
    server.reset()
    summary = predict(bench, out, fast_model(server))
    assert summary.done == 1 and summary.already_done == 3 and summary.failed == 0
    assert server.request_count == 1
    records = read_out(out)
    assert sorted(r["id"] for r in records) == ["i0", "i1", "i2", "i3"]  # one record per item
    assert next(r for r in records if r["id"] == "i2")["prediction"] == "<answer>B</answer>"
    assert all(r["model"] == "m" for r in records)


def test_unreachable_server_leaves_everything_for_a_rerun(tmp_path: Path) -> None:
    with FakeChatServer() as gone:
        pass  # stopped: its port now refuses connections
    bench = write_bench(tmp_path, [item("a"), item("b")])
    out = tmp_path / "out.jsonl"
    summary = predict(bench, out, fast_model(gone, max_retries=1))
    assert summary.failed == 2 and summary.done == 0
    assert read_out(out) == []


def test_unreadable_image_loses_the_item_not_the_run(server: FakeChatServer,
                                                      tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("bad", images=["img/bad.png"]), item("good")],
                        with_images=False)
    (tmp_path / "img").mkdir()
    (tmp_path / "img/bad.png").write_bytes(b"not a png at all")
    write_jpeg(tmp_path / "img/good.jpg", (1, 2, 3))
    out = tmp_path / "out.jsonl"
    summary = predict(bench, out, fast_model(server))
    # Caught before any request by the loop's cheap header check: skipped and counted.
    assert summary.done == 1 and summary.skipped["unreadable image"] == 1
    assert [r["id"] for r in read_out(out)] == ["good"]
    assert server.request_count == 1


def test_image_that_fails_only_when_encoded_leaves_its_item_for_a_rerun(
        server: FakeChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = write_bench(tmp_path, [item("bad"), item("good")])
    model = fast_model(server)
    real = openai_model.data_url

    def broken(path: Path) -> str:  # a file that passes the header check, then fails to read
        if path.name == "bad.jpg":
            raise ImageReadError(f"{path}: unreadable image (truncated)")
        return real(path)

    monkeypatch.setattr(openai_model, "data_url", broken)
    summary = predict(bench, tmp_path / "out.jsonl", model)
    assert summary.done == 1 and summary.failed == 1
    assert [r["id"] for r in read_out(tmp_path / "out.jsonl")] == ["good"]


def test_missing_image_is_skipped_before_any_request(server: FakeChatServer,
                                                     tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a"), item("b")])
    (tmp_path / "img/a.jpg").unlink()
    summary = predict(bench, tmp_path / "out.jsonl", fast_model(server))
    assert summary.skipped["missing image"] == 1 and summary.done == 1
    assert server.request_count == 1


# --- concurrency ----------------------------------------------------------------------------

def test_requests_run_concurrently_within_the_bound(server: FakeChatServer,
                                                    tmp_path: Path) -> None:
    server.latency_s = 0.1
    bench = write_bench(tmp_path, [item(f"c{n}") for n in range(10)])
    out = tmp_path / "out.jsonl"
    summary = predict(bench, out, fast_model(server, concurrency=4), batch_size=10)
    assert summary.done == 10
    assert 1 < server.max_in_flight <= 4
    assert len(read_out(out)) == 10


# --- the CLI --------------------------------------------------------------------------------

def test_cli_predict_with_an_openai_model(server: FakeChatServer, tmp_path: Path) -> None:
    content = "<think>\nThe pleura is fine.\n</think>\n<answer>B</answer>"
    server.default = content
    bench = write_bench(tmp_path / "bench", [item("x1"), item("x2"), item("x3")])
    out = tmp_path / "preds.jsonl"
    result = CliRunner().invoke(app, ["predict", "--bench", str(bench), "--model",
                                      f"openai:m@{server.url}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = read_out(out)
    assert [r["id"] for r in records] == ["x1", "x2", "x3"]
    assert all(r["model"] == "m" and r["prediction"] == content for r in records)
    assert all(r["question"] and r["answer"] == "B" for r in records)  # the Sample is kept
    assert server.request_count == 3

    again = CliRunner().invoke(app, ["predict", "--bench", str(bench), "--model",
                                     f"openai:m@{server.url}", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert len(read_out(out)) == 3 and server.request_count == 3  # resumed: nothing to do


def test_cli_image_root_is_honoured(server: FakeChatServer, tmp_path: Path) -> None:
    images = tmp_path / "images"
    write_jpeg(images / "img/r1.jpg", (9, 9, 9))
    bench = write_bench(tmp_path / "bench", [item("r1")], with_images=False)
    skipped_out, out = tmp_path / "skipped.jsonl", tmp_path / "preds.jsonl"
    args = ["predict", "--bench", str(bench), "--model", f"openai:m@{server.url}"]
    result = CliRunner().invoke(app, [*args, "--out", str(skipped_out)])
    assert result.exit_code == 2 and "--image-root" in result.stderr, result.output
    assert read_out(skipped_out) == [] and server.request_count == 0  # not beside the bench
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--image-root", str(images)])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_out(out)] == ["r1"]
    assert jpeg_bytes(user_content(server.requests[0].json)[0]) == \
        (images / "img/r1.jpg").read_bytes()


def test_cli_bad_spec_is_a_clean_error(tmp_path: Path) -> None:
    bench = write_bench(tmp_path, [item("a")])
    result = CliRunner().invoke(app, ["predict", "--bench", str(bench), "--model",
                                      "openai:noatsign", "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code != 0
    assert "MODEL@URL" in result.output
    assert not (tmp_path / "o.jsonl").exists()
