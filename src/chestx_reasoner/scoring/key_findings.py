"""Key findings: what a text (reference chain, predicted reasoning, report) establishes.

A key finding is a finding with a status (present / absent / uncertain) and, where stated, a
side. They come from three readers:
- the report labeler (spaCy + medspacy ConText) for the finding vocabulary;
- normal-anatomy statements ("the lungs are clear": `anatomy.py`), which the vocabulary does
  not cover but graders count;
- option phrases in the options' own words (`statements.py`), for findings questions.
In reasoning, only observations count: a plan ("check the angles for blunting") or a
definition ("an effusion would blunt the angle") says nothing about this patient (see
`statements.kind`). Reports are read whole: every report sentence is an observation.

Findings match across synonyms and granularity: the same vocabulary concept, the same CheXpert
observation, or a parent and child of CheXpert's hierarchy ("left basilar opacity" and "left
lower lobe consolidation"), when their sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from chestx_reasoner.scoring.anatomy import observation_of, structure_statements
from chestx_reasoner.scoring.phrases import content_words
from chestx_reasoner.scoring.statements import kind, sentences

# CheXpert's label hierarchy: a parent finding covers its children at a coarser granularity.
PARENT = {"Consolidation": "Lung Opacity", "Pneumonia": "Lung Opacity", "Edema": "Lung Opacity",
          "Atelectasis": "Lung Opacity", "Lung Lesion": "Lung Opacity",
          "Cardiomegaly": "Enlarged Cardiomediastinum"}


@dataclass(frozen=True, slots=True)
class KeyFinding:
    finding: str  # vocabulary concept name, structure ("heart size") or option phrase
    observation: str | None
    status: str  # present | absent | uncertain
    side: str | None
    sentence: str  # where it was read
    # Every side a text calls the finding present or uncertain on (a report may hold a right
    # effusion and a small left one): what a predicted side is checked against.
    sides: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {"finding": self.finding, "status": self.status, "location": self.side}


def _side_ok(a: KeyFinding, b: KeyFinding) -> bool:
    return a.side is None or b.side is None or a.side == b.side or "bilateral" in (a.side,
                                                                                    b.side)


def related(a: KeyFinding, b: KeyFinding) -> bool:
    """Same finding at any granularity, on compatible sides."""
    if a.finding == b.finding:
        return True
    if a.observation is None or b.observation is None:
        return False
    same = a.observation == b.observation
    family = PARENT.get(a.observation) == b.observation or PARENT.get(b.observation) == \
        a.observation or (PARENT.get(a.observation) is not None
                          and PARENT.get(a.observation) == PARENT.get(b.observation)
                          and a.status == b.status == "absent")
    return (same or family) and _side_ok(a, b)


def recalls(p: KeyFinding, r: KeyFinding) -> bool:
    """Whether a predicted finding recalls a reference one: the same finding, or one at a
    granularity that states it (`_recall_relation`), with an agreeing status, and, where the
    reference places a present finding on a side, the same side ("lung opacity" does not
    recall "left basilar opacity")."""
    if not (agrees(p.status, r.status) and _recall_relation(p, r)):
        return False
    return r.side is None or r.status == "absent" or p.side == r.side \
        or "bilateral" in (p.side, r.side)


def _recall_relation(p: KeyFinding, r: KeyFinding) -> bool:
    """`related`, in the direction a statement carries: a finer finding states its parent
    ("left lower lobe consolidation" is a lung opacity) and a denied parent denies its
    children ("no opacity" rules out consolidation), not the reverse ("an opacity" does not
    yet say consolidation); denying one child says nothing of its siblings ("no edema" is
    not "no consolidation"). `related` stays symmetric for step verdicts, where either
    direction can contradict."""
    if p.finding == r.finding:
        return True
    if p.observation is None or r.observation is None or not _side_ok(p, r):
        return False
    if p.observation == r.observation:
        # Another finding of the same column, only hedged ("could be edema"), does not state
        # the one the reference saw ("vascular congestion is noted").
        return not (p.status == "uncertain" and r.status == "present")
    if r.status == "absent":
        return PARENT.get(r.observation) == p.observation
    return PARENT.get(p.observation) == r.observation


def agrees(said: str, truth: str) -> bool:
    """Statuses agree; an uncertain call is not wrong about a present finding, nor vice versa."""
    return said == truth or {said, truth} == {"present", "uncertain"}


def settle(mentions: list[KeyFinding]) -> KeyFinding:
    """One status for a finding mentioned several ways: the most frequent certain status,
    ties going to the later mention (reasoning concludes last); uncertain only when nothing
    certain is said."""
    certain = [m for m in mentions if m.status != "uncertain"] or mentions
    counts: dict[str, int] = {}
    for m in certain:
        counts[m.status] = counts.get(m.status, 0) + 1
    best = max(counts.values())
    return next(m for m in reversed(certain) if counts[m.status] == best)


def structure_findings(text: str, reasoning: bool = True) -> list[KeyFinding]:
    """Normal/abnormal statements about structures, one per structure (settled).

    In reasoning only observation sentences count; a report's every sentence does."""
    found: dict[str, list[KeyFinding]] = {}
    for sentence in sentences(text):
        if reasoning and kind(sentence) != "observation":
            continue
        for name, status in structure_statements(sentence):
            found.setdefault(name, []).append(
                KeyFinding(name, observation_of(name), status, None, sentence))
    return [settle(m) for m in found.values()]


