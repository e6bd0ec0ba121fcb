"""The GRPO rewards, called the way TRL's GRPOTrainer calls them (issue 9)."""

from __future__ import annotations

import pickle

import pytest

from chestx_reasoner.models.prompt import target_text
from chestx_reasoner.scoring.judge_rules import RulesJudge
from chestx_reasoner.train.rewards import (
    REWARDS,
    ProcessReward,
    completion_text,
    format_reward,
    get_reward_funcs,
    outcome_reward,
    process_reward,
)

REPORT = ("FINDINGS: There is a moderate left pleural effusion. The heart size is normal. "
          "No pneumothorax. IMPRESSION: Left pleural effusion.")
ITEM = {
    "id": "s1-binary", "task": "binary", "question": "Does this chest X-ray show pleural effusion?",
    "options": ["Yes", "No"], "answer": "A", "report": REPORT,
    "reasoning": ["The left costophrenic angle is blunted with a meniscus, consistent with a "
                  "moderate left pleural effusion.",
                  "The heart size is normal and there is no pneumothorax.",
                  "So the answer is Yes."],
}
FAITHFUL = ["The left costophrenic angle is blunted with a meniscus, indicating a moderate left "
            "pleural effusion.", "The heart size is normal.", "There is no pneumothorax."]
CONTRADICTING = ["There is a moderate left pleural effusion.",
                 "The heart is enlarged, consistent with cardiomegaly.",
                 "There is a large right pneumothorax."]
SINGLE = {"task": "single", "options": ["edema", "pneumothorax", "cardiomegaly", "atelectasis"],
          "answer": "C"}
WELL_FORMED = "<think>\nThe left costophrenic angle is blunted.\n</think>\n<answer>A</answer>"


def columns(*items: dict, **extra) -> dict:
    """Dataset columns as TRL passes them: one list per column, aligned with completions."""
    keys = ("id", "task", "question", "options", "answer", "report", "reasoning")
    return {key: [item[key] for item in items] for key in keys} | extra


