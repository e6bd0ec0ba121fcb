"""The shared prompt (models/prompt.py), the random and reference adapters, the model registry and
`predict_file`'s reading, skipping, refusing and image-root behaviour."""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from chestx_reasoner.bench.sample import FINDING_NAMES
from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.models import LoadOptions, ModelLoadError, load_model
from chestx_reasoner.models.base import GenerationSettings, PreparedItem
from chestx_reasoner.models.predict import predict_file
from chestx_reasoner.models.prompt import (
    build_messages,
    image_parts,
    instruction,
    options_text,
    target_text,
    user_text,
)
from chestx_reasoner.progress import JobSummary
from chestx_reasoner.registry import UnknownNameError

OPTION_TASKS = ("binary", "single", "multi", "anomaly", "temporal")
SETTINGS = GenerationSettings(batch_size=16)


def sample(item_id: str, task: str = "single", **extra: Any) -> dict[str, Any]:
    options = {"binary": ["Yes", "No"], "anomaly": ["Normal", "Abnormal"],
               "temporal": ["improved", "unchanged", "worsened"],
               "multi_open": []}.get(task, ["edema", "pneumothorax", "cardiomegaly", "fracture"])
    images = ["img/prior.jpg", "img/current.jpg"] if task == "temporal" else [f"img/{item_id}.jpg"]
    record = {"id": item_id, "source": "synthetic", "task": task, "split": "test",
              "images": images, "question": f"Question {item_id}?", "options": options,
              "answer": "cardiomegaly, pleural effusion" if task == "multi_open" else "B",
              "report": "", "reasoning": []}
    record.update(extra)
    return record


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read_out(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(model: Any, records: list[dict[str, Any]], folder: Path, name: str = "out.jsonl",
        **kwargs: Any) -> tuple[JobSummary, list[dict[str, Any]]]:
    bench = folder / "bench.jsonl"
    if not bench.exists():
        write_jsonl(bench, records)
    out = folder / name
    summary = predict_file(bench, out, model, SETTINGS, **kwargs)
    return summary, read_out(out)


def answer_of(prediction: str) -> str:
    match = re.fullmatch(r"<answer>(.*)</answer>", prediction)
    assert match, prediction
    return match.group(1)


# --- prompt ---------------------------------------------------------------------------------

def test_user_text_letters_the_options_and_ends_with_the_instruction() -> None:
    text = user_text({"task": "single", "question": "  Which finding?  ",
                      "options": ["edema", "pneumothorax", "cardiomegaly"]})
    lines = text.split("\n")
    assert lines[:4] == ["Which finding?", "A) edema", "B) pneumothorax", "C) cardiomegaly"]
    assert len(lines) == 5 and lines[4] == instruction("single")
    assert "<think></think>" in lines[4] and "<answer></answer>" in lines[4]
    assert "letter of the correct option" in lines[4]


def test_multi_open_has_no_options_and_asks_for_findings() -> None:
    text = user_text({"task": "multi_open", "question": "Which findings are present?",
                      "options": []})
    assert text.split("\n")[0] == "Which findings are present?"
    assert not re.search(r"^[A-H]\) ", text, flags=re.M)
    assert "separated by commas" in text and "letter" not in text
    assert "<answer></answer>" in text


def test_temporal_images_are_labelled_prior_then_current() -> None:
    parts = image_parts({"task": "temporal", "images": ["p.jpg", "c.jpg"]},
                        image=lambda index: {"type": "image", "index": index})
    assert parts == [{"type": "text", "text": "Prior study:"}, {"type": "image", "index": 0},
                     {"type": "text", "text": "Current study:"}, {"type": "image", "index": 1}]
    assert image_parts({"task": "single", "images": ["a.jpg"]}) == [{"type": "image"}]
    assert image_parts({"task": "single", "images": []}) == []


def test_build_messages_with_and_without_a_system_prompt() -> None:
    record = {"task": "binary", "question": "Is there edema?", "options": ["Yes", "No"],
              "images": ["a.jpg"]}
    system, user = build_messages(record, system="You are a radiologist.")
    assert system == {"role": "system",
                      "content": [{"type": "text", "text": "You are a radiologist."}]}
    assert user["role"] == "user"
    assert user["content"] == [{"type": "image"}, {"type": "text", "text": user_text(record)}]
    assert build_messages(record) == [user]


def test_target_text_with_steps_and_answer_only() -> None:
    assert target_text([" The heart is large. ", "", "   ", "So B."], "B") == \
        "<think>\nThe heart is large.\nSo B.\n</think>\n<answer>B</answer>"
    assert target_text([], "A") == "<answer>A</answer>"
    assert target_text(["", " "], "C") == "<answer>C</answer>"


def test_options_text_refuses_more_than_eight() -> None:
    eight = [f"option {n}" for n in range(8)]
    assert options_text(eight).split("\n")[-1] == "H) option 7"
    with pytest.raises(ValueError, match="at most 8"):
        options_text([*eight, "one too many"])


# --- random ---------------------------------------------------------------------------------

def test_random_is_seeded_and_answers_validly(tmp_path: Path) -> None:
    records = [sample(f"{task}{n}", task) for n in range(30)
               for task in ("binary", "single", "multi_open")]
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        summary, out = run(load_model("random", LoadOptions(seed=seed)), records, tmp_path,
                           f"{name}.jsonl")
        assert summary.done == len(records)
        runs[name] = [r["prediction"] for r in out]
    assert runs["a"] == runs["b"]
    assert sum(x != y for x, y in zip(runs["a"], runs["c"], strict=True)) > 10
    vocabulary = set(FINDING_NAMES.values())
    for record, prediction in zip(records, runs["a"], strict=True):
        answer = answer_of(prediction)
        if record["task"] == "multi_open":
            findings = answer.split(", ")
            assert 1 <= len(findings) <= 3 and len(set(findings)) == len(findings)
            assert set(findings) <= vocabulary
        else:
            assert answer in "ABCD"[: len(record["options"])] and len(answer) == 1


def test_random_resumed_run_writes_what_an_uninterrupted_one_would(tmp_path: Path) -> None:
    records = [sample(f"s{n}") for n in range(20)]
    _, whole = run(load_model("random"), records, tmp_path, "whole.jsonl")
    write_jsonl(tmp_path / "half.jsonl", whole[:7])
    summary, resumed = run(load_model("random"), records, tmp_path, "half.jsonl")
    assert summary.already_done == 7 and summary.done == 13
    assert resumed == whole


def test_random_binary_accuracy_is_near_chance(tmp_path: Path) -> None:
    from chestx_reasoner.scoring.outcome import answer_score
    from chestx_reasoner.scoring.parse import parse_answer

    rng = random.Random(7)
    records = [sample(f"b{n}", "binary", answer=rng.choice("AB")) for n in range(400)]
    _, out = run(load_model("random"), records, tmp_path)
    assert len(out) == 400
    scores = [answer_score(r, parse_answer(r["prediction"], r["options"], r["task"]),
                           use_ratescore=False) for r in out]
    assert set(scores) == {0.0, 1.0}
    assert 0.42 < sum(scores) / len(scores) < 0.58


# --- reference ------------------------------------------------------------------------------

@pytest.mark.parametrize("task", [*OPTION_TASKS, "multi_open"])
def test_reference_answers_right_with_its_reasoning(tmp_path: Path, task: str) -> None:
    from chestx_reasoner.scoring.outcome import answer_score
    from chestx_reasoner.scoring.parse import parse_answer

    steps = ["The cardiac silhouette is enlarged.", "The costophrenic angles are blunted."]
    records = [sample("r1", task, reasoning=steps), sample("r2", task, answer="A")
               if task != "multi_open" else sample("r2", task, answer="pneumothorax")]
    summary, out = run(load_model("reference"), records, tmp_path)
    assert summary.done == 2
    for record in out:
        assert record["model"] == "reference"
        parsed = parse_answer(record["prediction"], record["options"], task)
        assert parsed == record["answer"]
        assert answer_score(record, parsed, use_ratescore=False) == 1.0
    think = re.search(r"<think>\n(.*)\n</think>", out[0]["prediction"], flags=re.S)
    assert think and think.group(1).split("\n") == steps
    assert "<think>" not in out[1]["prediction"]  # no reasoning: answer only


# --- registry -------------------------------------------------------------------------------

def test_misspelt_model_suggests_the_right_one() -> None:
    with pytest.raises(UnknownNameError) as error:
        load_model("rnadom")
    assert "did you mean 'random'" in str(error.value)
    assert "reference" in str(error.value)  # the valid names are listed


@pytest.mark.parametrize("spec", ["random:x", "reference:gold", ""])
def test_argument_to_an_argumentless_model_is_a_load_error(spec: str) -> None:
    with pytest.raises(ModelLoadError):
        load_model(spec)


# --- predict_file ---------------------------------------------------------------------------

class PixelSizes:
    """A model that looks at pixels and answers with the sizes of the images it was given."""

    name = "pixel-sizes"
    image_input: ClassVar[str] = "pixels"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def predict(self, items: list[PreparedItem], settings: GenerationSettings) -> list[str]:
        self.seen += [str(i.sample["id"]) for i in items]
        for i in items:
            assert all(image.mode == "RGB" for image in i.images)
            assert len(i.images) == len(i.image_paths) == len(i.sample["images"])
        return [" ".join(f"{w}x{h}" for w, h in (im.size for im in i.images)) for i in items]


def write_image(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 128).save(path)


def test_missing_image_is_skipped_for_pixel_models_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    write_image(tmp_path / "img/here.jpg", (30, 20))
    records = [sample("here"), sample("gone"), sample("t", "temporal")]
    write_image(tmp_path / "img/prior.jpg", (11, 12))
    write_image(tmp_path / "img/current.jpg", (13, 14))
    model = PixelSizes()
    summary, out = run(model, records, tmp_path, "pixels.jsonl")
    assert summary.skipped == {"missing image": 1} and summary.done == 2
    assert model.seen == ["here", "t"]
    assert [(r["id"], r["prediction"]) for r in out] == [("here", "30x20"), ("t", "11x12 13x14")]
    assert "gone: image not found" in caplog.text

    summary, out = run(load_model("reference"), records, tmp_path, "none.jsonl")
    assert not summary.skipped and summary.done == 3
    assert [r["id"] for r in out] == ["here", "gone", "t"]


def test_unreadable_image_is_skipped_for_pixel_models(tmp_path: Path) -> None:
    write_image(tmp_path / "img/ok.jpg", (8, 8))
    (tmp_path / "img/bad.jpg").write_bytes(b"garbage")
    summary, out = run(PixelSizes(), [sample("bad"), sample("ok")], tmp_path)
    assert summary.skipped == {"unreadable image": 1}
    assert [r["id"] for r in out] == ["ok"]


def test_image_root_is_honoured(tmp_path: Path) -> None:
    root = tmp_path / "images"
    write_image(root / "img/a.jpg", (5, 7))
    bench_dir = tmp_path / "bench"
    with pytest.raises(RecordError, match=f"not in {re.escape(str(bench_dir))} .*--image-root"):
        run(PixelSizes(), [sample("a")], bench_dir, "beside.jsonl")
    summary, out = run(PixelSizes(), [sample("a")], bench_dir, "rooted.jsonl", image_root=root)
    assert summary.done == 1 and out[0]["prediction"] == "5x7"


def test_absolute_image_paths_ignore_the_root(tmp_path: Path) -> None:
    write_image(tmp_path / "abs/a.png", (9, 4))
    record = sample("a", images=[str(tmp_path / "abs/a.png")])
    summary, out = run(PixelSizes(), [record], tmp_path / "bench",
                       image_root=tmp_path / "elsewhere")
    assert summary.done == 1 and out[0]["prediction"] == "9x4"


def test_another_models_predictions_are_refused(tmp_path: Path) -> None:
    records = [sample("a"), sample("b")]
    run(load_model("reference"), records, tmp_path)
    before = (tmp_path / "out.jsonl").read_bytes()
    with pytest.raises(RecordError) as error:
        run(load_model("random"), records, tmp_path)
    assert "'reference'" in str(error.value) and "'random'" in str(error.value)
    assert (tmp_path / "out.jsonl").read_bytes() == before
    summary, _ = run(load_model("reference"), records, tmp_path)  # the same model resumes
    assert summary.already_done == 2 and summary.done == 0


def test_record_missing_question_names_file_and_line(tmp_path: Path) -> None:
    broken = sample("b")
    del broken["question"]
    bench = write_jsonl(tmp_path / "bench.jsonl", [sample("a"), broken, sample("c")])
    out = tmp_path / "out.jsonl"
    with pytest.raises(RecordError) as error:
        predict_file(bench, out, load_model("reference"), SETTINGS)
    message = str(error.value)
    assert "\n" not in message and f"{bench}:2" in message and "'question'" in message
    assert read_out(out) == []  # checked before any prediction is written


def test_limit_and_non_list_images(tmp_path: Path) -> None:
    records = [sample(f"l{n}") for n in range(5)]
    summary, out = run(load_model("reference"), records, tmp_path, limit=3)
    assert summary.done == 3 and [r["id"] for r in out] == ["l0", "l1", "l2"]
    bad = write_jsonl(tmp_path / "bad" / "bench.jsonl", [sample("x", images="img/x.jpg")])
    with pytest.raises(RecordError, match="'images' must be a list"):
        predict_file(bad, tmp_path / "bad" / "out.jsonl", load_model("reference"), SETTINGS)
