"""The benchmark item (`Sample`, docs/design.md) and the finding names questions use."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chestx_reasoner.data.study import Study

BENCH_VERSION = "1"  # bump whenever a question, option or answer format changes

# CheXpert column -> the words questions and options use (each maps back onto the vocabulary).
FINDING_NAMES: dict[str, str] = {
    "Atelectasis": "atelectasis",
    "Cardiomegaly": "cardiomegaly",
    "Consolidation": "consolidation",
    "Edema": "edema",
    "Enlarged Cardiomediastinum": "enlarged cardiomediastinum",
    "Fracture": "fracture",
    "Lung Lesion": "lung lesion",
    "Lung Opacity": "lung opacity",
    "Pleural Effusion": "pleural effusion",
    "Pleural Other": "pleural thickening",
    "Pneumonia": "pneumonia",
    "Pneumothorax": "pneumothorax",
    "Support Devices": "support devices",
}
FINDINGS = tuple(FINDING_NAMES)  # the 13 columns items ask about ("No Finding" is `anomaly`)
PATHOLOGIES = tuple(c for c in FINDINGS if c != "Support Devices")
LETTERS = "ABCDEFGH"
UNCERTAIN_POLICIES = ("ignore", "ones", "zeros")


def answer_option(item: dict[str, Any]) -> str | None:
    """The text of the option an item's answer letter names (None without options or with a
    letter past the last option, as some public dumps hold).

    >>> answer_option({"options": ["edema", "pneumothorax"], "answer": "B"})
    'pneumothorax'
    """
    answer, options = str(item.get("answer") or "").strip(), item.get("options") or []
    if len(answer) == 1 and answer in LETTERS[:len(options)]:
        return str(options[LETTERS.index(answer)])
    return None


@dataclass(slots=True)
class Sample:
    """One question about one study (temporal: a prior/current pair). See docs/design.md."""

    id: str
    source: str
    task: str
    split: str
    images: list[str]  # relative to the benchmark folder; temporal: [prior, current]
    question: str
    options: list[str]
    answer: str  # a letter; multi_open: comma-separated findings
    report: str
    reasoning: list[str] = field(default_factory=list)
    patient_id: str = ""
    study_id: str = ""
    finding: str | None = None  # the column a binary / temporal item asks about

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TASK_NAMES = ("binary", "single", "multi", "multi_open", "anomaly", "temporal")
OPEN_TASKS = frozenset({"multi_open"})  # answered with finding names, not an option letter
_TEXT_FIELDS = ("question", "report", "source", "split", "prediction")  # string (or null)
_LIST_FIELDS = ("images", "options", "reasoning")  # list of strings (or null: none)


def sample_problem(record: dict[str, Any], *, prediction: bool = False) -> str | None:
    """What is wrong with a Sample-shaped record, naming the field, or None when it is usable.

    Checked before any work so that a wrong type is one line at read time, not a crash deep in
    a job or a silently wrong score: `task` must be a known family, text fields text, list
    fields lists of text, and an option task's gold `answer` a letter (A, B, …). Fields a job
    does not need may be absent; `prediction=True` also requires a text `prediction` (and a
    text `model`, if given). A letter beyond the options is left to the jobs (public dumps
    have a few; mining refuses them with a reason, scoring grades them as unmatched).

    >>> sample_problem({"task": "binary", "options": ["Yes", "No"], "answer": "Yes"})
    "field 'answer' must be an option letter (A-B) for task 'binary', got 'Yes'"
    >>> sample_problem({"task": "multi_open", "options": [], "answer": "edema"}) is None
    True
    """
    task = record.get("task")
    if "task" in record and task not in TASK_NAMES:
        return f"field 'task': unknown task {task!r} (one of {', '.join(TASK_NAMES)})"
    for key in _TEXT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"field {key!r} must be a string, got {_type_name(record[key])}"
    for key in _LIST_FIELDS:
        value = record.get(key)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value)):
            what = _type_name(value) if not isinstance(value, list) else "a non-string item"
            return f"field {key!r} must be a list of strings, got {what}"
    if "answer" in record:
        answer, options = record["answer"], record.get("options") or []
        if not isinstance(answer, str):
            return f"field 'answer' must be a string, got {_type_name(answer)}"
        if task not in OPEN_TASKS and options and not (len(answer) == 1 and answer in LETTERS):
            last = LETTERS[min(len(options), len(LETTERS)) - 1]
            return (f"field 'answer' must be an option letter (A-{last}) for task {task!r}, "
                    f"got {answer!r}")
    if prediction:
        if "prediction" not in record:
            return "missing field 'prediction'"
        if record["prediction"] is None:
            return "field 'prediction' must be a string, got null"
        if record.get("model") is not None and not isinstance(record["model"], str):
            return f"field 'model' must be a string, got {_type_name(record['model'])}"
    return None


def _type_name(value: object) -> str:
    names = {list: "array", dict: "object", str: "string", bool: "boolean", int: "number",
             float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


@dataclass(frozen=True, slots=True)
class LabelReader:
    """Reads a study's labels as present / absent under the uncertain-label policy.

    `blank_is_absent`: in report-labelled datasets an unmentioned finding is normal (blank =
    absent); in label-only datasets (SIIM, RSNA) a blank column is simply unknown.
    """

    uncertain: str = "ignore"  # ignore: neither present nor absent | ones | zeros
    blank_is_absent: bool = True

    def present(self, study: Study, column: str) -> bool:
        value = study.label(column)
        return value == 1.0 or (value == -1.0 and self.uncertain == "ones")

    def absent(self, study: Study, column: str) -> bool:
        value = study.label(column)
        if value is None:  # a study without any label row is unknown, never normal
            return self.blank_is_absent and bool(study.labels)
        return value == 0.0 or (value == -1.0 and self.uncertain == "zeros")

    def positives(self, study: Study, columns: tuple[str, ...] = FINDINGS) -> list[str]:
        return [c for c in columns if self.present(study, c)]

    def absents(self, study: Study, columns: tuple[str, ...] = FINDINGS) -> list[str]:
        return [c for c in columns if self.absent(study, c)]
