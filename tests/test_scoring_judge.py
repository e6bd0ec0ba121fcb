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
    assert "duplicate id 'i0' for model 'bad' (first at " in result.stderr
    assert "predictions.jsonl:1)" in result.stderr
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
    from chestx_reasoner.scoring.score import score_items
    from chestx_reasoner.scoring.statements import phrase_status

    assert phrase_status("bilateral nipple shadow", "Nipple shadows overlie both bases.") == \
        "present"
    assert phrase_status("calcinosis of hilar lymph nodes", "No calcinosis is seen in the "
                         "hilar lymph nodes.") == "absent"
    assert phrase_status("nipple shadow", "The lungs are clear.") is None
    assert phrase_status("pleural effusion", "The visceral pleural edge is seen.") is None
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
    findings = {f["finding"] for f in item["ref_key_findings"]}
    assert "pleural effusion" in findings and not findings & {"yes", "no", "a", "b"}
    assert item["completeness"] == 1.0


def test_plans_and_definitions_assert_nothing_observations_do() -> None:
    from chestx_reasoner.scoring.statements import kind, phrase_status

    assert kind("Next, we assess the thoracic spine for scoliosis.") == "plan"
    assert kind("A pneumothorax would show as a thin pleural line.") == "generic"
    assert kind("The frontal view shows a small left effusion.") == "observation"
    text = ("First, we examine the lung bases for increased density. "
            "Atelectasis typically appears as increased density with volume loss. "
            "There is no increased density at the left base.")
    assert phrase_status("increased density at base of left lung", text) == "absent"
    assert phrase_status("mild scoliosis", "We check the spine for mild scoliosis.") is None
    # An imperative after a leading phrase is still a plan; "notice/observe X" reports X.
    assert kind("In the provided X-ray images, look at the right base for calcified spots.") \
        == "plan"
    assert kind("On the frontal view, notice the interstitial markings are diffuse.") == \
        "observation"
    assert kind("Left lower lobe atelectasis: look for volume loss.") == "plan"
    assert kind("C) Mild atelectasis at base of left lung, opacity on right side.") == "neutral"
    assert kind("B) Effusion: none is seen.") == "observation"
    assert kind("**Small calcified granuloma in right middle lobe:**") == "neutral"
    assert kind("- **C) Nodule at base of lung**: Is there any visible nodule?") == "plan"
    assert kind("Calcinosis would appear as dense, white areas within the lung fields on the "
                "X-ray.") == "generic"
    assert kind("The trachea should be midline, with slight tortuosity at times.") == "generic"
    assert kind("**Pleural effusion:** Confirm the presence of blunting at the angles.") == "plan"
    assert kind('For Option A, "nodule in lingula", focus on the left mid zone.') == "plan"
    assert kind("The X-ray confirms the presence of a left effusion.") == "observation"
    assert kind("Carefully scrutinize the left lower lung for signs of consolidation.") == "plan"
    assert kind("- **Option C** mentions focal consolidation in the left lower lobe.") == \
        "generic"
    assert kind("Option B mentions arthritis and a lucency.") == "generic"
    assert kind("In this image, there are no streaks that would suggest calcinosis.") == \
        "observation"
    assert kind("The X-ray would show a pleural line.") == "generic"
    assert kind("The images should show dense areas if calcinosis is present.") == "generic"
    # A candidate named before it is looked for asserts nothing; a candidate ruled out does.
    assert kind("One of the potential findings is severe atelectasis in the right lower "
                "lobe.") == "plan"
    assert kind("Another possible diagnosis is pneumonia at the left base.") == "plan"
    assert kind("The next option is moderate bilateral pleural effusion.") == "plan"
    assert kind("One of the potential findings is a right effusion, which is not seen.") == \
        "observation"
    assert kind("Another finding is a small left effusion.") == "observation"
    assert kind("The other options are not supported by the images.") == "observation"
    # How a finding is recognised, or what it will show, is a definition; what can be seen
    # here is not.
    assert kind("A pneumothorax is characterised by air in the pleural space, which can be "
                "identified by the absence of lung markings.") == "generic"
    assert kind("Pneumothorax can be identified by a visible pleural line.") == "generic"
    assert kind("In a pneumothorax the lung markings will be absent beyond the line.") == \
        "generic"
    assert kind("No pleural line can be identified.") == "observation"
    assert kind("A small right pneumothorax can be identified at the apex.") == "observation"
    assert phrase_status("irregular nodule", "There isn’t a distinct irregular nodule.") == \
        "absent"
    assert phrase_status("nodule in lingula", "A calcified granuloma is in the lingula.") is None