def settle_sided(mentions: list[KeyFinding]) -> KeyFinding:
    """`settle`, keeping every side the mentions place the finding on."""
    sides = frozenset(m.side for m in mentions if m.side and m.status != "absent")
    return replace(settle(mentions), sides=sides)


def distinct(mentions: list[KeyFinding]) -> list[KeyFinding]:
    """One key finding per (status, side, sentence) a text states: each sentence's claim is
    its own, so a chain that denies a finding in one sentence and asserts it in another makes
    two claims (one of them wrong), rather than settling on the majority."""
    out: dict[tuple[str, str | None, str], KeyFinding] = {}
    for m in mentions:
        out.setdefault((m.status, m.side, m.sentence), m)
    return list(out.values())


def merge(base: list[KeyFinding], extra: list[KeyFinding]) -> list[KeyFinding]:
    """`base` plus the findings of `extra` it does not already hold (by name)."""
    names = {f.finding for f in base}
    return base + [f for f in extra if f.finding not in names]


def asserted(sentence: str) -> bool:
    """Whether a reasoning sentence can assert a finding (an observation, not a plan or a
    definition)."""
    return kind(sentence) == "observation"


@dataclass(slots=True)
class Judgment:
    completeness: float | None
    factuality: float | None
    effectiveness: float | None
    pred_key_findings: list[dict] = field(default_factory=list)
    ref_key_findings: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)

    @property
    def radrscore(self) -> float | None:
        parts = [v for v in (self.completeness, self.factuality, self.effectiveness)
                 if v is not None]
        return sum(parts) / len(parts) if parts else None


def covers(r: KeyFinding, p: KeyFinding) -> bool:
    """Whether `r` speaks for `p`'s finding: the same finding or observation, or a finer one
    (an atelectasis is a lung opacity; a lung opacity is not yet an atelectasis)."""
    if r.finding == p.finding:
        return True
    if r.observation is None or p.observation is None or _other_device(r, p):
        return False
    return r.observation == p.observation or PARENT.get(r.observation) == p.observation


# The device concept that also stands for "a device", "tubes and lines", "support devices".
_ANY_DEVICE = "surgical hardware"


def _other_device(a: KeyFinding, b: KeyFinding) -> bool:
    """Two different kinds of device: a report's nasogastric tube does not speak for an
    endotracheal tube, though CheXpert counts both as support devices."""
    return a.observation == b.observation == "Support Devices" and a.finding != b.finding \
        and _ANY_DEVICE not in (a.finding, b.finding)


def _wrong_side(p: KeyFinding, said: list[KeyFinding]) -> KeyFinding | None:
    """The report finding whose sides rule out the side `p` places a present finding on."""
    if p.status == "absent" or not p.side:
        return None
    sided = [r for r in said if r.status != "absent" and r.sides]
    if not sided:
        return None
    sides = frozenset().union(*(r.sides for r in sided))
    if "bilateral" in sides or p.side in sides or (p.side == "bilateral"
                                                   and {"left", "right"} <= sides):
        return None
    return sided[0]


def _speaking_for(p: KeyFinding, report: list[KeyFinding]) -> list[KeyFinding]:
    return [r for r in report if r.finding == p.finding] or [r for r in report if covers(r, p)]


def wrong_side(p: KeyFinding, report: list[KeyFinding]) -> str | None:
    """The report sentence that places `p` (present, on a side) on another side, else None."""
    wrong = _wrong_side(p, _speaking_for(p, report))
    return None if wrong is None else wrong.sentence


