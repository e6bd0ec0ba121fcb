"""The offline miner: a reasoning chain per item, built from the report's own sentences.

Plan -> evidence -> refine, as the paper's three passes, without an LLM:
- plan: which findings the question needs: the asked finding (binary, temporal) or every
  option's findings, plus every finding the report calls present or possible and the negatives
  it states (binary, open and anomaly questions walk the whole report);
- evidence: each finding's status as the report states it (the labeler's reading; a finding the
  report does not mention is normal) and the report's sentence for it (`evidence.py`), hedge,
  side, size and change included; `knowledge.py` adds where to look and for which sign;
- refine: one chain that opens with the question, checks each finding, and ends with the
  answer only when the findings support it. When the report contradicts the gold answer the
  miner refuses (`Refusal`) instead of bending the findings to fit.
Wording varies with a seeded choice per item, and no step names "the report" or "the plan".
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from chestx_reasoner.bench.sample import FINDING_NAMES, LETTERS, PATHOLOGIES, answer_option
from chestx_reasoner.mining import ChainStyle
from chestx_reasoner.mining.columns import NO_FINDING_OPTION, asked_column, option_columns
from chestx_reasoner.mining.evidence import (
    BRIDGE,
    PARENTS,
    Evidence,
    gather_evidence,
)
from chestx_reasoner.mining.knowledge import RELATED
from chestx_reasoner.mining.other_findings import (
    OptionOthers,
    OtherFinding,
    denied_in_own_words,
    open_summary,
    option_findings,
    option_statements,
    other_steps,
    state_others,
)
from chestx_reasoner.mining.wording import (
    be,
    is_plural,
    join_words,
    look_sentence,
    lower_first,
    plain_statement,
    plan_sentence,
    state,
)
from chestx_reasoner.reports.records import LabeledReport
from chestx_reasoner.reports.sections import split_temporal

NORMAL_CHECKS = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Consolidation", "Edema")
_CHANGE = {"new": "worsening", "increased": "worsening", "decreased": "improving",
           "resolved": "improving", "unchanged": "stable"}
_SEVERITY_RANK = {"trace": 0, "tiny": 0, "minimal": 0, "small": 1, "mild": 1, "moderate": 2,
                  "large": 3, "severe": 3, "marked": 3, "extensive": 3}
_NO_CHANGE = re.compile(r"^\s*(?:no (?:significant |interval |relevant )*change|unchanged|"
                        r"stable)(?: (?:appearance|chest|study|examination))?\b", re.I)
_CHANGED = {"stable": "is unchanged", "worsening": "has worsened", "improving": "has improved"}


@dataclass(slots=True)
class Chain:
    steps: list[str]
    key_findings: list[dict]


@dataclass(slots=True)
class Draft:
    """A chain before verification, or the reason the report does not support the answer.
    `quoted[i]`: the columns whose report sentence step i quotes (a repair replaces them)."""

    chain: Chain
    refusal: str | None = None
    quoted: dict[int, list[str]] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)


def _positive(e: Evidence) -> bool:
    return e.status in ("present", "uncertain")


def _stated(e: Evidence) -> bool:
    """Positive in the report's own words (not only implied through a child finding)."""
    return _positive(e) and not e.inherited


# A brief chain is its full chain less the plan and the where-to-look sentences: both are drawn
# in either style, so that every later seeded choice (and so the words) stays the full chain's.
def _plan_steps(rng: random.Random, item: dict, asked: str | None, brief: bool) -> list[str]:
    """The chain's opening plan, as a list of steps: none in a brief chain."""
    plan = plan_sentence(rng, item, asked)
    return [] if brief else [plan]


def _looking(rng: random.Random, columns: list[str], brief: bool) -> str:
    """Where to look for `columns`, to lead a finding's step ("" in a brief chain)."""
    sentence = look_sentence(rng, columns)
    return "" if brief else sentence + " "


