"""The offline miner on a synthetic benchmark: chains of >= 3 steps that end at the answer,
no step against the report, varied wording, resume after kill -9, and the verifier itself."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chestx_reasoner
from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
from chestx_reasoner.cli import app
from chestx_reasoner.data.synth import SynthConfig, synthesize
from chestx_reasoner.mining.knowledge import LOOK_FOR
from chestx_reasoner.mining.run import RulesBackend, mine_file
from chestx_reasoner.mining.verify import ChainVerifier, answer_matches, chain_answer
from chestx_reasoner.mining.wording import look_sentence
from chestx_reasoner.scoring.parse import parse_findings

runner = CliRunner()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mine")
    synthesize(root / "cohort", SynthConfig(n=300, seed=4, size=64))
    build_benchmark([SourceSpec("synthetic", root / "cohort")], root / "bench",
                    BuildConfig(per_finding=30))
    return root / "bench" / "train.jsonl"


@pytest.fixture(scope="module")
def mined(bench: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("mined") / "mined.jsonl"
    mine_file(bench, out, RulesBackend(seed=0))
    return [json.loads(line) for line in out.read_text().splitlines()]


def _items(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_item_gets_a_verified_chain_ending_at_its_answer(bench: Path, mined: list) -> None:
    assert [r["id"] for r in mined] == [r["id"] for r in _items(bench)]
    statuses = Counter(r["mining"]["status"] for r in mined)
    assert statuses["dropped"] <= len(mined) * 0.01, statuses
    assert {r["task"] for r in mined} == {"binary", "single", "multi", "multi_open",
                                          "anomaly", "temporal"}
    for record in mined:
        if record["mining"]["status"] == "dropped":
            assert record["reasoning"] == [] and record["mining"]["why"]
            continue
        steps = record["reasoning"]
        assert len(steps) >= 3
        given = chain_answer(record, steps)
        if record["options"]:
            assert given == record["answer"], steps[-1]
        else:  # the same findings, both read onto the vocabulary (as `chestx score` reads them)
            assert answer_matches(record, given), (given, record["answer"])
            assert set(given.split(", ")) == set(parse_findings(record["answer"]))


def test_no_step_names_the_report_or_the_plan(mined: list) -> None:
    for record in mined:
        for step in record["reasoning"]:
            assert not re.search(r"\b(report|plan)\b", step, re.IGNORECASE), step


def test_key_findings_follow_the_contract(mined: list) -> None:
    for record in mined:
        for finding in record["key_findings"]:
            assert set(finding) == {"finding", "status", "location"}
            assert finding["status"] in ("present", "absent", "uncertain")


def test_wording_varies_across_items_and_seeds(bench: Path, mined: list, tmp_path: Path
                                               ) -> None:
    plans = Counter(r["reasoning"][0] for r in mined if r["reasoning"])
    assert len(plans) >= 8 and plans.most_common(1)[0][1] < len(mined) * 0.3
    mine_file(bench, tmp_path / "seed1.jsonl", RulesBackend(seed=1), limit=50)
    other = _items(tmp_path / "seed1.jsonl")
    assert sum(a["reasoning"] != b["reasoning"] for a, b in zip(mined, other, strict=False)) > 25


def test_items_without_a_report_pass_through(tmp_path: Path) -> None:
    item = {"id": "siim-1", "task": "binary", "question": "Does this chest X-ray show "
            "pneumothorax?", "options": ["Yes", "No"], "answer": "A", "report": ""}
    (tmp_path / "in.jsonl").write_text(json.dumps(item) + "\n")
    mine_file(tmp_path / "in.jsonl", tmp_path / "out.jsonl", RulesBackend())
    (record,) = _items(tmp_path / "out.jsonl")
    assert record["mining"]["status"] == "no report" and record["reasoning"] == []


@pytest.mark.parametrize("column", sorted(LOOK_FOR))
def test_look_for_sentences_assert_nothing(column: str) -> None:
    """Where to look and for which sign is a plan: read by the labeler, no look-for sentence
    (alone or naming several findings) asserts a finding present or absent, else a chain
    would state signs the report never mentions, or be dropped for them."""
    verifier = ChainVerifier()
    others = [c for c in LOOK_FOR if c != column]
    groups = [[column]] + [[column, o] for o in others] + [[o, column, others[0]]
                                                           for o in others[1:]]
    groups += [[column, *others[i:i + 3]] for i in range(0, len(others), 3)]
    for seed in range(6):
        for group in groups:
            text = look_sentence(random.Random(seed), group)
            assert verifier.assertions([text]) == [[]], text


def test_verifier_catches_a_wrong_answer_and_a_contradicting_step() -> None:
    item = {"id": "x", "task": "binary", "question": "Does this chest X-ray show pleural "
            "effusion?", "options": ["Yes", "No"], "answer": "B",
            "report": "FINDINGS: Clear lungs. IMPRESSION: No pleural effusion. Mild edema."}
    verifier = ChainVerifier()
    good = ["To answer, evaluate for pleural effusion.",
            "Both costophrenic angles are sharp and no pleural effusion is seen.",
            "This settles the question: the answer is B) No."]
    assert verifier.verify(item, good).ok
    wrong = [*good[:2], "So the answer is A) Yes."]
    assert not verifier.verify(item, wrong).answer_ok
    lying = [good[0], "A large left pleural effusion is seen.", good[2]]
    verdict = verifier.verify(item, lying)
    assert verdict.contradictions == [{"step": 1, "finding": "Pleural Effusion",
                                       "said": "present", "report": "absent"}]
    edema = [good[0], "There is no pulmonary edema.", good[2]]
    assert verifier.verify(item, edema).contradictions[0]["report"] == "present"


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_kill_9_then_rerun_gives_one_record_per_item(bench: Path, mined: list,
                                                     tmp_path: Path) -> None:
    items = [dict(item) for _ in range(2) for item in _items(bench)]  # long enough to kill
    for i, item in enumerate(items):
        item["id"] = f"{item['id']}-{i}"
    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(chestx_reasoner.__file__).parents[1])}
    command = [sys.executable, "-m", "chestx_reasoner", "mine", "--bench", str(big),
               "--out", str(out)]
    log = open(tmp_path / "stderr.txt", "w")  # noqa: SIM115
    proc = subprocess.Popen(command, env=env, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not out.exists() or
                                               out.read_text().count("\n") < 200):
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log.close()
    assert out.exists(), (tmp_path / "stderr.txt").read_text()[-2000:]
    partial = out.read_text().count("\n")
    assert 200 <= partial < len(items)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    records = _items(out)
    assert [r["id"] for r in records] == [i["id"] for i in items]
    status = {r["id"]: r["mining"]["status"] for r in mined}  # of a run never interrupted
    assert [r["mining"]["status"] for r in records] == [
        status[r["id"].rsplit("-", 1)[0]] for r in records]
    assert Counter(r["mining"]["status"] for r in records)["kept"] > len(records) * 0.9
    mine_file(big, tmp_path / "straight.jsonl", RulesBackend(), limit=300)
    assert _items(tmp_path / "straight.jsonl") == records[:300]  # as if never interrupted


def test_cli_mine_bad_input_and_missing_llm_options(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": "a", "task": "binary"}\n')
    result = runner.invoke(app, ["mine", "--bench", str(tmp_path / "in.jsonl"),
                                 "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "in.jsonl:1: missing field 'question'" in result.stderr
    good = {"id": "a", "task": "binary", "question": "q", "options": ["Yes", "No"],
            "answer": "A", "report": "IMPRESSION: Small left pleural effusion."}
    (tmp_path / "in.jsonl").write_text(json.dumps(good) + "\n")
    result = runner.invoke(app, ["mine", "--bench", str(tmp_path / "in.jsonl"), "--out",
                                 str(tmp_path / "o.jsonl"), "--backend", "llm"])
    assert result.exit_code == 2 and "--llm-url and --llm-model" in result.stderr


def test_brief_chains_keep_the_observations_and_answer_and_drop_the_rest(
        bench: Path, mined: list, tmp_path: Path) -> None:
    """A brief chain is its full chain without the plan and the where-to-look sentences: the
    same report quotes, key findings and conclusion, in far fewer words."""
    mine_file(bench, tmp_path / "brief.jsonl", RulesBackend(seed=0, style="brief"))
    brief = _items(tmp_path / "brief.jsonl")
    assert [r["id"] for r in brief] == [r["id"] for r in mined]
    words = {"full": 0, "brief": 0}
    for full, short in zip(mined, brief, strict=True):
        assert short["mining"]["status"] == full["mining"]["status"], short["id"]
        if not full["reasoning"]:
            continue
        assert short["key_findings"] == full["key_findings"]
        assert chain_answer(short, short["reasoning"]) == chain_answer(full, full["reasoning"])
        for step in short["reasoning"][:-1]:
            assert not re.search(r"\b(look(ing)? for|evaluate for|assess for|examin)", step,
                                 re.IGNORECASE), step
        # the same words, less the plan (step 1) and each step's where-to-look sentence
        assert len(short["reasoning"]) == len(full["reasoning"]) - 1
        for step, full_step in zip(short["reasoning"], full["reasoning"][1:], strict=True):
            assert full_step.endswith(step), (step, full_step)
        words["full"] += sum(len(s.split()) for s in full["reasoning"])
        words["brief"] += sum(len(s.split()) for s in short["reasoning"])
    assert words["brief"] < 0.5 * words["full"], words


def test_cli_mine_style_is_recorded_and_refused_for_the_llm_backend(tmp_path: Path) -> None:
    good = {"id": "a", "task": "binary", "question": "Does this chest X-ray show pleural "
            "effusion?", "options": ["Yes", "No"], "answer": "A",
            "report": "IMPRESSION: Small left pleural effusion."}
    bench, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    bench.write_text(json.dumps(good) + "\n")
    result = runner.invoke(app, ["mine", "--bench", str(bench), "--out", str(out),
                                 "--style", "brief", "--backend", "llm", "--llm-url",
                                 "http://127.0.0.1:9/v1", "--llm-model", "m"])
    assert result.exit_code == 2 and "--style is for the rules backend" in result.stderr
    result = runner.invoke(app, ["mine", "--bench", str(bench), "--out", str(out),
                                 "--style", "brief"])
    assert result.exit_code == 0, result.output
    (record,) = _items(out)
    assert record["reasoning"] == ["Small left pleural effusion.",
                                   record["reasoning"][-1]]
    assert record["reasoning"][-1].endswith("the answer is A) Yes.")
    result = runner.invoke(app, ["mine", "--bench", str(bench), "--out", str(out)])
    assert result.exit_code == 2 and "style" in result.stderr  # another style: not resumed
