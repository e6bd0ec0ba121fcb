"""The offline RadRScore judge: key findings of each side read with the report labeler.

- completeness (Rc): share of the reference chain's key findings that the prediction recalls
  with the same status;
- factuality (Rf): share of the prediction's key findings the report supports (a finding the
  report does not mention is normal: calling it absent is right, present is wrong);
- effectiveness (Re): share of the prediction's steps the reference chain supports, each step
  with a verdict (supported / contradicted / unsupported) and the sentence behind it.
Findings match across synonyms and granularity: the same vocabulary concept, the same CheXpert
observation, or a parent and child of CheXpert's hierarchy ("left basilar opacity" and "left
lower lobe consolidation"), when their sides agree. Deterministic; no API.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from chestx_reasoner.bench.sample import answer_option
from chestx_reasoner.reports import context_rules
from chestx_reasoner.reports.labeler import ReportLabeler
from chestx_reasoner.reports.location import find_location
from chestx_reasoner.reports.records import Finding
from chestx_reasoner.reports.sections import split_temporal
from chestx_reasoner.reports.vocabulary import (
    concepts,
    concepts_by_name,
    lookup_concepts,
    pluralize,
)
from chestx_reasoner.scoring import calibration
from chestx_reasoner.scoring.answer_text import letter_conflicts
from chestx_reasoner.scoring.key_findings import (
    Judgment,
    KeyFinding,
    agrees,
    asserted,
    denies_answer,
    distinct,
    effectiveness_of,
    merge,
    reasoning_credit,
    recalls,
    related,
    restates,
    settle_sided,
    step_verdict,
    structure_findings,
    supported_by_report,
    wrong_side,
)
from chestx_reasoner.scoring.laterality import side_errors
from chestx_reasoner.scoring.option_judge import judge_options
from chestx_reasoner.scoring.phrases import content_words
from chestx_reasoner.scoring.qualifiers import qualifier_errors
from chestx_reasoner.scoring.statements import kind, sentences

_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def _targets() -> re.Pattern[str]:
    """Every phrase the labeler's target rules match (and its plural), as one pattern that
    over-approximates medspacy's matching: any spacing, no end boundary."""
    forms = {" ".join(_WORD.findall(form.lower())) for concept in concepts()
             for phrase in (concept.name, *concept.phrases)
             for form in (phrase, pluralize(phrase))}
    body = "|".join(r"\W+".join(map(re.escape, f.split())) for f in
                    sorted(forms - {""}, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9])(?:{body})")


@lru_cache(maxsize=65536)
def _labelable(sentence: str) -> bool:
    """An observation holding a vocabulary phrase: the only reasoning sentences worth the
    labeler's time, which dominates the judge's. Plans and definitions assert nothing, and a
    sentence naming no finding gives the labeler nothing to find (ConText reads within a
    sentence, so dropping it changes no status)."""
    return kind(sentence) == "observation" and _targets().search(sentence.lower()) is not None


def observations(text: str) -> str:
    """The sentences of a reasoning text the labeler needs to read, one space apart."""
    return " ".join(s for s in sentences(text) if _labelable(s))

# What keeps a "no new" finding uncertain: a hedge built on a negation ("no new opacity, though
# pneumonia cannot be excluded") or a hypothesis. A plain hedge does not, as negation outranks
# it ("no new masses or lymphadenopathy" lists two denials, not a differential).
_HEDGES = frozenset({context_rules.OVERRIDE_UNCERTAIN, context_rules.HYPOTHETICAL})


def _status_now(f: Finding) -> str:
    """The finding's status on this film: "no new consolidation" leaves CheXpert's label
    uncertain (an old one may persist), but says there is none to see; when one persists, the
    text says so in a mention of its own, which `settle` weighs."""
    if f.status == "uncertain" and context_rules.NO_NEW in f.cues and not _HEDGES & set(f.cues):
        return "absent"
    return f.status

__all__ = ["FINDING_TASKS", "Judgment", "KeyFinding", "RulesJudge", "agrees", "related"]

FINDING_TASKS = frozenset({"single", "multi", "multi_open"})