def _finding_steps(rng: random.Random, columns: list[str], evidence: dict[str, Evidence],
                   plain: frozenset[str], first: int, keep_first: bool = False,
                   brief: bool = False) -> tuple[list[str], dict[int, list[str]]]:
    """One step per report sentence (findings it states together share it), positives first,
    then one for the findings the report leaves unmentioned (normal). `keep_first`: the first
    column (a binary item's asked finding) leads; `brief`: no where-to-look sentence."""
    groups: dict[str, list[str]] = {}
    for column in sorted(columns, key=lambda c: (columns.index(c) > 0 and not keep_first,
                                                 not _positive(evidence[c]),
                                                 not evidence[c].mentioned)):
        e = evidence[column]
        key = e.sentence if e.sentence and column not in plain else f"plain:{column}"
        if not e.mentioned and e.status == "absent" and not e.hardware:
            key = "unmentioned"
        groups.setdefault(key, []).append(column)
    steps, quoted = [], {}
    for key, group in groups.items():
        if key.startswith("plain:") and evidence[group[0]].inherited:
            column = group[0]
            child = next(c for c in PARENTS[column] if _positive(evidence[c]))
            steps.append(_looking(rng, group, brief)
                         + BRIDGE[column].format(child=FINDING_NAMES[child].capitalize()))
            continue
        if key == "unmentioned":
            names = join_words([FINDING_NAMES[c] for c in group], "or")
            # The verb agrees with the nearest name: "no X or support devices are seen",
            # "there are no support devices or X".
            last, first_plural = group[-1] == "Support Devices", group[0] == "Support Devices"
            seen = rng.choice([f"No {names} {'are' if last else 'is'} seen.",
                               f"There {'are' if first_plural else 'is'} no {names}."])
        elif key.startswith("plain:"):
            seen = plain_statement(evidence[group[0]])
        else:
            seen = key
            quoted[first + len(steps)] = group
        steps.append(_looking(rng, group, brief) + seen)
    return steps, quoted


def _refuse(reason: str) -> Draft:
    return Draft(Chain([], []), refusal=reason)


def _decide(item: dict, evidence: dict[str, Evidence], asked: str | None,
            others: OptionOthers | None = None) -> tuple[str | None, str, list[str], list[str]]:
    """(refusal, conclusion lead, columns to walk, columns left out) from the report's
    statuses: the conclusion must follow from them. `others`: what the report says of the
    options' findings outside the columns."""
    task = item["task"]
    options = item.get("options") or []
    option = answer_option(item) or ""
    positives = [c for c in FINDING_NAMES if _stated(evidence[c])]
    stated = [c for c in FINDING_NAMES if evidence[c].mentioned and not _positive(evidence[c])]
    if task == "binary" and asked:
        e = evidence[asked]
        yes = option.strip().lower() == "yes"
        if (yes and not _positive(e)) or (not yes and e.status == "present"):
            return (f"the answer says {FINDING_NAMES[asked]} "
                    f"{'present' if yes else 'absent'}, the report {e.status}", "", [], [])
        lead = f"{FINDING_NAMES[asked].capitalize()} {state(e)}"
        if not yes and e.status == "uncertain":
            lead = (f"{FINDING_NAMES[asked].capitalize()} {be(asked)} at most possible, not "
                    "definite")
        related = [c for c in RELATED[asked] if evidence[c].mentioned and not
                   evidence[c].inherited]
        return None, lead, [asked, *related], []
    if task in ("single", "multi"):
        sets = [option_columns(o) for o in options]
        extra = others.status if others else [{} for _ in options]
        wanted = sets[LETTERS.index(item["answer"])]
        wanted_extra = extra[LETTERS.index(item["answer"])]
        no_finding = NO_FINDING_OPTION.match(option) is not None
        if no_finding and any(evidence[c].status == "present" for c in PATHOLOGIES):
            return "the answer says no finding, the report has one", "", [], []
        if not wanted and not wanted_extra and not no_finding:
            return f"the answer {option!r} names no known finding", "", [], []
        if missing := [c for c in wanted if not _positive(evidence[c])]:
            return f"the answer names {FINDING_NAMES[missing[0]]}, absent in the report", "", [], []
        sure = all(evidence[c].status == "present" for c in wanted) and all(
            s == "present" for s in wanted_extra.values())
        answer_set = {*wanted, *wanted_extra}
        for letter, columns, named in zip(LETTERS, sets, extra, strict=False):
            if letter == item["answer"] or not (columns or named) \
                    or {*columns, *named} < answer_set:
                continue  # a subset of the answer lists fewer of the findings seen
            if any(s is None for s in named.values()):
                continue  # a finding of it the report does not state rules it out
            present = all(s == "present" for s in named.values())
            if (present and all(evidence[c].status == "present" and _stated(evidence[c])
                                for c in columns)) \
                    or (not sure and all(_stated(evidence[c]) for c in columns)):
                return f"option {letter} is also supported by the report", "", [], []
        walk = [c for c in dict.fromkeys(c for columns in sets for c in columns)
                if c in wanted or not evidence[c].inherited]
        if task == "single" and no_finding:
            lead = "No candidate finding is seen"
        elif task == "single":
            verb = be(wanted[0]) if wanted else "are" if is_plural(option) else "is"
            lead = f"Of the candidates, only {option} {verb} {'seen' if sure else 'possible'}"
        else:
            lead = (f"Option {item['answer']} is the only one that lists exactly the "
                    "findings seen among those named")
        return None, lead, walk, []
    if task == "multi_open":
        wanted = option_columns(item["answer"])
        if missing := [c for c in wanted if not _positive(evidence[c])]:
            return f"the answer names {FINDING_NAMES[missing[0]]}, absent in the report", "", [], []
        extra = [c for c in positives if c not in wanted and evidence[c].status == "present"]
        walk = [c for c in dict.fromkeys([*wanted, *positives, *stated]) if c not in extra]
        return None, "", walk, extra
    if task == "anomaly":
        abnormal = [c for c in PATHOLOGIES if _positive(evidence[c])]
        if option.strip().lower() == "abnormal" and not abnormal:
            return "the answer says abnormal, the report has no finding", "", [], []
        if option.strip().lower() == "normal" and any(
                evidence[c].status == "present" for c in PATHOLOGIES):
            return "the answer says normal, the report has a finding", "", [], []
        lead = "An abnormality is present" if abnormal else "No abnormality is seen"
        normal = [c for c in NORMAL_CHECKS if c not in positives and c not in stated]
        walk = list(dict.fromkeys([*positives, *stated, *normal[:max(0, 4 - len(stated))]]))
        return None, lead, walk, []
    return None, "Therefore", positives, []