def test_negation_ends_at_its_clause() -> None:
    from chestx_reasoner.scoring.statements import phrase_status

    text = "There is no effusion, but increased density is seen at the left base."
    assert phrase_status("increased density at base of left lung", text) == "present"
    # The connector opens the next clause and keeps its negation with it.
    text = "The heart size is within normal limits, ruling out cardiomegaly."
    assert phrase_status("moderate cardiomegaly", text) == "absent"
    assert phrase_status("pleural effusion", "The angles are sharp, excluding pleural "
                         "effusion, but the heart is enlarged.") == "absent"
    # A hypothetical clause's finding takes the status a later clause gives it by anaphor.
    assert phrase_status("diaphragmatic eventration", "For diaphragmatic eventration we would "
                         "expect an elevated contour, but these features are not observed.") \
        == "absent"
    assert phrase_status("calcinosis of ribs", "Calcinosis would appear as calcifications "
                         "along the ribs, which is not evident here.") == "absent"
    assert phrase_status("hypoinflation", "We also check for hypoinflation, such as flat "
                         "diaphragms, but these are not observed.") == "absent"
    assert phrase_status("granuloma", "Granuloma: seen as a well-defined opacity.") is None
    # Plurals fold to the phrase's singular ("nodules" names "nodule in lingula").
    assert phrase_status("nodule in lingula", "No nodules are detected.") == "absent"
    # A trailing "with no evidence of …" is its own clause: it does not deny what came before.
    text = ("In conclusion, the findings include apical pleural scarring and eventration of "
            "the diaphragm, with no evidence of other conditions.")
    assert phrase_status("apical pleural scarring", text) == "present"
    # A structure called normal denies the abnormality of it the phrase names.
    assert phrase_status("tortuous aorta", "The aorta appears normal.") == "absent"
    assert phrase_status("nodule in right upper lobe", "The lungs are clear except for a "
                         "nodule in the right upper lobe.") == "present"
    assert phrase_status("cardiomegaly", "Cardiomegaly with clear lungs is seen.") == "present"
    # A list's predicate comes after its last item.
    text = ("The findings are consistent with lung opacity, while other conditions such as "
            "clavicle deformity, pleural effusion, and fibrosis are not present.")
    assert phrase_status("deformity of left clavicle", text) == "absent"
    assert phrase_status("lung opacity", text) == "present"
    # A negation that takes its own object denies only that object, not the list before it.
    text = ("In conclusion, taking into account pleural effusion, cardiomegaly, and lung "
            "opacity without indications of pneumonia, the findings match option B.")
    assert phrase_status("pleural effusion", text) == "present"
    assert phrase_status("pneumonia", text) == "absent"
    assert phrase_status("atelectasis", "Atelectasis, effusion, and consolidation are "
                         "absent.") == "absent"
    assert phrase_status("atelectasis", "Atelectasis, effusion, and edema free of "
                         "complications are seen.") == "present"
    assert phrase_status("apical lucency", "There is nothing to suggest apical lucency.") == \
        "absent"
    # A clause that gives the reason ("…, as …", "…, since …") has a status of its own.
    text = "There is no pleural effusion, as the opacity in the right lung is unchanged."
    assert phrase_status("opacity in right lung", text) == "present"
    assert phrase_status("pleural effusion", text) == "absent"
    assert phrase_status("atelectasis", "No pneumothorax is seen, since atelectasis explains "
                         "the volume loss.") == "present"
    # "as well as" still continues the list the negation governs.
    assert phrase_status("pneumothorax", "There is no effusion, as well as no pneumothorax.") \
        == "absent"


@pytest.mark.parametrize(("text", "phrase", "status"), [
    ("There is lung opacity without signs of pneumonia.", "lung opacity", "present"),
    ("There is lung opacity without signs of pneumonia.", "pneumonia", "absent"),
    ("Lung opacity is seen without evidence of pneumonia.", "lung opacity", "present"),
    ("Cardiomegaly with no evidence of pulmonary edema.", "cardiomegaly", "present"),
    ("Cardiomegaly with no evidence of pulmonary edema.", "edema", "absent"),
    ("Small left pleural effusion in the absence of pneumothorax.", "pleural effusion",
     "present"),
    ("In conclusion, taking into account pleural effusion, cardiomegaly, and lung opacity "
     "without indications of pneumonia, the findings match option B.", "lung opacity", "present"),
    # "without" denies its object up to the comma, not the option list named after it.
    ("In conclusion, taking into account pleural effusion and lung opacity without "
     "indications of pneumonia, the findings align with option B: pleural effusion, lung "
     "opacity, cardiomegaly.", "lung opacity", "present"),
    # The finding after the cue, or a negation of its own before it, stays denied.
    ("There is no lung opacity without signs of pneumonia.", "lung opacity", "absent"),
    ("Without evidence of lung opacity, pneumonia is unlikely.", "lung opacity", "absent"),
    ("Pleural effusion is absent, without signs of pneumonia.", "pleural effusion", "absent"),
    # A topic named ahead of its clause: the negation after it is what is said of it.
    ("For atelectasis, there is no evidence of lung collapse or volume loss.", "atelectasis",
     "absent"),
    ("Regarding pleural effusion, there are no signs of blunting of the angles.",
     "pleural effusion", "absent"),
    ("Atelectasis: no evidence of volume loss is seen.", "atelectasis", "absent"),
    ("Lung opacity: seen, without signs of pneumonia.", "lung opacity", "present"),
    # A search told in the past is no finding: its outcome comes after it.
    ("Regarding a scar in the left lung base, I checked for irregular linear opacities, "
     "indicative of scarring, but none were noted.", "scar in left lung base", "absent"),
    ("We investigated the lung bases for consolidation, but none is seen.", "consolidation",
     "absent"),
    ("I looked for a pleural effusion at the bases, and a small left effusion is present.",
     "pleural effusion", "present"),
    # An option restated after its letter names findings; the clause after it judges them.
    ("- **Option A**: Cardiomegaly, lung opacity, pneumonia - there is lung opacity, but "
     "pneumonia is not clearly evident.", "pneumonia", "absent"),
    ("- **Option A**: Cardiomegaly, lung opacity, pneumonia - there is lung opacity, but "
     "pneumonia is not clearly evident.", "lung opacity", "present"),
    ("Option B: pleural effusion - a small left pleural effusion is seen.", "pleural effusion",
     "present"),
])
def test_a_findings_status_comes_from_the_clause_that_states_it(text: str, phrase: str,
                                                                 status: str) -> None:
    from chestx_reasoner.scoring.statements import phrase_claims

    assert phrase_claims(phrase, text) == (status,)