class RulesJudge:
    """Judges reasoning offline; build once, reuse (reports are cached by their text)."""

    # Its scores on GPT-4o's scale too (`chestx score` writes both; scoring/calibration.py).
    calibration = calibration.shipped()

    def __init__(self, labeler: ReportLabeler | None = None) -> None:
        self.labeler = labeler or ReportLabeler(scope="report")
        self._concepts = concepts_by_name()
        self._report_cache: dict[str, list[KeyFinding]] = {}
        self._reasoning_cache: dict[str, list[KeyFinding]] = {}

    # -- reading --------------------------------------------------------------------------
    def _key(self, f: Finding) -> KeyFinding | None:
        concept = self._concepts.get(f.concept or f.name)
        if concept is not None and concept.kind == "anatomy" and not f.cues:
            return None  # "the cardiac silhouette" alone asserts nothing
        if concept is not None and concept.observation == "No Finding":
            return None
        side = f.location.side if f.location else None
        return KeyFinding(f.name, f.observation, _status_now(f), side, f.evidence.sentence)

    def read(self, texts: Sequence[str], reasoning: bool = False) -> list[list[KeyFinding]]:
        """Key findings of each text: one per finding, with the status the text settles on
        (`settle`), vocabulary findings and structure statements. In `reasoning`, plans and
        definitions assert nothing (`key_findings.asserted`)."""
        out = []
        read = [observations(t) for t in texts] if reasoning else list(texts)
        for text, labeled in zip(texts, self.labeler.label_many(
                [t if t.strip() else "." for t in read]), strict=True):
            mentions: dict[tuple[str, str | None], list[KeyFinding]] = {}
            if not isinstance(labeled, Exception):
                for f in labeled.findings:
                    key = self._key(f)
                    if key is not None and (not reasoning or asserted(key.sentence)):
                        # A chain's "left basilar opacity" and "lung opacity" are two key
                        # findings; a report's mentions settle into one, with every side.
                        group = (key.finding, key.side) if reasoning else (key.finding, None)
                        mentions.setdefault(group, []).append(key)
            found = [settle_sided(m) for m in mentions.values()]
            out.append(merge(found, structure_findings(text, reasoning)))
        return out

    def read_steps(self, chains: Sequence[list[str]]) -> list[list[list[KeyFinding]]]:
        """Key findings per step of each chain, labelling one document per chain (steps joined
        by blank lines, which always start a sentence): far fewer documents than steps."""
        texts, starts = [], []
        for steps in chains:
            offsets, at = [], 0
            read = [observations(step) for step in steps]
            for step in read:
                offsets.append(at)
                at += len(step) + 2
            texts.append("\n\n".join(read) or ".")
            starts.append(offsets)
        out = []
        for labeled, offsets, steps in zip(self.labeler.label_many(texts), starts, chains,
                                           strict=True):
            per_step: list[dict[str, list[KeyFinding]]] = [{} for _ in offsets]
            if offsets and not isinstance(labeled, Exception):
                for f in labeled.findings:
                    key = self._key(f)
                    if key is not None and asserted(key.sentence):
                        index = bisect.bisect_right(offsets, f.evidence.start) - 1
                        per_step[index].setdefault(key.finding, []).append(key)
            out.append([merge([f for m in found.values() for f in distinct(m)],
                               structure_findings(step))
                        for found, step in zip(per_step, steps, strict=True)])
        return out

    def _cached(self, texts: Sequence[str], reasoning: bool) -> list[list[KeyFinding]]:
        """`read`, each distinct text once per judge: a benchmark asks the same question of
        several models, so reference chains and reports repeat."""
        cache = self._reasoning_cache if reasoning else self._report_cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        for text, found in zip(missing, self.read(missing, reasoning), strict=True):
            cache[text] = found
        return [list(cache[t]) for t in texts]

    def option_findings(self, item: dict[str, Any]) -> list[KeyFinding]:
        """The option findings the vocabulary knows, as key findings (see `option_phrases`)."""
        found: dict[str, KeyFinding] = {}
        for phrase, status in self.option_phrases(item):
            for concept in lookup_concepts(phrase)[:1]:
                if concept.kind == "anatomy" or concept.observation == "No Finding":
                    continue
                if found.get(concept.name) and found[concept.name].status == "present":
                    continue  # named by the answer and by a distractor: it is present
                where = find_location(phrase)
                found[concept.name] = KeyFinding(concept.finding_name, concept.observation,
                                                 status, where.side if where else None, phrase)
        return list(found.values())

    @staticmethod
    def option_phrases(item: dict[str, Any]) -> list[tuple[str, str]]:
        """(finding phrase, status) pairs a findings question fixes, in the options' own words:
        the answer's findings present, the other options' findings absent. Only `single`,
        `multi` and `multi_open` ask about findings; Yes/No, Normal/Abnormal and
        Stable/Worsening/Improving options are not findings."""
        if item.get("task") not in FINDING_TASKS:
            return []
        options = item.get("options") or []
        answer = item.get("answer") or ""
        if (chosen := answer_option(item)) is not None:
            right = {p.strip().lower() for p in chosen.split(",")}
            phrases = [p.strip().lower() for o in options for p in o.split(",")]
        elif not options and answer:
            phrases = [p.strip().lower() for p in answer.split(",")]  # in the answer's order
            right = set(phrases)
        else:
            return []
        out = dict.fromkeys(p for p in phrases if p and p not in ("normal", "no finding"))
        return [(p, "present" if p in right else "absent") for p in out]

    # -- judging --------------------------------------------------------------------------
    def judge_many(self, items: Sequence[dict[str, Any]], steps: Sequence[list[str]],
                   correct: Sequence[bool | None] | None = None) -> list[Judgment]:
        """Judge each item's predicted `steps` against its reference chain and report.

        `correct` (the parsed answer is right, per item): the concluding step is supported by
        the reference chain exactly when it reaches the reference's answer."""
        refs = self._cached(["\n\n".join(item.get("reasoning") or []) for item in items],
                            reasoning=True)
        for item, ref in zip(items, refs, strict=True):
            known = {(r.finding, r.status) for r in ref}
            ref.extend(f for f in self.option_findings(item) if (f.finding, f.status) not in known
                       and not any(r.finding == f.finding for r in ref))
        # What the reasoning says of this image is checked against the current report: a
        # temporal item's prior report described another film.
        current = [split_temporal(str(item.get("report") or ""))[1] for item in items]
        reports = self._cached(current, reasoning=False)
        per_chain = self.read_steps(steps)
        out = []
        for item, ref, report, item_steps, step_findings, now in zip(
                items, refs, reports, steps, per_chain, current, strict=True):
            has_reference = bool(item.get("reasoning"))
            if has_reference and not now.strip():
                # A temporal pair whose current report is missing ("Current Report:" and
                # nothing after): the reference chain is the only account of this film, so
                # the reasoning's claims are checked against it rather than against nothing
                # (its observations only: a plan's "look for new infiltrates" says nothing).
                report = ref
                now = "\n".join(s for step in item["reasoning"] for s in sentences(step)
                                if kind(s) == "observation")
            phrases = self.option_phrases(item)
            judgment = self._judge(item_steps, step_findings, ref, report, has_reference,
                                   phrases, tuple(str(o) for o in item.get("options") or []),
                                   now, item.get("task") == "temporal")
            right = correct[len(out)] if correct is not None else None
            if has_reference:
                # A step that restates nothing of the chain is not effective, whatever the
                # answer; the others that name no finding earn the reasoning's credit.
                chain = content_words(" ".join(item.get("reasoning") or []))
                for verdict in judgment.steps:
                    if verdict["verdict"] == "unsupported":
                        verdict["restates"] = restates(verdict["text"], chain)
                credit = None
                if right is not None and judgment.steps:
                    # A right letter after reasoning that denies the answer's findings is
                    # luck: the concluding step keeps the verdict of its own words, and the
                    # other steps earn what a wrong answer's would.
                    lucky = right and denies_answer(judgment.pred_key_findings, {
                        phrase for phrase, status in phrases if status == "present"})
                    # Nor is a conclusion whose letter comes with another option's words
                    # (answer_text): "the answer is A) edema" reaches edema, whatever A is.
                    miswritten = [(letter, to) for letter, to in letter_conflicts(
                        judgment.steps[-1]["text"], [str(o) for o in item.get("options") or []])
                        if to != item.get("answer")] if right else []
                    last = judgment.steps[-1]
                    if miswritten:
                        letter, to = miswritten[0]
                        last["verdict"] = "contradicted"
                        last["evidence"] = (f"{letter} given with the words of "
                                            f"{to or 'no single option'}; the reference "
                                            f"answer is {item.get('answer')}")
                    elif not lucky:
                        last["verdict"] = "supported" if right else "contradicted"
                        last["evidence"] = f"the reference answer is {item.get('answer')}"
                    credit = reasoning_credit(right and not lucky and not miswritten,
                                              judgment.pred_key_findings,
                                              judgment.ref_key_findings)
                judgment.effectiveness = effectiveness_of(judgment.steps, credit)
            out.append(judgment)
        return out

    def _judge(self, steps: list[str], step_findings: list[list[KeyFinding]],
               ref: list[KeyFinding], report: list[KeyFinding], has_reference: bool,
               phrases: list[tuple[str, str]] | None = None,
               options: tuple[str, ...] = (), report_text: str = "",
               temporal: bool = False) -> Judgment:
        if phrases:
            named = {n for p, _ in phrases for c in lookup_concepts(p)[:1]
                     for n in (c.name, c.finding_name)}
            return judge_options(steps, step_findings, ref, report, has_reference, phrases,
                                 options, named, report_text, temporal)
        pred: dict[tuple[str, str, str | None, str], KeyFinding] = {}
        for found in step_findings:
            for f in found:
                pred.setdefault((f.finding, f.status, f.side, f.sentence), f)
        predicted = list(pred.values())
        completeness = None
        if has_reference:
            recalled = sum(any(recalls(p, r) for p in predicted) for r in ref)
            completeness = recalled / len(ref) if ref else (1.0 if not predicted else 0.0)
        verdicts_ok = [supported_by_report(p, report)[0] for p in predicted]
        verdicts_ok += [False] * len(side_errors(steps, report_text, [
            p.sentence for p in predicted if wrong_side(p, report)]))
        verdicts_ok += [False] * len(qualifier_errors(steps, report_text, temporal))
        factuality = sum(verdicts_ok) / len(verdicts_ok) if verdicts_ok else 0.0
        verdicts = [step_verdict(text, found, ref, report, has_reference)
                    for text, found in zip(steps, step_findings, strict=True)]
        effectiveness = None
        if has_reference:
            effectiveness = effectiveness_of(verdicts)
        return Judgment(completeness, factuality, effectiveness,
                        [p.to_dict() for p in predicted], [r.to_dict() for r in ref], verdicts)