def _with_normal_structure(walk: list[str], evidence: dict[str, Evidence]) -> list[str]:
    """`walk` plus the denied parent (`evidence.PARENTS`) of a walked, denied finding, where
    the report states the parent denied in its own sentence: a chain that rules out
    atelectasis cites the report's "no focal opacity" (lung opacity absent), and one that
    rules out cardiomegaly its normal cardiomediastinal silhouette."""
    out = list(walk)
    for parent, children in PARENTS.items():
        e = evidence[parent]
        if parent in out or e.status != "absent" or not e.sentence or e.inherited:
            continue
        denied = [c for c in children if c in out and evidence[c].status == "absent"]
        if denied:
            out.insert(out.index(denied[0]) + 1, parent)
    return out


def _implied_only_if_answered(item: dict, evidence: dict[str, Evidence], asked: str | None
                              ) -> dict[str, Evidence]:
    """A parent finding only implied by its child (`evidence.PARENTS`) is kept where the gold
    answer names it (the gold then follows CheXpert's hierarchy) and is otherwise unmentioned:
    label sets differ on whether "atelectasis" also means "lung opacity"."""
    options = item.get("options") or []
    if item["task"] == "multi_open":
        wanted = set(option_columns(item["answer"]))
    elif item["task"] == "binary" and asked:
        yes = (answer_option(item) or "").strip().lower() == "yes"
        wanted = {asked} if yes else set()
    elif options and item["task"] in ("single", "multi"):
        wanted = set(option_columns(answer_option(item) or ""))
    else:
        wanted = set()
    for column, e in evidence.items():
        if e.inherited and column not in wanted:
            # Not called present, and not denied either: "no lung opacity" beside a stated
            # atelectasis would contradict the report's own hierarchy.
            evidence[column] = Evidence(column, "absent", inherited=True)
    return evidence


def _direction(before: Evidence | None, now: Evidence, no_change: bool) -> str | None:
    """stable | worsening | improving as the reports tell it, or None when they do not.
    `no_change`: the current report says nothing changed overall ("No change from ___.")."""
    if now.change in _CHANGE:
        return _CHANGE[now.change]
    if not now.mentioned:
        return "stable" if no_change else None
    if before is None or not before.mentioned:
        return None
    if _positive(before) != _positive(now):
        return "worsening" if _positive(now) else "improving"
    a, b = _SEVERITY_RANK.get(before.severity), _SEVERITY_RANK.get(now.severity)
    if a is not None and b is not None and a != b:
        return "worsening" if b > a else "improving"
    return None