def test_option_discussion_is_read_as_one_unit() -> None:
    from chestx_reasoner.scoring.option_judge import group_steps, phrase_statuses
    from chestx_reasoner.scoring.option_units import option_units

    options = ("hiatal hernia", "pleural thickening", "rib fracture", "normal")
    text = ("A) Hiatal hernia: a retrocardiac air-fluid level would suggest it. "
            "The images show such a lucency behind the heart.\n"
            "B) Pleural thickening: this appears as a smooth band along the chest wall. "
            "These features are not present on the films.\n"
            "Therefore the answer is A.")
    units = option_units(text, options)
    assert sorted(units) == [0, 1] and len(units[1]) == 2
    # A plan line that recaps an option in parentheses closes the discussion: the
    # observation after it is not that option's verdict.
    recap = text.replace("Therefore the answer is A.",
                         "Check for a retrocardiac lucency (Option A). Look for pleural bands "
                         "(Options B and C). On the frontal view, the trachea is midline.")
    units = option_units(recap, options)
    assert len(units[1]) == 2 and not any("trachea" in s for u in units.values() for s in u)
    said = phrase_statuses(text, [("hiatal hernia", "present"),
                                  ("pleural thickening", "absent")], options)
    assert said == {"hiatal hernia": "present", "pleural thickening": "absent"}
    steps = ["B) Pleural thickening would appear as a smooth band along the chest wall.",
             "These features are not present on the films.",
             "Overall, the answer is A."]
    assert group_steps(steps, options) == [(1, [0, 1]), (None, [2])]


def test_normal_anatomy_statements_are_key_findings() -> None:
    from chestx_reasoner.scoring.anatomy import structure_statements
    from chestx_reasoner.scoring.key_findings import structure_findings

    assert structure_statements("The cardiomediastinal silhouette is within normal limits.") \
        == (("heart size", "absent"), ("mediastinum", "absent"))
    assert structure_statements("No acute osseous abnormality.") == (("bones", "absent"),)
    assert structure_statements("The right costophrenic angle is blunted.") == \
        (("pleura", "present"),)
    assert structure_statements("Opacity obscures the left heart border.") == ()
    assert structure_statements("The cardiac borders are obscured.") == ()
    # The cardiothoracic ratio in words.
    assert structure_statements("The heart width is more than half of the thoracic width.") \
        == (("heart size", "present"),)
    assert structure_statements("The heart size is larger than 50% of the thoracic width.") \
        == (("heart size", "present"),)
    assert structure_statements("The cardiothoracic ratio is less than 0.5.") == \
        (("heart size", "absent"),)
    # a plan to look at the heart says nothing about it; a report sentence always does
    assert structure_findings("Evaluate the heart size for enlargement.") == []
    (heart,) = structure_findings("Heart size normal.", reasoning=False)
    assert (heart.finding, heart.status, heart.observation) == ("heart size", "absent",
                                                                "Cardiomegaly")


def test_a_normal_heart_matches_no_cardiomegaly() -> None:
    from chestx_reasoner.scoring.key_findings import structure_findings

    (heart,) = structure_findings("The heart is not enlarged.")
    no_cardiomegaly = KeyFinding("cardiomegaly", "Cardiomegaly", "absent", None, "")
    assert related(heart, no_cardiomegaly)


def test_steps_that_name_no_reference_finding_follow_the_outcome() -> None:
    from chestx_reasoner.scoring.key_findings import effectiveness_of

    verdicts = [{"verdict": "unsupported"}, {"verdict": "supported"},
                {"verdict": "contradicted"}, {"verdict": "supported"}]
    assert effectiveness_of(verdicts, credit=1.0) == 3 / 4  # every step counts
    assert effectiveness_of(verdicts, credit=0.0) == 2 / 4
    assert effectiveness_of(verdicts, credit=0.5) == 2.5 / 4
    assert effectiveness_of(verdicts) == 2 / 3  # no credit given: left out, not guessed
    assert effectiveness_of([{"verdict": "unsupported"}]) == 0.0
    assert effectiveness_of([{"verdict": "unsupported"}], credit=1.0) == 1.0