def as_messages(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def as_parts(text: str) -> list[dict]:
    half = len(text) // 2
    return [{"role": "assistant", "content": [{"type": "text", "text": text[:half]},
                                              {"type": "text", "text": text[half:]}]}]


@pytest.fixture(scope="module")
def judge() -> RulesJudge:
    return RulesJudge()


class TestFormatReward:
    @pytest.mark.parametrize("text", [
        WELL_FORMED,
        target_text(["One step.", "Another step."], "B"),
        "  <think>x</think>   <answer> B </answer>\n",
    ])
    def test_well_formed(self, text):
        assert format_reward([text]) == [1.0]

    @pytest.mark.parametrize("text", [
        "The effusion is on the left. The answer is A.",
        "<think>Blunted angle.</think> A",
        "Blunted angle.</think><answer>A</answer>",
        "<answer>A</answer>",  # answer-only: fine for SFT, not what GRPO rewards
    ], ids=["no-tags", "no-answer", "no-think-open", "answer-only"])
    def test_missing_tags(self, text):
        assert format_reward([text]) == [0.0]

    def test_two_answers(self):
        assert format_reward(["<think>x</think><answer>A</answer><answer>B</answer>"]) == [0.0]
        assert format_reward(["<think>x</think><answer>A <answer>B</answer>"]) == [0.0]

    def test_two_thinks(self):
        assert format_reward(["<think>x</think><think>y</think><answer>A</answer>"]) == [0.0]

    @pytest.mark.parametrize("text", ["<think></think><answer>A</answer>",
                                      "<think> \n </think><answer>A</answer>",
                                      "<think>x</think><answer>  </answer>"])
    def test_empty_parts(self, text):
        assert format_reward([text]) == [0.0]

    def test_out_of_order(self):
        assert format_reward(["<answer>A</answer><think>x</think>"]) == [0.0]
        assert format_reward(["<think>x<answer>A</answer></think>"]) == [0.0]

    def test_text_around_or_between(self):
        assert format_reward(["Sure! " + WELL_FORMED]) == [0.0]
        assert format_reward([WELL_FORMED + " Hope this helps."]) == [0.0]
        assert format_reward(["<think>x</think> so <answer>A</answer>"]) == [0.0]

    def test_empty_completion(self):
        assert format_reward(["", [], as_messages("")]) == [0.0, 0.0, 0.0]

    def test_conversational_and_extra_kwargs(self):
        texts = [WELL_FORMED, "<answer>A</answer>"]
        plain = format_reward(texts)
        assert plain == [1.0, 0.0]
        assert format_reward([as_messages(t) for t in texts], prompts=["p", "q"]) == plain
        assert format_reward([as_parts(t) for t in texts], **columns(ITEM, ITEM)) == plain


class TestOutcomeReward:
    def call(self, texts, item, **extra):
        n = len(texts)
        return outcome_reward(texts, answer=[item["answer"]] * n, task=[item["task"]] * n,
                              options=[item["options"]] * n, **extra)

    def test_single_letter(self):
        texts = ["<think>The heart is enlarged.</think><answer>C</answer>",
                 "<think>The heart is enlarged.</think><answer>B</answer>"]
        assert self.call(texts, SINGLE) == [1.0, 0.0]

    def test_single_option_text(self):
        texts = ["<think>The heart is enlarged.</think><answer>cardiomegaly</answer>",
                 "<think>Lung edge seen.</think><answer>pneumothorax</answer>"]
        assert self.call(texts, SINGLE) == [1.0, 0.0]

    def test_binary_yes_no(self):
        texts = ["<think>Blunted angle.</think><answer>Yes</answer>",
                 "<think>Sharp angles.</think><answer>No</answer>",
                 "<think>Blunted angle.</think><answer>A</answer>"]
        assert self.call(texts, ITEM) == [1.0, 0.0, 1.0]

    def test_multi_open_f1(self):
        item = {"task": "multi_open", "options": [], "answer": "cardiomegaly, pleural effusion"}
        texts = ["<think>x y z</think><answer>enlarged heart, pleural effusions</answer>",
                 "<think>x y z</think><answer>cardiomegaly, pneumothorax</answer>",
                 "<think>x y z</think><answer>pneumothorax</answer>"]
        assert self.call(texts, item) == pytest.approx([1.0, 0.5, 0.0])

    def test_unparsable_and_empty(self):
        assert self.call(["", "I cannot tell."], SINGLE) == [0.0, 0.0]

    def test_no_gold_answer_is_none(self):
        assert outcome_reward(["<answer>A</answer>"], answer=[None], task=["binary"],
                              options=[["Yes", "No"]]) == [None]

    def test_conversational_and_extra_kwargs(self):
        texts = ["<think>t</think><answer>C</answer>", "<think>t</think><answer>A</answer>"]
        plain = self.call(texts, SINGLE)
        assert plain == [1.0, 0.0]
        assert self.call([as_messages(t) for t in texts], SINGLE) == plain
        assert self.call([as_parts(t) for t in texts], SINGLE, prompts=["p", "q"],
                         completion_ids=[[1], [2]], report=["r", "r"], trainer_state=None,
                         images=[["a.jpg"], ["b.jpg"]]) == plain


class TestProcessReward:
    def call(self, reward, texts, item=ITEM, **extra):
        return reward(texts, **columns(*[item] * len(texts), **extra))

    def test_fluent_factual_chain_with_wrong_answer_earns_nothing(self, judge):
        """The gate the issue asks for: right reasoning, wrong answer -> 0."""
        reward = process_reward(judge)
        wrong = target_text(FAITHFUL, "B")
        assert self.call(reward, [wrong]) == [0.0]
        assert outcome_reward([wrong], answer=["A"], task=["binary"],
                              options=[["Yes", "No"]]) == [0.0]

    def test_same_chain_with_right_answer_is_paid(self, judge):
        [score] = self.call(process_reward(judge), [target_text(FAITHFUL, "A")])
        assert score > 0.5

    def test_contradicting_chain_earns_less(self, judge):
        faithful, contradicting = self.call(process_reward(judge), [
            target_text(FAITHFUL, "A"), target_text(CONTRADICTING, "A")])
        assert contradicting < faithful

    def test_multi_open_gate(self, judge):
        item = dict(ITEM, task="multi_open", options=[], answer="pleural effusion",
                    question="Which findings are in this chest X-ray?")
        right = target_text(FAITHFUL, "pleural effusion")
        partly = target_text(FAITHFUL, "pleural effusion, pneumothorax")
        paid, gated = self.call(process_reward(judge), [right, partly], item)
        assert paid > 0.5
        assert gated == 0.0

    def test_answer_only_completion_is_unpaid(self, judge):
        assert self.call(process_reward(judge), ["<answer>A</answer>"]) == [0.0]

    def test_item_without_report_is_none(self, judge):
        item = dict(ITEM, report="", reasoning=[])
        assert self.call(process_reward(judge), [target_text(FAITHFUL, "A")], item) == [None]
        no_column = {k: v for k, v in columns(ITEM).items() if k != "report"}
        assert process_reward(judge)([target_text(FAITHFUL, "A")], **no_column) == [None]

    def test_empty_completion(self, judge):
        assert self.call(process_reward(judge), ["", as_messages("")]) == [0.0, 0.0]

    def test_conversational_and_extra_kwargs(self, judge):
        reward = process_reward(judge)
        texts = [target_text(FAITHFUL, "A"), target_text(CONTRADICTING, "A"),
                 target_text(FAITHFUL, "B")]
        plain = self.call(reward, texts)
        assert plain[0] > plain[1] > plain[2] == 0.0
        assert self.call(reward, [as_messages(t) for t in texts]) == plain
        assert self.call(reward, [as_parts(t) for t in texts], prompts=["p"] * 3,
                         completion_ids=[[1]] * 3, trainer_state=None, source=["x"] * 3) == plain

    def test_named_for_trl(self):
        reward = process_reward()
        assert isinstance(reward, ProcessReward)
        assert reward.__name__ == "process_reward"
        assert reward._judge is None  # lazy: nothing heavy built until the first call

    def test_pickle_round_trip_drops_lazy_judge(self):
        reward = process_reward()
        text = target_text(FAITHFUL, "A")
        before = self.call(reward, [text])
        assert reward._judge is not None
        data = pickle.dumps(reward)
        assert b"spacy" not in data.lower()
        restored = pickle.loads(data)
        assert restored._judge is None
        assert self.call(restored, [text]) == before


class TestRegistry:
    def test_short_names(self):
        assert sorted(REWARDS) == ["format", "outcome", "process"]
        assert REWARDS["format"] is format_reward
        assert REWARDS["outcome"] is outcome_reward

    def test_get_reward_funcs(self):
        funcs = get_reward_funcs(["outcome", "format", "process"])
        assert funcs[:2] == [outcome_reward, format_reward]
        assert isinstance(funcs[2], ProcessReward)
        assert funcs[2] is not REWARDS["process"]
        assert [getattr(f, "__name__", None) for f in funcs] == [
            "outcome_reward", "format_reward", "process_reward"]

    def test_unknown_name_lists_valid_ones(self):
        with pytest.raises(ValueError, match="oops") as error:
            get_reward_funcs(["format", "oops"])
        assert "format, outcome, process" in str(error.value)

    def test_typo_gets_suggestion(self):
        with pytest.raises(ValueError, match="did you mean 'outcome'"):
            get_reward_funcs(["outcom"])


class TestCompletionText:
    @pytest.mark.parametrize("completion, text", [
        ("plain", "plain"),
        ([{"role": "assistant", "content": "a"}], "a"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "a"},
                                            {"type": "image"}, {"type": "text", "text": "b"}]}],
         "ab"),
        ([{"role": "user", "content": "prompt"}, {"role": "assistant", "content": "a"}], "a"),
        ([{"role": "assistant", "content": None}], ""),
        (None, ""),
    ])
    def test_shapes(self, completion, text):
        assert completion_text(completion) == text