def _temporal(rng: random.Random, item: dict, asked: str, current: LabeledReport,
              prior: LabeledReport | None, plain: frozenset[str], brief: bool) -> Draft:
    """Prior and current statements of the asked finding, then what else the current study
    shows of its related findings, then the change; refused when the reports tell no change
    or another one than the answer."""
    evidence = gather_evidence(current)
    current_text = split_temporal(item["report"])[1].strip()
    before = gather_evidence(prior)[asked] if prior is not None else None
    now = evidence[asked]
    option = (answer_option(item) or "").strip().lower()
    direction = _direction(before, now, any(
        _NO_CHANGE.search(f.evidence.sentence) for f in current.findings) or bool(
        _NO_CHANGE.match(current_text)))
    name = FINDING_NAMES[asked]
    if direction is None:
        return _refuse(f"the report states no change in {name}")
    if direction != option:
        return _refuse(f"the report says {name} {direction}, the answer {option}")
    steps = _plan_steps(rng, item, asked, brief)
    quoted: dict[int, list[str]] = {}
    for when, e in (("prior", before), ("current", now)):
        if e is None:
            continue
        said = e.sentence if e.sentence and asked not in plain else plain_statement(e)
        if e.sentence and asked not in plain:
            quoted[len(steps)] = [asked]
        steps.append(f"On the {when} image, {lower_first(said)}")
    related = [c for c in RELATED[asked] if _stated(evidence[c]) and evidence[c].sentence
               and c not in plain]
    shown = {steps[-1]}
    for column in related:
        sentence = f"On the current image, {lower_first(evidence[column].sentence)}"
        if sentence not in shown:
            quoted[len(steps)] = [column]
            steps.append(_looking(rng, [column], brief) + sentence)
            shown.add(sentence)
    lead = f"Compared with the prior image, the {name} {_CHANGED[direction]}"
    answer = f"{item['answer']}) {answer_option(item)}"
    steps.append(rng.choice([f"{lead}, so the answer is {answer}.",
                             f"{lead}: the answer is {answer}."]))
    return Draft(Chain(steps, [now.key_finding()] + [evidence[c].key_finding() for c in related]),
                 quoted=quoted)


def mine_rules(item: dict, current: LabeledReport, prior: LabeledReport | None = None,
               seed: int = 0, plain: frozenset[str] = frozenset(),
               omit: frozenset[str] = frozenset(), style: str = "full") -> Draft:
    """A chain for one item from the labeler's reading of its report(s), or a refusal.

    `plain`: columns stated in plain words instead of their report sentence (a repair, when the
    sentence also says something the report contradicts); `omit`: columns left out. `style`
    "brief" leaves out the plan and the where-to-look sentences (knowledge, not observation):
    the same findings, statuses and conclusion in a third of the words, for models too small
    to learn the knowledge base's wording (`ChainStyle`).
    """
    if style not in set(ChainStyle):
        raise ValueError(f"chain style must be one of {', '.join(ChainStyle)}, got {style!r}")
    brief = style == ChainStyle.brief
    rng = random.Random(f"{seed}:{item['id']}")
    task = item["task"]
    options = item.get("options") or []
    if options and not (isinstance(item.get("answer"), str)
                        and item["answer"] in LETTERS[: len(options)]):
        # A malformed item (some public dumps hold a letter past the last option): no chain
        # can end at an answer that names no option.
        return _refuse(f"the answer {item.get('answer')!r} names none of the "
                       f"{len(options)} options")
    asked = asked_column(item) if task in ("binary", "temporal") else None
    evidence = _implied_only_if_answered(item, gather_evidence(current), asked)
    if task == "temporal" and asked:
        return _temporal(rng, item, asked, current, prior, plain, brief)
    others: list[OtherFinding] = []
    optional: OptionOthers | None = None
    if task == "multi_open":
        others, refusal = state_others(option_findings(item["answer"]), current)
        if refusal:
            return _refuse(refusal)
    elif task in ("single", "multi") and options:
        optional, refusal = option_statements(
            options, LETTERS.index(item["answer"]), current,
            split_temporal(str(item.get("report") or ""))[1])
        if refusal:
            return _refuse(refusal)
    refusal, lead, walk, left_out = _decide(item, evidence, asked, optional)
    if refusal:
        return _refuse(refusal)
    walk = [c for c in _with_normal_structure(walk, evidence) if c not in omit]
    own_words: list[str] = []
    if optional is not None:
        walk, own_words = denied_in_own_words(item, walk, evidence, optional)
    steps = _plan_steps(rng, item, asked, brief)
    found, quoted = _finding_steps(rng, walk, evidence, plain, first=len(steps),
                                   keep_first=task == "binary", brief=brief)
    steps += found
    if task == "multi_open":
        shown = " ".join(steps)
        steps += [o.sentence for o in others if o.sentence not in shown]
        names = ", ".join(open_summary(item["answer"], evidence, others))
        steps.append(rng.choice([f"In summary, the findings present are: {names}.",
                                 f"Therefore the chest X-ray shows: {names}."]))
    else:
        if optional is not None:
            steps += other_steps(steps, optional, own_words)
        answer = f"{item['answer']}) {answer_option(item)}"
        steps.append(rng.choice([f"{lead}, so the answer is {answer}.",
                                 f"{lead}: the answer is {answer}."]))
    key_findings = [evidence[c].key_finding() for c in walk]
    if optional is not None:
        others = [*optional.answer, *optional.stated]
    key_findings += [{"finding": o.name, "status": o.status, "location": None} for o in others]
    if optional is not None:
        key_findings += [{"finding": n.name, "status": "absent", "location": n.side}
                         for n in optional.denied if n.known]
    return Draft(Chain(steps, key_findings), quoted=quoted, left_out=left_out + sorted(omit))