def test_a_wrong_answer_keeps_credit_for_the_findings_it_states_right() -> None:
    from chestx_reasoner.scoring.key_findings import reasoning_credit

    reference = [{"finding": "effusion", "status": "present"},
                 {"finding": "pneumothorax", "status": "absent"}]
    predicted = [{"finding": "effusion", "status": "absent"},
                 {"finding": "pneumothorax", "status": "absent"},
                 {"finding": "scoliosis", "status": "present"}]  # not in the reference
    assert reasoning_credit(True, predicted, reference) == 1.0
    assert reasoning_credit(False, predicted, reference) == 0.5
    assert reasoning_credit(False, [], reference) == 0.0


def test_an_introduction_restates_nothing_so_it_is_not_effective_whatever_the_answer() -> None:
    item = {"task": "single", "question": "Which finding?", "answer": "A",
            "options": ["pleural effusion", "pneumothorax"],
            "reasoning": ["A small left pleural effusion is seen.", "There is no pneumothorax.",
                          "The answer is A."],
            "report": "Small left pleural effusion. No pneumothorax."}
    steps = ["Let us review the chest radiograph.", "A left pleural effusion is present.",
             "The answer is A."]
    right, wrong = RulesJudge().judge_many([item, item], [steps, steps], [True, False])
    assert right.steps[0]["verdict"] == "unsupported" and not right.steps[0]["restates"]
    assert right.effectiveness == 2 / 3
    # Scored as wrong: the effusion step is supported, the conclusion contradicted, and the
    # introduction still earns nothing.
    assert wrong.steps[-1]["verdict"] == "contradicted"
    assert wrong.effectiveness == 1 / 3


def test_a_right_letter_after_denying_the_answer_is_not_credited_as_reasoning() -> None:
    from chestx_reasoner.scoring.key_findings import denies_answer

    item = {"task": "single", "question": "Which finding?", "answer": "A",
            "options": ["moderate cardiomegaly", "pneumothorax"],
            "reasoning": ["The heart is moderately enlarged: moderate cardiomegaly.",
                          "There is no pneumothorax.", "The answer is A."],
            "report": "Moderate cardiomegaly. No pneumothorax."}
    consistent = ["Let us review the radiograph.", "Moderate cardiomegaly is seen.",
                  "The answer is A."]
    denying = ["Let us review the radiograph.", "There is no moderate cardiomegaly.",
               "So there is no moderate cardiomegaly; the answer is A."]
    good, lucky = RulesJudge().judge_many([item, item], [consistent, denying], [True, True])
    assert good.steps[-1]["verdict"] == "supported" and good.effectiveness == 2 / 3
    # The conclusion keeps its own verdict, and the introduction earns what a wrong answer's
    # would: the share of stated findings the reference confirms (none here).
    assert lucky.steps[-1]["verdict"] == "contradicted"
    assert lucky.effectiveness == 0.0
    assert denies_answer([{"finding": "a", "status": "absent"}], {"a", "b"})
    assert not denies_answer([{"finding": "a", "status": "absent"},
                              {"finding": "b", "status": "present"}], {"a", "b"})
    assert not denies_answer([{"finding": "c", "status": "absent"}], {"a"})


def test_reference_chains_and_reports_are_read_once_per_judge() -> None:
    judge = RulesJudge()
    calls: list[int] = []
    read = judge.read

    def counting(texts, reasoning=False):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return read(texts, reasoning)

    judge.read = counting  # type: ignore[method-assign]
    judge.judge_many([ITEM, ITEM], [["No pleural effusion is seen."]] * 2)
    judge.judge_many([ITEM], [["No pleural effusion is seen."]])
    assert calls == [1, 1, 0, 0]


SELF_ITEMS = [
    {"id": "s1", "task": "binary", "question": "Does this chest X-ray show edema?",
     "options": ["Yes", "No"], "answer": "B",
     "report": "FINDINGS: No perihilar haze or Kerley B lines. Heart size is normal.\n"
               "IMPRESSION: No pulmonary edema."},
    {"id": "s2", "task": "anomaly", "question": "Is this chest X-ray normal or abnormal?",
     "options": ["Normal", "Abnormal"], "answer": "A",
     "report": "FINDINGS: The lungs are clear. No pleural effusion or pneumothorax. Heart "
               "size is normal.\nIMPRESSION: No acute cardiopulmonary process."},
    {"id": "s3", "task": "multi_open", "question": "Which findings are in this chest X-ray?",
     "options": [], "answer": "lung opacity, pleural effusion",
     "report": "FINDINGS: Large left pleural effusion. Patchy opacity in the right mid "
               "zone. Heart size is normal.\nIMPRESSION: Left effusion, right opacity."},
    {"id": "s4", "task": "single", "question": "Which finding is in this chest X-ray?",
     "options": ["pneumothorax", "cardiomegaly", "edema", "fracture"], "answer": "B",
     "report": "FINDINGS: The heart is moderately enlarged. Lungs are clear.\n"
               "IMPRESSION: Cardiomegaly."},
]


