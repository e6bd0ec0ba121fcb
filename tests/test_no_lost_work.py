"""No lost work, no silent mix: what a rerun does after a failure, and what `--overwrite` does.

The bad inputs themselves are one table in `test_bad_inputs.py`; these tests follow a case
further: the rerun after a dead LLM server comes back, the rerun after a full disk, the rerun
of a finished training run, a rebuild into an earlier benchmark's folder, and starting over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.logging_setup import redact
from chestx_reasoner.train.configs import ChestXGRPOConfig, ChestXSFTConfig
from chestx_reasoner.train.guard import checkpoint_note
from chestx_reasoner.train.sft import run_sft
from llm_server import FakeChatServer
from test_mining_llm import fake_model
from test_train_sft import config, make_training_data

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_training_data(tmp_path_factory.mktemp("lost-work"))


def run(*args: object) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def dead_url() -> str:
    server = FakeChatServer().start()
    url = server.url
    server.stop()
    return url


def judge_model(request: dict) -> tuple[str, object]:
    text = request["messages"][-1]["content"]
    if "Model steps:" in text:
        return ("json", {"verdicts": [{"step": 0, "verdict": "supported", "evidence": None}]})
    return ("json", {"reference_findings": [
        {"finding": "effusion", "status": "present", "recalled": True}],
        "prediction_findings": [
            {"finding": "effusion", "status": "present", "supported_by_report": True}]})


def predictions(data: tuple[Path, Path], path: Path, answer: str | None = None) -> Path:
    rows = [{**item, "model": "m",
             "prediction": f"<think>Look.</think><answer>{answer or item['answer']}</answer>"}
            for item in lines(data[0])[:3]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_mine_llm_items_that_failed_are_mined_by_the_rerun(data: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    bench, out = data[0], tmp_path / "m.jsonl"
    common = ["mine", "--bench", bench, "--out", out, "--limit", 2, "--backend", "llm",
              "--llm-model", "fake", "--llm-retries", 0]
    failed = run(*common, "--llm-url", dead_url())
    assert failed.exit_code == 1 and "2 items failed" in failed.output
    assert lines(out) == [] if out.exists() else True
    with FakeChatServer(default=fake_model()) as server:
        again = run(*common, "--llm-url", server.url)
    assert again.exit_code == 0, again.output
    assert len(lines(out)) == 2
    assert {r["mining"]["status"] for r in lines(out)} <= {"kept", "repaired", "dropped"}


def test_score_llm_items_the_judge_missed_are_scored_by_the_rerun(data: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    preds, out = predictions(data, tmp_path / "p.jsonl"), tmp_path / "s"
    common = ["score", "--predictions", preds, "--out", out, "--judge", "llm",
              "--llm-model", "fake", "--llm-retries", 0, "--no-html"]
    failed = run(*common, "--llm-url", dead_url())
    assert failed.exit_code == 1 and "3 items not scored" in failed.output
    assert not (out / "items.jsonl").exists() or lines(out / "items.jsonl") == []
    with FakeChatServer(default=judge_model) as server:
        again = run(*common, "--llm-url", server.url)
    assert again.exit_code == 0, again.output
    items = lines(out / "items.jsonl")
    assert len(items) == 3 and all(i["factuality"] == 1.0 for i in items)


def test_score_refuses_other_predictions_then_overwrite_scores_them(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "s"
    wrong = predictions(data, tmp_path / "wrong.jsonl", answer="Z")
    right = predictions(data, tmp_path / "right.jsonl")
    assert run("score", "--predictions", wrong, "--out", out, "--no-html").exit_code == 0
    refused = run("score", "--predictions", right, "--out", out, "--no-html")
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    again = run("score", "--predictions", right, "--out", out, "--no-html", "--overwrite")
    assert again.exit_code == 0, again.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["m"]["overall"]["accuracy"] == 1.0  # not the first file's 0.000


def test_label_overwrite_starts_over_with_the_new_scope(tmp_path: Path) -> None:
    reports = tmp_path / "r.jsonl"
    reports.write_text(json.dumps({"id": "a", "report": "FINDINGS: Right pneumothorax. "
                                   "IMPRESSION: No acute process."}) + "\n")
    out = tmp_path / "l.jsonl"
    assert run("label", "--reports", reports, "--out", out).exit_code == 0
    impression = lines(out)[0]["labels"]["Pneumothorax"]
    assert run("label", "--reports", reports, "--out", out, "--scope", "report").exit_code == 2
    redo = run("label", "--reports", reports, "--out", out, "--scope", "report", "--overwrite")
    assert redo.exit_code == 0, redo.output
    assert len(lines(out)) == 1
    assert (impression, lines(out)[0]["labels"]["Pneumothorax"]) == (None, 1)


def test_rebuild_clears_the_earlier_parquet_and_overwrite_clears_derived_files(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    cohort, out = data[0].parent.parent / "cohort", tmp_path / "bench"
    build = ["build", "--source", "synthetic", "--root", cohort, "--out", out, "--tasks",
             "binary", "--per-finding", 2]
    assert run(*build, "--format", "parquet").exit_code == 0
    assert (out / "train.parquet").is_file()
    assert run(*build).exit_code == 0, "a rebuild of its own folder needs no --overwrite"
    assert not (out / "train.parquet").exists() and (out / "train.jsonl").is_file()
    (out / "train.mined.jsonl").write_text("{}\n")
    assert run(*build).exit_code == 2
    assert run(*build, "--overwrite").exit_code == 0
    assert not (out / "train.mined.jsonl").exists()


def test_resume_of_a_finished_run_trains_no_more(data: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    mined, model_dir = data
    out = tmp_path / "run"
    first = run_sft(mined, f"hf:{model_dir}", config(out, max_steps=2))
    again = run_sft(mined, f"hf:{model_dir}", config(out, max_steps=2), resume=True)
    assert (first.global_step, again.global_step, again.finished_before) == (2, 2, True)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    longer = run_sft(mined, f"hf:{model_dir}", config(out, max_steps=3), resume=True)
    assert longer.global_step == 3 and not longer.finished_before  # more steps asked: goes on


def test_a_final_save_lost_to_a_full_disk_is_redone_without_training(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    mined, model_dir = data
    out = tmp_path / "run"
    out.mkdir()
    (out / "log_history.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    args = ["train", "sft", "--data", mined, "--model", f"hf:{model_dir}", "--out", out,
            "--max-steps", 2, "--batch-size", 2]
    full = run(*args)
    assert full.exit_code == 2 and "rerun with --resume" in full.output
    (out / "log_history.jsonl").unlink()  # space again
    resumed = run(*args, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "chestx_train.json").read_text())["global_step"] == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert (out / "model.safetensors").is_file()


def test_checkpoints_come_every_save_steps_and_the_message_tells_the_truth(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    assert ChestXSFTConfig(output_dir=str(tmp_path)).save_steps == 50  # TRL's 500 kept nothing
    assert ChestXGRPOConfig(output_dir=str(tmp_path)).save_steps == 50
    assert checkpoint_note(tmp_path / "none") == ("no checkpoint was saved yet, so a rerun "
                                                  "starts over")
    mined, model_dir = data
    out = tmp_path / "run"
    result = run("train", "sft", "--data", mined, "--model", f"hf:{model_dir}", "--out", out,
                 "--max-steps", 3, "--batch-size", 2, "--save-steps", 1)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [
        "checkpoint-1", "checkpoint-2", "checkpoint-3"]
    assert checkpoint_note(out).startswith("the last complete checkpoint is checkpoint-3")


def test_redaction_masks_url_credentials_and_leaves_paths_alone() -> None:
    assert redact("POST http://alice:s3cr3t@10.0.0.1:8000/v1/chat failed") == (
        "POST http://***@10.0.0.1:8000/v1/chat failed")
    assert redact("open /etc/passwd: No such file") == "open /etc/passwd: No such file"
    assert redact("wrote runs/token: done.json") == "wrote runs/token: done.json"
    assert redact("token: abc123 password=hunter2") == "token: *** password=***"
    assert redact("max_tokens=512 https://example.org/v1") == (
        "max_tokens=512 https://example.org/v1")
