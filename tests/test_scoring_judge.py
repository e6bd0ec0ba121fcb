"""The offline judge, the LLM judge (against the local server), and `chestx score`/`compare`
end to end: contract files, resume, malformed lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chestx_reasoner.cli import app
from chestx_reasoner.llm.client import LLMSettings
from chestx_reasoner.scoring.judge_llm import LLMJudge
from chestx_reasoner.scoring.judge_rules import KeyFinding, RulesJudge, related
from llm_server import FakeChatServer

runner = CliRunner()
REPORT = ("FINDINGS: Left lower lobe consolidation. No pleural effusion. Heart size is normal.\n"
          "IMPRESSION: Left lower lobe consolidation.")
REFERENCE = ["Evaluate for consolidation: a dense left lower lobe consolidation is seen.",
             "The costophrenic angles are sharp, so there is no pleural effusion.",
             "So the answer is A) consolidation."]
ITEM = {"id": "i1", "task": "single", "question": "Which finding is in this chest X-ray?",
        "options": ["consolidation", "pleural effusion", "pneumothorax", "cardiomegaly"],
        "answer": "A", "report": REPORT, "reasoning": REFERENCE}
GOOD = ("<think>1. There is a left basilar opacity.\n2. No pleural effusion is seen.\n"
        "3. The heart size is normal.</think><answer>A</answer>")
BAD = ("<think>1. A large left pleural effusion is present.\n2. There is no consolidation.\n"
       "3. The heart is enlarged.</think><answer>B</answer>")


def test_synonyms_and_granularity_match_on_the_same_side() -> None:
    opacity = KeyFinding("opacity", "Lung Opacity", "present", "left", "")
    consolidation = KeyFinding("consolidation", "Consolidation", "present", "left", "")
    right = KeyFinding("consolidation", "Consolidation", "present", "right", "")
    assert related(opacity, consolidation) and not related(opacity, right)


def test_good_reasoning_scores_above_bad_reasoning_with_step_verdicts() -> None:
    from chestx_reasoner.scoring.score import score_items

    judge = RulesJudge()
    good, bad = score_items([{**ITEM, "prediction": GOOD, "model": "m"},
                             {**ITEM, "prediction": BAD, "model": "m"}], judge)
    assert good["correct"] and not bad["correct"]
    for metric in ("completeness", "factuality", "effectiveness", "radrscore"):
        assert good[metric] > bad[metric], metric
    assert [s["verdict"] for s in good["steps"]][:2] == ["supported", "supported"]
    assert bad["steps"][0]["verdict"] == "contradicted"
    assert bad["steps"][0]["evidence"]
    again = score_items([{**ITEM, "prediction": GOOD, "model": "m"}], RulesJudge())
    assert again[0]["radrscore"] == good["radrscore"]  # deterministic


def test_no_reference_chain_means_no_radrscore() -> None:
    from chestx_reasoner.scoring.score import score_items

    (item,) = score_items([{**ITEM, "reasoning": [], "prediction": GOOD, "model": "m"}],
                          RulesJudge())
    assert item["radrscore"] is None and item["completeness"] is None
    assert item["answer_score"] == 1.0


def test_llm_judge_two_calls_per_item() -> None:
    def model(request: dict) -> tuple[str, object]:
        text = request["messages"][-1]["content"]
        if "Model steps:" in text:
            return ("json", {"verdicts": [{"step": 0, "verdict": "supported", "evidence": "x"},
                                          {"step": 1, "verdict": "contradicted",
                                           "evidence": None}]})
        return ("json", {"reference_findings": [
            {"finding": "consolidation", "status": "present", "recalled": True},
            {"finding": "effusion", "status": "absent", "recalled": False}],
            "prediction_findings": [
                {"finding": "opacity", "status": "present", "supported_by_report": True}]})

    with FakeChatServer(default=model) as server:
        judge = LLMJudge(LLMSettings(url=server.url, model="judge", backoff_s=0.01))
        (judgment,) = judge.judge_many([ITEM], [["step one here", "step two here"]])
        assert server.request_count == 2
    assert (judgment.completeness, judgment.factuality, judgment.effectiveness) == (
        0.5, 1.0, 0.5)
    assert judgment.steps[1]["verdict"] == "contradicted"


@pytest.fixture
def predictions(tmp_path: Path) -> Path:
    records = [{**ITEM, "id": f"i{i}", "model": "good" if i % 2 else "bad",
                "prediction": GOOD if i % 2 else BAD} for i in range(20)]
    lines = [json.dumps(r) for r in records]
    lines.insert(3, "{not json")
    lines.insert(7, json.dumps({"id": "x", "task": "single"}))
    lines.append(lines[0])  # the same model and id twice
    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_score_writes_the_contract_and_resumes(predictions: Path, tmp_path: Path) -> None:
    out = tmp_path / "scored"
    result = runner.invoke(app, ["score", "--predictions", str(predictions), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "predictions.jsonl:4: invalid JSON" in result.stderr
    assert "predictions.jsonl:8: missing field 'answer'" in result.stderr
    assert "duplicate id 'i0' for model 'bad' (first on line 1)" in result.stderr
    assert "3 malformed lines" in result.stderr
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    assert len(items) == 20
    for item in items:
        assert {"id", "model", "task", "parsed_answer", "correct", "answer_score",
                "completeness", "factuality", "effectiveness", "radrscore"} <= set(item)
    summary = json.loads((out / "summary.json").read_text())
    good = summary["models"]["good"]["overall"]
    assert good["accuracy"] == 1.0 and summary["models"]["bad"]["overall"]["accuracy"] == 0.0
    assert good["radrscore"] > summary["models"]["bad"]["overall"]["radrscore"]
    assert set(summary["models"]["good"]["by_task"]) == {"single"}
    html = (out / "report.html").read_text()
    assert "good" in html and "supported" in html
    again = runner.invoke(app, ["score", "--predictions", str(predictions), "--out", str(out)])
    assert "scored 0 items" in again.stderr and "20 already done" in again.stderr


def test_cli_compare_two_runs(predictions: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["score", "--predictions", str(predictions), "--out",
                        str(tmp_path / "a"), "--no-html"])
    result = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "a"),
                                 "--model-a", "good", "--model-b", "bad"])
    assert result.exit_code == 0, result.output
    assert "single" in result.stdout
    missing = runner.invoke(app, ["compare", str(tmp_path / "a"), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no items.jsonl" in missing.stderr


def test_cli_score_llm_needs_url_and_model(predictions: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", "--predictions", str(predictions), "--out",
                                 str(tmp_path / "o"), "--judge", "llm"])
    assert result.exit_code == 2 and "--llm-url and --llm-model" in result.stderr


def test_option_findings_outside_the_vocabulary_are_judged_in_their_own_words() -> None:
    from chestx_reasoner.scoring.phrases import mention_status
    from chestx_reasoner.scoring.score import score_items

    assert mention_status("bilateral nipple shadow", "Nipple shadows overlie both bases.") == \
        "present"
    assert mention_status("calcinosis of hilar lymph nodes", "No calcinosis is seen in the "
                          "hilar lymph nodes.") == "absent"
    assert mention_status("nipple shadow", "The lungs are clear.") is None
    item = {"id": "o1", "task": "single", "question": "Which finding is in this chest X-ray?",
            "options": ["bilateral nipple shadow", "calcinosis of hilar lymph nodes"],
            "answer": "A", "report": "IMPRESSION: Nipple shadows. No acute disease.",
            "reasoning": ["Nipple shadows overlie both bases.", "So the answer is A."],
            "model": "m"}
    right = "1. Nipple shadows project over both bases.\n2. No calcinosis of the hilar lymph " \
            "nodes is seen.\n3. The answer is A."
    wrong = "1. There is no nipple shadow.\n2. Calcinosis of the hilar lymph nodes is seen.\n" \
            "3. The answer is B."
    good, bad = score_items([{**item, "prediction": right}, {**item, "prediction": wrong}],
                            RulesJudge())
    assert good["completeness"] == 1.0 and bad["completeness"] == 0.0
    assert good["steps"][0]["verdict"] == "supported"
    assert bad["steps"][0]["verdict"] == "contradicted"


def test_yes_no_and_other_fixed_options_are_not_findings() -> None:
    from chestx_reasoner.scoring.score import score_items

    binary = {"id": "b1", "task": "binary", "question": "Does this chest X-ray show pleural "
              "effusion?", "options": ["Yes", "No"], "answer": "B", "model": "m",
              "report": "IMPRESSION: No pleural effusion.",
              "reasoning": ["The costophrenic angles are sharp: no pleural effusion.",
                            "So the answer is B) No."],
              "prediction": "<think>1. No pleural effusion is seen.</think><answer>B</answer>"}
    assert RulesJudge.option_phrases(binary) == []
    (item,) = score_items([binary], RulesJudge())
    assert {f["finding"] for f in item["ref_key_findings"]} == {"pleural effusion"}
    assert item["completeness"] == 1.0