def test_a_mined_chain_judged_against_itself_scores_near_one() -> None:
    """A prediction that repeats the reference chain must not be marked down: plan steps
    ("To evaluate for X, examine …") are neither findings nor contradictions."""
    from chestx_reasoner.mining.run import RulesBackend
    from chestx_reasoner.models.prompt import target_text
    from chestx_reasoner.scoring.score import score_items

    mined = RulesBackend(seed=0).mine_batch([dict(i) for i in SELF_ITEMS])
    assert all(m["mining"]["status"] in ("kept", "repaired") for m in mined)
    records = [{**m, "model": "reference", "prediction": target_text(m["reasoning"], m["answer"])}
               for m in mined]
    scored = score_items(records, RulesJudge())
    for row in scored:
        assert row["correct"] and row["completeness"] == 1.0, row["id"]
        assert row["effectiveness"] == 1.0, (row["id"], row["steps"])
        assert row["radrscore"] >= 0.8, row["id"]
        assert not [s for s in row["steps"] if s["verdict"] == "contradicted"], row["id"]


# -- errors a radiologist would catch (benchmarks/judge_sensitivity.py measures them at scale) --
_EFFUSION = {"task": "binary", "question": "Does this chest X-ray show pleural effusion?",
             "options": ["Yes", "No"], "answer": "A",
             "reasoning": ["There is a small right pleural effusion.",
                           "There is no pneumothorax.", "The answer is A."],
             "report": "Small right pleural effusion. No pneumothorax. Heart size is normal."}


def _scores(item: dict, *chains: list[str]) -> list:
    return RulesJudge().judge_many([item] * len(chains), list(chains), [True] * len(chains))


@pytest.mark.parametrize("wrong", [
    "There is a small left pleural effusion.",  # the side the report does not give it
    "Blunting of the left costophrenic angle shows the effusion.",
])
def test_a_finding_put_on_the_wrong_side_loses_factuality(wrong: str) -> None:
    base, swapped = _scores(_EFFUSION, list(_EFFUSION["reasoning"]),
                            [wrong, *_EFFUSION["reasoning"][1:]])
    assert swapped.factuality < base.factuality


def test_sided_phrases_are_checked_where_the_labeler_ties_no_side() -> None:
    from chestx_reasoner.scoring.laterality import misplaced

    report = "In the left perihilar region, there is a hazy opacification. No effusion."
    assert misplaced("Hazy opacification is seen in the right perihilar region.", report) \
        == "left perihilar"
    assert misplaced("Hazy opacification is seen in the left perihilar region.", report) is None
    # Nothing placed: a denial, or a side the report never speaks of.
    assert misplaced("There is no right perihilar opacification.", report) is None
    assert misplaced("The right hemidiaphragm is elevated.", report) is None
    # Both sides in the report: either side is right.
    assert misplaced("Opacity at the right base.", "Bibasilar opacities, right greater "
                     "than left.") is None


@pytest.mark.parametrize(("said", "component"), [
    ("There is a pneumothorax.", "factuality"),  # absent -> present
    ("There is a large left pneumothorax with a visible pleural line.", "factuality"),
])
def test_a_statement_the_report_rules_out_loses_factuality(said: str, component: str) -> None:
    base, changed = _scores(_EFFUSION, list(_EFFUSION["reasoning"]),
                            [_EFFUSION["reasoning"][0], said, "The answer is A."])
    assert getattr(changed, component) < getattr(base, component)


def test_a_denied_finding_the_report_states_loses_factuality_even_when_restated() -> None:
    chain = ["There is no pleural effusion.", "There is a small right pleural effusion.",
             "There is no pneumothorax.", "The answer is A."]
    base, flipped = _scores(_EFFUSION, chain[1:], chain)
    assert flipped.factuality < base.factuality


def test_filler_steps_lose_effectiveness_even_with_the_right_answer() -> None:
    filler = ["Image quality is assessed first, including rotation and inspiration.",
              "A systematic approach is followed throughout the review."]
    base, padded = _scores(_EFFUSION, list(_EFFUSION["reasoning"]),
                           [*filler, *_EFFUSION["reasoning"]])
    assert padded.effectiveness < base.effectiveness
    assert [s.get("restates") for s in padded.steps[:2]] == [False, False]


def test_dropping_the_chains_other_findings_loses_completeness() -> None:
    item = {"task": "single", "question": "Which finding?", "answer": "A",
            "options": ["pleural effusion", "pneumothorax"],
            "reasoning": ["The heart size is normal.", "A small right pleural effusion is seen.",
                          "There is no pneumothorax.", "The answer is A."],
            "report": "Normal heart size. Small right pleural effusion. No pneumothorax."}
    base, dropped = _scores(item, list(item["reasoning"]), item["reasoning"][1:])
    assert dropped.completeness < base.completeness