def supported_by_report(p: KeyFinding, report: list[KeyFinding]) -> tuple[bool, str | None]:
    """Whether the report supports a key finding, and the report sentence behind the verdict
    (None when the report does not mention it: unmentioned means normal). A present finding
    needs the report's side too: "left basilar opacity" is wrong where the report's opacity
    is on the right."""
    same = _speaking_for(p, report)
    if not same:  # unmentioned: normal
        return p.status == "absent", None
    hit = next((r for r in same if agrees(p.status, r.status)), None)
    if hit is not None:
        wrong = _wrong_side(p, same)
        if wrong is not None:
            return False, wrong.sentence
    return (hit is not None, (hit or same[0]).sentence)

def step_verdict(text: str, found: list[KeyFinding], ref: list[KeyFinding],
             report: list[KeyFinding], has_reference: bool) -> dict[str, Any]:
    """supported / contradicted / unsupported: a step's findings against the reference chain
    (else the report, which can only contradict: the chain decides what is effective)."""
    verdict, evidence = "unsupported", None
    for f in found:
        matches = [r for r in ref if related(r, f)] if has_reference else []
        if matches:
            hit = next((r for r in matches if agrees(f.status, r.status)), None)
            if hit is None:
                return {"text": text, "verdict": "contradicted",
                        "evidence": matches[0].sentence}
            verdict, evidence = "supported", hit.sentence
            continue
        ok, sentence = supported_by_report(f, report)
        if not ok and sentence is not None:
            return {"text": text, "verdict": "contradicted", "evidence": sentence}
    return {"text": text, "verdict": verdict, "evidence": evidence}


def effectiveness_of(verdicts: list[dict[str, Any]], credit: float | None = None) -> float:
    """Share of the prediction's steps the reference chain supports.

    Every step counts, as in the paper's judge (effective steps over all steps). A step that
    names no finding of the chain (an introduction, a definition, a plan, a restated option)
    is as effective as the reasoning it belongs to: it earns `credit` (`reasoning_credit`).
    With no credit given (None) such steps are left out rather than guessed.
    """
    supported = float(sum(v["verdict"] == "supported" for v in verdicts))
    judged = sum(v["verdict"] != "unsupported" or not v.get("restates", True)
                 for v in verdicts)
    if credit is not None:
        undecided = len(verdicts) - judged
        supported += undecided * credit
        judged += undecided
    return supported / judged if judged else 0.0


# Words any reasoning uses whatever it reads: sharing them restates nothing of a chain.
_PROCEDURE = frozenset((
    "image", "imaging", "ray", "x-ray", "radiograph", "film", "view", "chest", "first", "next",
    "then", "finally", "assess", "assessed", "assessment", "evaluate", "evaluated",
    "evaluation", "examine", "examined", "examination", "review", "reviewed", "finding",
    "sign", "feature", "patient", "determine", "including", "approach", "systematic",
    "quality", "process", "overall", "step", "analysis", "analyze", "look", "check", "based",
    "answer", "option", "question", "correct", "conclusion", "presence", "absence", "evidence",
    "present", "absent", "observed", "noted", "seen", "show", "shows", "indicate",
    "indicating", "suggest", "consistent", "diagnosis", "important", "key", "typically",
    "area", "structure", "also", "any", "not", "which", "such", "other", "all", "both",
))


def restates(step: str, reference: frozenset[str]) -> bool:
    """Whether a step shares what it is about with the reference chain (`reference`: the
    chain's content words): two of its own words beyond procedure, or one where it has only
    one. A generic step ("Image quality is assessed first") restates nothing, so it is not
    effective whatever the answer."""
    own = content_words(step) - _PROCEDURE
    shared = len(own & reference)
    return shared >= 2 or (shared == 1 and len(own) == 1)


def reasoning_credit(right: bool, predicted: list[dict], reference: list[dict]) -> float:
    """What a step naming no reference finding earns: all of it when the reasoning reaches the
    reference's answer; otherwise the share of the prediction's key findings that the
    reference names with the same status (reasoning that weighs three options right and one
    wrong is not worthless), 0 when it names none of them."""
    if right:
        return 1.0
    truth = {f["finding"]: f["status"] for f in reference}
    named = [f for f in predicted if f["finding"] in truth]
    return sum(agrees(f["status"], truth[f["finding"]]) for f in named) / len(named) \
        if named else 0.0


def denies_answer(predicted: list[dict], answer: set[str]) -> bool:
    """Whether the prediction calls absent every finding of the answer (phrases of the
    reference's option) that it names ("the heart is normal in size, ruling out cardiomegaly",
    then A: moderate cardiomegaly): the right letter was not reached by that reasoning."""
    said = [f["status"] for f in predicted if f["finding"] in answer]
    return bool(said) and all(status == "absent" for status in said)
