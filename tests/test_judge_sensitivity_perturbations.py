"""The sensitivity benchmark's dropped-steps perturbation: it must lose a finding for real.

A copy that only drops a plan, or a finding the kept chain states again in other words (the
answer's option, "heart size is normal" for "no cardiomegaly"), loses nothing; a judge that
keeps its completeness there is right, and counting it a miss would mismeasure the judge.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import judge_sensitivity as bench


def _item(steps: list[str], **extra: object) -> dict:
    return {"task": "binary", "options": ["Yes", "No"], "answer": "A", "reasoning": steps,
            "report": "", **extra}


def test_plans_in_the_imperative_or_first_person_are_not_observations() -> None:
    for plan in ("Search for rib fractures by checking for any discontinuity in the ribs.",
                 "I begin by examining the heart size, pleural effusions and lung opacities.",
                 "This requires examining the right upper lung field for any nodule.",
                 "One of the potential findings is severe atelectasis in the right lower lobe.",
                 "Next, consider the possibility of fibrosis in the lower lobes."):
        assert not bench.observing(plan), plan
    for seen in ("Inspection shows a mild right-sided pleural effusion that remains unchanged.",
                 "There is no pneumothorax.",
                 "Examining the pleura, there is no evidence of pleural effusion."):
        assert bench.observing(seen), seen


def test_a_finding_said_again_in_other_words_is_not_lost() -> None:
    item = _item([])
    assert not bench.lost_findings(item, ["There is no cardiomegaly."],
                                   "The heart size is normal.")
    assert not bench.lost_findings(item, ["A small left pleural effusion is seen."],
                                   "The effusion is unchanged.")
    assert not bench.lost_findings(item, ["There is no pleural effusion."],
                                   "The costophrenic angles are sharp.")
    assert not bench.lost_findings(item, ["A calcified nodule in the left mid lung."],
                                   "A calcified granuloma is present.")
    # Clear lungs deny each finding of the parenchyma, not what they assert.
    assert not bench.lost_findings(item, ["There is no focal consolidation."],
                                   "The lungs are clear.")
    assert bench.lost_findings(item, ["There is right lower lobe consolidation."],
                               "The lungs are otherwise clear.") == {"consolidation"}


def test_pneumothorax_and_pneumonia_are_different_findings() -> None:
    item = _item([])
    assert bench.lost_findings(item, ["There is no pneumothorax."],
                               "Right lower lobe pneumonia is likely.") == {"pneumothorax"}


def test_the_answer_and_options_named_by_letter_say_their_findings_again() -> None:
    item = {"task": "single", "answer": "B",
            "options": ["pleural effusion", "cardiomegaly", "pneumothorax", "edema"]}
    # The replayed prediction ends with "<answer>B) cardiomegaly</answer>".
    assert not bench.lost_findings(item, ["The heart is enlarged: cardiomegaly."],
                                   "So the answer is B.")
    assert not bench.lost_findings(item, ["There is no pleural effusion."],
                                   "Option A is ruled out. The answer is B.")
    assert bench.lost_findings(item, ["There is no pleural effusion."],
                               "The answer is B.") == {"effusion"}
    # A normal answer denies every option's finding.
    normal = {**item, "options": ["pleural effusion", "cardiomegaly", "normal"], "answer": "C"}
    assert not bench.lost_findings(normal, ["There is no pleural effusion."], "The answer is C.")


def test_dropped_steps_skips_a_chain_that_loses_nothing_and_drops_one_that_does() -> None:
    restated = ["There is no pleural effusion.", "The heart is enlarged.",
                "The costophrenic angles are sharp, so no effusion.",
                "Therefore there is cardiomegaly and no effusion."]
    assert bench.dropped(_item(restated), restated) is None
    losing = ["There is no pneumothorax.", "The heart is enlarged.",
              "A small left pleural effusion is seen.", "Therefore the answer is yes."]
    changed = bench.dropped(_item(losing), losing)
    assert changed is not None
    assert not any("pneumothorax" in step for step in changed)
    assert any("enlarged" in step for step in changed)