def test_a_finer_finding_is_not_supported_by_a_coarser_one_in_the_report() -> None:
    from chestx_reasoner.scoring.key_findings import KeyFinding, supported_by_report

    report = [KeyFinding("opacity", "Lung Opacity", "present", "left", "Left basilar opacity.",
                         frozenset({"left"}))]
    atelectasis = KeyFinding("atelectasis", "Atelectasis", "present", None, "Atelectasis.")
    opacity = KeyFinding("lung opacity", "Lung Opacity", "present", "right", "Right opacity.")
    assert not supported_by_report(atelectasis, report)[0]  # unmentioned: normal
    assert not supported_by_report(opacity, report)[0]  # wrong side
    assert supported_by_report(KeyFinding("lung opacity", "Lung Opacity", "present", "left",
                                          "x"), report)[0]


def test_a_grade_the_report_gives_otherwise_loses_factuality() -> None:
    base, graded = _scores(_EFFUSION, list(_EFFUSION["reasoning"]),
                           ["There is a large right pleural effusion.",
                            *_EFFUSION["reasoning"][1:]])
    assert graded.factuality < base.factuality


def test_calling_new_what_the_report_says_is_not_new_loses_factuality() -> None:
    item = {"task": "binary", "question": "Does this chest X-ray show consolidation?",
            "options": ["Yes", "No"], "answer": "B",
            "reasoning": ["The previous left lower lobe opacity has resolved.",
                          "There is no new focal consolidation.", "The answer is B."],
            "report": "The previously seen left lower lobe opacity has resolved. There is no "
                      "new focal consolidation, pleural effusion, or pneumothorax."}
    base, novel = _scores(item, list(item["reasoning"]),
                          ["The previous left lower lobe opacity has resolved.",
                           "There is new focal consolidation.", "The answer is B."])
    assert novel.factuality < base.factuality


def test_a_temporal_item_is_judged_against_the_current_report_and_its_change() -> None:
    item = {"task": "temporal", "question": "Identify the progression of pleural effusion.",
            "options": ["stable", "worsening", "improving"], "answer": "B",
            "reasoning": ["The right pleural effusion has increased.", "The answer is B."],
            "report": "Previous Report: No pleural effusion. Current Report: Right pleural "
                      "effusion has increased since the prior study."}
    base, improved, denied = _scores(
        item, list(item["reasoning"]),
        ["The right pleural effusion has improved.", "The answer is B."],
        ["There is no pleural effusion.", "The answer is B."])
    assert improved.factuality < base.factuality
    assert denied.factuality < base.factuality  # the prior report's "no effusion" is past


def test_a_temporal_item_without_a_current_report_is_judged_against_its_reference_chain() -> None:
    # Real temporal pairs sometimes end at "Current Report:": unmentioned is not normal there.
    item = {"task": "temporal", "question": "Identify the progression of consolidation.",
            "options": ["stable", "worsening", "improving"], "answer": "A",
            "reasoning": ["We look for new infiltrates or changes in existing opacities.",
                          "No new parenchymal infiltrates are seen, and the heart is not "
                          "enlarged.",
                          "The chest wall emphysema remains unchanged.", "The answer is A."],
            "report": "Previous Report: Extensive bilateral chest wall emphysema. No new "
                      "infiltrates. Current Report:"}
    base, novel, enlarged = _scores(
        item, list(item["reasoning"]),
        [*item["reasoning"][:1], "New parenchymal infiltrates are seen, and the heart is not "
         "enlarged.", *item["reasoning"][2:]],
        [*item["reasoning"][:1], "No new parenchymal infiltrates are seen, and the heart is "
         "enlarged.", *item["reasoning"][2:]])
    assert base.factuality == 1.0  # the chain's own claims are not held against a blank
    assert novel.factuality < base.factuality
    assert enlarged.factuality < base.factuality


def test_open_answers_keep_the_answers_order() -> None:
    # A set here once made items.jsonl depend on PYTHONHASHSEED.
    answer = ["edema", "pleural effusion", "atelectasis", "cardiomegaly", "pneumothorax",
              "consolidation", "pneumonia", "lung opacity", "fracture", "support devices"]
    phrases = RulesJudge.option_phrases({"task": "multi_open", "options": [],
                                         "answer": ", ".join(answer)})
    assert phrases == [(p, "present") for p in answer]


def test_observe_that_reports_what_it_observes() -> None:
    from chestx_reasoner.scoring.statements import kind

    assert kind("Observe that there is focal consolidation in the right upper lobe.") \
        == "observation"
    assert kind("Observe the costophrenic angles for blunting.") == "plan"
    assert kind("We then explore the possibility of atelectasis of the right middle lobe by "
                "looking for volume loss.") == "plan"
    # Textbook openers of model outputs: what a finding is, not what this image shows.
    assert kind("Understand Pneumothorax: A pneumothorax occurs when air enters the pleural "
                "space.") == "plan"
    assert kind("A pneumothorax occurs when air enters the pleural space.") == "generic"
    assert kind("In the presence of a pneumothorax, there will be an area devoid of "
                "markings.") == "generic"
    assert kind("In the case of a pneumothorax, a visceral pleural line may be visible.") \
        == "generic"
    assert kind("It is important to identify signs of volume loss in the lung fields.") == "plan"
    assert kind("Opacification: increased density where collapse might be occurring.") \
        == "generic"
    # A hypothesis that goes on to say what was seen still observes.
    assert kind("A pneumothorax would show a pleural line, but none is seen.") == "observation"


