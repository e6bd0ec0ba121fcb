"""Answer parsing, finding lists, reasoning steps and the outcome score on real-looking outputs."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chestx_reasoner.scoring.outcome import METRICS, answer_score, finding_f1, ratescore_available
from chestx_reasoner.scoring.parse import (
    extract_reasoning,
    parse_answer,
    parse_findings,
    split_steps,
)

SINGLE = ["cardiomegaly", "pleural effusion", "pneumothorax", "atelectasis"]
YES_NO = ["Yes", "No"]
ANOMALY = ["Normal", "Abnormal"]
TEMPORAL = ["Stable", "Worsening", "Improving"]
MULTI = ["cardiomegaly, pleural effusion", "pneumothorax, rib fracture",
         "pulmonary edema, bibasilar atelectasis", "nodule, hiatal hernia"]
PROMPT = ("Which finding is in this chest X-ray?\nOptions:\nA) cardiomegaly\nB) pleural effusion\n"
          "C) pneumothorax\nD) atelectasis\nAnswer with the letter of one option.")
ANALYSIS = (
    "Let's go through the options one by one.\n\n"
    "A) **Cardiomegaly**\n- The cardiothoracic ratio looks below 0.5, so the heart is not enlarged."
    "\n\nB) **Pleural effusion**\n- The costophrenic angles are sharp; no fluid is layering.\n\n"
    "C) **Pneumothorax**\n- A thin visceral pleural line is visible at the right apex with no lung "
    "markings beyond it.\n\nD) **Atelectasis**\n- No volume loss or linear opacity is seen.\n\n"
)

CASES = [
    # --- tags ------------------------------------------------------------------------------------
    ("<answer>B</answer>", SINGLE, "single", "B"),
    ("<think>The angle is blunted.</think>\n<answer> B </answer>", SINGLE, "single", "B"),
    ("<think>Could be A, the heart looks big.</think><answer>B", SINGLE, "single", "B"),
    ("<answer>A</answer> On second thought: <answer>C</answer>", SINGLE, "single", "C"),
    ("<answer>A</answer> hmm, let me redo this. <answer>D", SINGLE, "single", "A"),
    ("<think>Tempting to say <answer>A</answer> here.</think><answer>C</answer>", SINGLE,
     "single", "C"),
    ("<answer>Option (d)</answer>", SINGLE, "single", "D"),
    ("<answer>pleural effusion</answer>", SINGLE, "single", "B"),
    ("<answer>E</answer>", SINGLE, "single", None),
    ("<answer></answer> The answer is C.", SINGLE, "single", "C"),
    ("The answer is \\boxed{D}", SINGLE, "single", "D"),
    # --- bare letters and answer phrases ---------------------------------------------------------
    ("B", SINGLE, "single", "B"),
    ("B.", SINGLE, "single", "B"),
    ("(B)", SINGLE, "single", "B"),
    ("B)", SINGLE, "single", "B"),
    ("Option B", SINGLE, "single", "B"),
    ("option (b)", SINGLE, "single", "B"),
    ("The answer is C.", SINGLE, "single", "C"),
    ("answer: b", SINGLE, "single", "B"),
    ("**C**", SINGLE, "single", "C"),
    ("Answer: B) pleural effusion", SINGLE, "single", "B"),
    ("**Final answer:** A", SINGLE, "single", "A"),
    ("Answer - D", SINGLE, "single", "D"),
    ("I choose (D) because of the volume loss.", SINGLE, "single", "D"),
    ("A. Cardiomegaly", SINGLE, "single", "A"),
    ("E", SINGLE, "single", None),
    ("The answer is F.", SINGLE, "single", None),
    ("Options A and C are wrong; the answer is B", SINGLE, "single", "B"),
    ("The correct option is B because the left costophrenic angle is blunted.", SINGLE, "single",
     "B"),
    # --- option text instead of the letter -------------------------------------------------------
    ("Cardiomegaly.", SINGLE, "single", "A"),
    ("  PLEURAL   effusion!! ", SINGLE, "single", "B"),
    ("A large pleural effusion is present.", SINGLE, "single", "B"),
    ("A large effusion layers at the right base.", SINGLE, "single", None),
    ("Cardiomegaly was considered, but the heart is normal in size. Final answer: atelectasis",
     SINGLE, "single", "D"),
    ("There is no pneumothorax. The correct answer is pleural effusion.", SINGLE, "single", "B"),
    ("A pneumothorax would show a pleural line, and none is seen. The angles are blunted.\n"
     "Therefore, the finding is pleural effusion.", SINGLE, "single", "B"),
    # --- long analyses: the conclusion counts, not the options discussed -------------------------
    (ANALYSIS + "After weighing each option, the most consistent finding is:\n\nC) Pneumothorax.",
     SINGLE, "single", "C"),
    (ANALYSIS + "Option A is unlikely. Given the analysis, **Option C: Pneumothorax** is the most "
     "likely finding in this image.", SINGLE, "single", "C"),
    ("Thus, option B is unlikely. The heart is enlarged, so option A fits best.", SINGLE, "single",
     "A"),
    # --- multi: a set of findings, in any order --------------------------------------------------
    ("<answer>pleural effusion, cardiomegaly</answer>", MULTI, "multi", "A"),
    ("Final answer: rib fracture, pneumothorax", MULTI, "multi", "B"),
    ("The findings are best described by option C: pulmonary edema, bibasilar atelectasis.",
     MULTI, "multi", "C"),
    # --- transcripts and echoed prompts ----------------------------------------------------------
    (f"user: {PROMPT}\nassistant: The costophrenic angle is blunted, so the answer is B.", SINGLE,
     "single", "B"),
    (f"user: {PROMPT}\nassistant: I cannot assess this image.", SINGLE, "single", None),
    (PROMPT, SINGLE, "single", None),
    ("Which finding is in this chest X-ray? A) cardiomegaly B) pleural effusion C) pneumothorax "
     "D) atelectasis", SINGLE, "single", None),
    (PROMPT + "\nAnswer: C", SINGLE, "single", "C"),
    ("<|im_start|>user\nDoes this chest X-ray show pneumothorax?\nA) Yes B) No<|im_end|>\n"
     "<|im_start|>assistant\nNo, lung markings reach the chest wall.<|im_end|>", YES_NO, "binary",
     "B"),
    # --- binary ----------------------------------------------------------------------------------
    ("yes", YES_NO, "binary", "A"),
    ("Yes, there is a small right apical pneumothorax.", YES_NO, "binary", "A"),
    ("No.", YES_NO, "binary", "B"),
    ("After reviewing both lungs, the answer is no.", YES_NO, "binary", "B"),
    ("<answer>No</answer>", YES_NO, "binary", "B"),
    ("Pneumothorax is absent.", YES_NO, "binary", "B"),
    ("Finding present.", YES_NO, "binary", "A"),
    # --- anomaly and temporal --------------------------------------------------------------------
    ("Abnormal", ANOMALY, "anomaly", "B"),
    ("The radiograph is normal.", ANOMALY, "anomaly", "A"),
    ("This study shows no abnormality.", ANOMALY, "anomaly", "A"),
    ("The study is not normal.", ANOMALY, "anomaly", "B"),
    ("<answer>abnormal</answer>", ANOMALY, "anomaly", "B"),
    ("Improved", TEMPORAL, "temporal", "C"),
    ("The effusion has worsened compared with the prior study.", TEMPORAL, "temporal", "B"),
    ("Unchanged from prior.", TEMPORAL, "temporal", "A"),
    ("<answer>Stable</answer>", TEMPORAL, "temporal", "A"),
    # --- nothing to read -------------------------------------------------------------------------
    (None, SINGLE, "single", None),
    ("", SINGLE, "single", None),
    ("   \n ", YES_NO, "binary", None),
    # --- multi_open: findings, normalised --------------------------------------------------------
    ("<answer>Enlarged heart, small bilateral pleural effusions</answer>", [], "multi_open",
     "cardiomegaly, pleural effusion"),
    ("Findings:\n- Cardiomegaly\n- Left basilar atelectasis\n- No pneumothorax", [], "multi_open",
     "atelectasis, cardiomegaly"),
    ("Step-by-step review of the film.\n\n**Conclusion**:\nThe findings suggest cardiomegaly with "
     "mild pulmonary edema. No pleural effusion or pneumothorax is seen.", [], "multi_open",
     "cardiomegaly, edema"),
    ("I reviewed the lungs, heart and bones in turn.\n\nConclusion: The chest X-ray appears normal "
     "without acute abnormality.", [], "multi_open", "no finding"),
    ("<answer>azygos lobe; calcified granuloma</answer>", [], "multi_open",
     "azygos lobe, granuloma"),
    ("In summary, the findings present are: atelectasis, cardiomegaly.", [], "multi_open",
     "atelectasis, cardiomegaly"),
    ("", [], "multi_open", None),
]


@pytest.mark.parametrize(("prediction", "options", "task", "expected"), CASES)
def test_parse_answer_cases(prediction, options, task, expected):
    assert parse_answer(prediction, options, task) == expected


# A letter with option words: the words must be that option's, in any wording; another single
# option's words make the answer that option, findings of no single option make it no answer.
LUNG = ["consolidation", "atelectasis, lung opacity, pleural effusion",
        "atelectasis, pleural effusion", "lung opacity"]
FOUR = ["consolidation", "pulmonary edema", "pneumothorax", "cardiomegaly"]
LONG = ("The cardiac silhouette is within normal limits and the mediastinum is not widened. "
        "The costophrenic angles are sharp and there is no free air under the diaphragm.\n\n")
LETTER_TEXT_CASES = [
    # --- right words (or none): the letter stands ------------------------------------------------
    ("<answer>A</answer>", FOUR, "single", "A"),
    ("<answer>A) Consolidation.</answer>", FOUR, "single", "A"),
    ("<answer>A: consolidation</answer>", FOUR, "single", "A"),
    ("<answer>A (consolidation)</answer>", FOUR, "single", "A"),
    ("<answer>A) CONSOLIDATION in the right lower lobe</answer>", FOUR, "single", "A"),
    ("<answer>A) consolidation with air bronchograms</answer>", FOUR, "single", "A"),
    ("<answer>B) Edema</answer>", FOUR, "single", "B"),
    ("<answer>D) enlarged heart</answer>", FOUR, "single", "D"),
    ("<answer>A) because the lower lobe is dense</answer>", FOUR, "single", "A"),
    (LONG + "Therefore, the answer is A) consolidation.", FOUR, "single", "A"),
    (LONG + "**Final answer: B) Pulmonary edema**", FOUR, "single", "B"),
    (LONG + "Answer: A) consolidation, no pneumothorax", FOUR, "single", "A"),
    ("<answer>B) atelectasis, lung opacity, pleural effusion</answer>", LUNG, "multi", "B"),
    ("<answer>B) Pleural effusions, atelectasis and airspace opacity.</answer>", LUNG, "multi",
     "B"),
    (LONG + "The answer is B) atelectasis, lung opacity, pleural effusion.", LUNG, "multi", "B"),
    ("<answer>C: Pulmonary oedema, atelectasis at both bases</answer>", MULTI, "multi", "C"),
    ("<answer>A) Yes</answer>", YES_NO, "binary", "A"),
    ("<answer>B) No, there is no effusion.</answer>", YES_NO, "binary", "B"),
    ("<answer>C) Improved</answer>", TEMPORAL, "temporal", "C"),
    # --- another option's words: that option ----------------------------------------------------
    ("<answer>A) atelectasis, lung opacity, pleural effusion</answer>", LUNG, "multi", "B"),
    (LONG + "Therefore, the answer is A) atelectasis, lung opacity, pleural effusion.", LUNG,
     "multi", "B"),
    ("Therefore, the answer is A) atelectasis, lung opacity, pleural effusion.", LUNG, "multi",
     "B"),
    ("<answer>B) atelectasis, pleural effusion</answer>", LUNG, "multi", "C"),
    ("<answer>A) pulmonary edema</answer>", FOUR, "single", "B"),
    (LONG + "The findings are most consistent with option A: edema.", FOUR, "single", "B"),
    (LONG + "Final answer: A) enlarged cardiac silhouette", FOUR, "single", "D"),
    (LONG + "A) Pneumothorax", FOUR, "single", "C"),
    ("<answer>A) No</answer>", YES_NO, "binary", "B"),
    ("<answer>A) Abnormal</answer>", ANOMALY, "anomaly", "B"),
    ("<answer>A) Worsening</answer>", TEMPORAL, "temporal", "B"),
    # --- findings of no single option: no answer ------------------------------------------------
    ("<answer>A) atelectasis, lung opacity</answer>", LUNG, "multi", None),
    ("Final answer: B) atelectasis, lung opacity", LUNG, "multi", None),
    (LONG + "The answer is D) atelectasis, pleural effusion, pneumothorax.", LUNG, "multi", None),
    ("<answer>A) fracture</answer>", FOUR, "single", None),
    (LONG + "So the answer is A) consolidation and pulmonary edema.", FOUR, "single", None),
]


@pytest.mark.parametrize(("prediction", "options", "task", "expected"), LETTER_TEXT_CASES)
def test_a_letter_counts_only_with_its_own_option_words(prediction, options, task, expected):
    assert parse_answer(prediction, options, task) == expected


STEP_CASES = [
    ("<think> First, assess the heart. The cardiac silhouette is enlarged, e.g. the ratio exceeds "
     "half the chest width. Next, the costophrenic angles are sharp. </think><answer> A </answer>",
     ["First, assess the heart.",
      "The cardiac silhouette is enlarged, e.g. the ratio exceeds half the chest width.",
      "Next, the costophrenic angles are sharp."]),
    ("To evaluate the film:\n\n1. **Heart size**:\n   - The cardiac silhouette is enlarged.\n"
     "2. **Pleura**:\n   - The left costophrenic angle is blunted.\n\n**Conclusion**:\n"
     "The findings suggest cardiomegaly with effusion.\n\nThe answer is B.",
     ["The cardiac silhouette is enlarged.", "The left costophrenic angle is blunted.",
      "The findings suggest cardiomegaly with effusion."]),
    ("- Lungs are clear bilaterally.\n- No pleural effusion or pneumothorax.\n"
     "- Heart size is within normal limits.",
     ["Lungs are clear bilaterally.", "No pleural effusion or pneumothorax.",
      "Heart size is within normal limits."]),
    ("The lungs are hyperinflated with flattened diaphragms.\n\nThere is no focal consolidation "
     "to suggest pneumonia.\n\nOk.",
     ["The lungs are hyperinflated with flattened diaphragms.",
      "There is no focal consolidation to suggest pneumonia."]),
    ("The heart is enlarged. The lungs are clear. Therefore, the answer is A.",
     ["The heart is enlarged.", "The lungs are clear."]),
    ("<think>Step 1: check the heart, it is enlarged.\nStep 2: check the pleura, no effusion."
     "<answer>A</answer>",
     ["check the heart, it is enlarged.", "check the pleura, no effusion."]),
    ("user: Is there an effusion?\nassistant: <think>The aorta is tortuous and calcified."
     "</think><answer>B</answer>", ["The aorta is tortuous and calcified."]),
]


@pytest.mark.parametrize(("prediction", "steps"), STEP_CASES)
def test_reasoning_steps(prediction, steps):
    assert split_steps(extract_reasoning(prediction)) == steps


def test_reasoning_edges():
    assert extract_reasoning(None) == ""
    assert split_steps("") == []
    assert extract_reasoning("<think> Big heart. </think><answer>A</answer>") == "Big heart."
    assert "answer" not in extract_reasoning("Lungs clear.\nFinal answer: B").lower()
    assert split_steps("Findings:\n\nImpression:") == []


def test_findings_vocabulary_and_score():
    assert parse_findings("Pleural effusions; enlarged heart.") == ["cardiomegaly",
                                                                     "pleural effusion"]
    assert parse_findings("1. No pneumothorax\n2. Carina of trachea.") == ["carina of trachea"]
    item = {"task": "multi_open", "options": [], "answer": "pleural effusion, cardiomegaly"}
    assert answer_score(item, "effusion, enlarged heart", use_ratescore=False) == 1.0
    assert answer_score(item, None) == 0.0
    # a coarser name counts through the CheXpert observation: nodule ~ lung lesion
    assert finding_f1(parse_findings("nodule"), parse_findings("lung lesion")) == 1.0
    assert answer_score(item, "cardiomegaly", use_ratescore=False) == pytest.approx(2 / 3)
    assert answer_score({"task": "single", "options": SINGLE, "answer": "B"}, "B") == 1.0
    assert answer_score({"task": "single", "options": SINGLE, "answer": "B"}, "C") == 0.0
    assert ratescore_available() is False
    assert METRICS["accuracy"][0] == "mean"


# --- properties ------------------------------------------------------------------------------
# Option words all contain a letter a-h, so noise drawn from i-z can never spell one.
WORDS = ["cardiomegaly", "effusion", "pleural", "edema", "atelectasis", "pneumothorax", "nodule",
         "mass", "fracture", "opacity", "consolidation", "hernia", "granuloma", "scarring", "left",
         "right", "basal", "apical", "mild", "severe", "hilar", "calcified", "tube", "device"]
option_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3, unique=True).map(" ".join)
option_lists = st.lists(option_text, min_size=2, max_size=5, unique=True)
FINDING_POOL = ["pleural effusions", "enlarged heart", "cardiomegaly", "left basilar atelectasis",
                "small apical pneumothorax", "calcified granuloma", "azygos lobe",
                "nipple shadow", "degenerative changes of the spine", "hiatal hernia",
                "no pneumothorax", "lung lesion", "nodule", "support devices", "normal heart size"]
finding_item = st.one_of(st.sampled_from(FINDING_POOL),
                         st.from_regex(r"[a-z]{3,9}( [a-z]{3,9})?", fullmatch=True)
                         .filter(lambda s: "and" not in s.split()))
_NOISE_FORBIDDEN = ("answer", "assistant", "gpt", "[/inst]", "<|")


@settings(max_examples=150, deadline=None)
@given(options_=option_lists, data=st.data(), before=st.text(), after=st.text())
def test_tag_wins_over_any_surrounding_text(options_, data, before, after):
    assume(not any(w in (before + after).lower() for w in _NOISE_FORBIDDEN))
    index = data.draw(st.integers(0, len(options_) - 1))
    letter = "ABCDEFGH"[index]
    assert parse_answer(f"{before}<answer>{letter}</answer>{after}", options_, "single") == letter


@settings(max_examples=150, deadline=None)
@given(options_=option_lists, data=st.data())
def test_option_text_alone_gives_its_letter(options_, data):
    index = data.draw(st.integers(0, len(options_) - 1))
    assert parse_answer(options_[index], options_, "single") == "ABCDEFGH"[index]


@settings(max_examples=200, deadline=None)
@given(options_=st.one_of(option_lists, st.sampled_from([YES_NO, ANOMALY, TEMPORAL])),
       text=st.text(alphabet="ijklmnopqrstuvwxyzIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?()-\n"))
def test_noise_without_letters_or_options_gives_none(options_, text):
    assume(not re.search(r"\bno\b", text, re.IGNORECASE))
    assert parse_answer(text, options_, "single") is None


@settings(max_examples=150, deadline=None)
@given(items=st.lists(finding_item, min_size=1, max_size=6), data=st.data(),
       sep=st.sampled_from([", ", "; ", "\n", " and ", "\n- "]))
def test_parse_findings_order_insensitive_and_idempotent(items, data, sep):
    found = parse_findings(sep.join(items))
    shuffled = data.draw(st.permutations(items))
    assert parse_findings(sep.join(shuffled)) == found
    assert parse_findings(", ".join(found)) == found


@settings(max_examples=150, deadline=None)
@given(a=st.lists(finding_item, min_size=1, max_size=5),
       b=st.lists(finding_item, min_size=1, max_size=5), data=st.data())
def test_multi_open_score_is_symmetric_f1(a, b, data):
    def score(answer, parsed):
        item = {"task": "multi_open", "options": [], "answer": ", ".join(answer)}
        return answer_score(item, ", ".join(parsed), use_ratescore=False)

    assert 0.0 <= score(a, b) <= 1.0
    assert score(a, b) == score(b, a)
    assert score(a, data.draw(st.permutations(a))) == 1.0