def test_recall_follows_the_direction_a_statement_carries() -> None:
    from chestx_reasoner.scoring.key_findings import recalls

    def kf(finding: str, observation: str, status: str) -> KeyFinding:
        return KeyFinding(finding, observation, status, None, "")

    consolidation = kf("consolidation", "Consolidation", "present")
    opacity = kf("opacity", "Lung Opacity", "present")
    # "a left lower lobe consolidation" states a lung opacity; "an opacity" is not yet one.
    assert recalls(consolidation, opacity) and not recalls(opacity, consolidation)
    # "no lung opacity" rules out consolidation; "no consolidation" leaves opacities open.
    assert recalls(kf("opacity", "Lung Opacity", "absent"),
                   kf("consolidation", "Consolidation", "absent"))
    assert not recalls(kf("consolidation", "Consolidation", "absent"),
                       kf("opacity", "Lung Opacity", "absent"))
    # Denying one child of lung opacity says nothing of a sibling.
    assert not recalls(kf("edema", "Edema", "absent"),
                       kf("consolidation", "Consolidation", "absent"))
    # A hedged finding of the same column ("could be edema") does not state the one the
    # reference saw ("vascular congestion is noted"); a certain one, or the same one, does.
    congestion = kf("vascular congestion", "Edema", "present")
    assert not recalls(kf("edema", "Edema", "uncertain"), congestion)
    assert recalls(kf("edema", "Edema", "present"), congestion)
    assert recalls(kf("vascular congestion", "Edema", "uncertain"), congestion)


def test_an_options_finding_on_the_wrong_side_loses_factuality() -> None:
    item = {"task": "single", "question": "Which finding is in this chest X-ray?",
            "options": ["pneumothorax", "pleural effusion", "cardiomegaly", "edema"],
            "answer": "A",
            "reasoning": ["There is a moderate pneumothorax at the right apex.",
                          "The answer is A."],
            "report": "There is a moderate sized right pneumothorax. It measures 3 cm at the "
                      "right apex."}
    base, swapped = _scores(item, list(item["reasoning"]),
                            ["There is a moderate pneumothorax at the left apex.",
                             "The answer is A."])
    assert swapped.factuality < base.factuality
    # The side written after the place: "the apex of the left lung".
    item = {**item, "report": "Moderate right apical pneumothorax."}
    base, swapped = _scores(item, ["A pneumothorax is seen at the apex of the right lung.",
                                   "The answer is A."],
                            ["A pneumothorax is seen at the apex of the left lung.",
                             "The answer is A."])
    assert swapped.factuality < base.factuality



_LONG_OPTIONS = {"task": "single", "question": "Which finding is in this chest X-ray?",
                 "options": ["small left apical pneumothorax", "patchy opacity in right lung base",
                             "bilateral posterior pleural effusion",
                             "chronic atelectasis of right middle lobe"],
                 "answer": "B",
                 "reasoning": ["Patchy opacity is seen at the right lung base.",
                               "So the answer is B."],
                 "report": "Patchy right basilar opacity. No pleural effusion. The lungs are "
                           "otherwise clear. No pneumothorax."}


@pytest.mark.parametrize(("denied", "asserted"), [
    # Another sentence names the option's finding in the option's own words; this one by its
    # head noun or in other words, and is a claim of its own all the same.
    ("No effusion is seen.", "An effusion is seen."),
    ("The images show no signs of effusion.", "The images show signs of effusion."),
    ("The lungs show no collapse.", "The lungs show collapse."),
])
def test_an_options_finding_named_in_other_words_is_still_a_claim(denied: str,
                                                                  asserted: str) -> None:
    first, last = _LONG_OPTIONS["reasoning"]
    in_option_words = ("A small left apical pneumothorax, bilateral posterior pleural effusion "
                       "and chronic atelectasis of the right middle lobe are not seen.")
    base, flipped = _scores(_LONG_OPTIONS, [first, denied, in_option_words, last],
                            [first, asserted, in_option_words, last])
    assert flipped.factuality < base.factuality

_LUNG = {"task": "multi", "question": "Which findings are in this chest X-ray?", "answer": "A",
         "options": ["consolidation", "atelectasis, lung opacity, pleural effusion",
                     "atelectasis, pleural effusion", "lung opacity"],
         "reasoning": ["A dense right lower lobe consolidation is seen.",
                       "There is no pleural effusion and no atelectasis.",
                       "So the answer is A) consolidation."],
         "report": "Right lower lobe consolidation. No pleural effusion or atelectasis."}


def test_dropping_a_step_never_raises_completeness() -> None:
    # The chain rules the lung opacity out (the reference's status), then calls it present
    # in the step that also rules out the effusion: taking that step away must cost, not be
    # offset by the opacity's wrong last call going with it.
    steps = ["A dense right lower lobe consolidation is seen.",
             "There is no lung opacity beyond the consolidation.",
             "There is no pleural effusion. Some hazy lung opacity is present.",
             "So the answer is A) consolidation."]
    full, dropped = RulesJudge().judge_many([_LUNG, _LUNG], [steps, steps[:2] + steps[3:]])
    assert dropped.completeness < full.completeness


@pytest.mark.parametrize(("conclusion", "verdict"), [
    ("Therefore, the answer is A) consolidation.", "supported"),
    ("Therefore, the answer is A: Consolidation of the right lower lobe.", "supported"),
    ("The final answer is A (consolidation).", "supported"),
    ("Therefore, the answer is A.", "supported"),
    ("Therefore, the answer is A) atelectasis, lung opacity, pleural effusion.", "contradicted"),
    ("The final answer is A) atelectasis, pleural effusion.", "contradicted"),
    ("So the best option is A: atelectasis, lung opacity.", "contradicted"),
])
def test_a_right_letter_with_another_options_words_is_not_a_supported_conclusion(
        conclusion: str, verdict: str) -> None:
    steps = ["A dense right lower lobe consolidation is seen.",
             "There is no pleural effusion.", conclusion]
    (judgment,) = RulesJudge().judge_many([_LUNG], [steps], [True])
    assert judgment.steps[-1]["verdict"] == verdict
    if verdict == "contradicted":
        assert "reference answer is A" in judgment.steps[-1]["evidence"]
        assert judgment.effectiveness < 1.0


@pytest.mark.parametrize(("text", "finding", "status"), [
    ("There is no new focal consolidation.", "consolidation", "absent"),
    ("No new masses or lymphadenopathy.", "mass", "absent"),
    ("No new focal opacity to suggest pneumonia.", "pneumonia", "absent"),
    # one that persists is said so, and that mention settles it
    ("No new consolidation. Persistent right lower lobe consolidation.", "consolidation",
     "present"),
    # a hedge built on a negation still hedges
    ("No new opacity, although early pneumonia cannot be excluded.", "pneumonia", "uncertain"),
])
def test_no_new_finding_means_none_on_this_film_for_the_judge(text: str, finding: str,
                                                              status: str) -> None:
    """CheXpert's labels keep "no new X" uncertain (tests/test_labeler_cases.py); the judge
    reads what the film shows."""
    from chestx_reasoner.scoring.judge_rules import RulesJudge

    found = {f.finding: f.status for f in RulesJudge().read([text])[0]}
    assert found[finding] == status


def test_a_grade_reaches_only_to_the_next_conjunction() -> None:
    from chestx_reasoner.scoring.qualifiers import qualifier_errors

    report = "Moderate cardiomegaly and mild pulmonary edema."
    assert qualifier_errors(["There is mild cardiomegaly."], report) == \
        ["There is mild cardiomegaly."]
    assert qualifier_errors(["There is severe pulmonary edema."], report) == \
        ["There is severe pulmonary edema."]
    assert qualifier_errors(["Moderate cardiomegaly is seen, with mild edema."], report) == []
    # "mild to moderate" grades one thing twice
    assert qualifier_errors(["A moderate left effusion."], "Mild to moderate left effusion.") \
        == []


@pytest.mark.parametrize(("sentence", "expected"), [
    # "Considering X, …" frames what its main clause observes or concludes
    ("Considering chronic heart disease, the observation of stable mild cardiomegaly "
     "indicates a persistent enlargement of the cardiac silhouette.", "observation"),
    ("Considering pulmonary edema, the increased opacity is localized to the left base.",
     "observation"),
    # ... unless the main clause plans
    ("Considering pneumonia, it is crucial to determine whether infection-related changes "
     "are contributing to the opacity.", "plan"),
    ("Consider the costophrenic angles for blunting.", "plan"),
])
def test_a_considering_opener_is_read_by_its_main_clause(sentence: str, expected: str) -> None:
    from chestx_reasoner.scoring.statements import kind

    assert kind(sentence) == expected


def test_a_device_of_another_kind_does_not_support_a_claimed_device() -> None:
    from chestx_reasoner.scoring.key_findings import supported_by_report

    def kf(finding: str, status: str = "present") -> KeyFinding:
        return KeyFinding(finding, "Support Devices", status, None, finding)

    nasogastric = [kf("enteric tube")]
    assert not supported_by_report(kf("endotracheal tube"), nasogastric)[0]
    assert supported_by_report(kf("enteric tube"), nasogastric)[0]
    # "Lines and tubes unchanged" (the generic device) speaks for any device.
    assert supported_by_report(kf("endotracheal tube"), [kf("surgical hardware")])[0]
    assert supported_by_report(kf("surgical hardware"), nasogastric)[0]
