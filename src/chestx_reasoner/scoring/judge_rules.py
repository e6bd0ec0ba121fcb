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
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chestx_reasoner.bench.sample import LETTERS
from chestx_reasoner.reports.labeler import ReportLabeler
from chestx_reasoner.reports.location import find_location
from chestx_reasoner.reports.records import Finding
from chestx_reasoner.reports.vocabulary import concepts_by_name, lookup_concepts
from chestx_reasoner.scoring.phrases import mention_status

FINDING_TASKS = frozenset({"single", "multi", "multi_open"})

# CheXpert's label hierarchy: a parent finding covers its children at a coarser granularity.
PARENT = {"Consolidation": "Lung Opacity", "Pneumonia": "Lung Opacity", "Edema": "Lung Opacity",
          "Atelectasis": "Lung Opacity", "Lung Lesion": "Lung Opacity",
          "Cardiomegaly": "Enlarged Cardiomediastinum"}


@dataclass(frozen=True, slots=True)
class KeyFinding:
    finding: str  # vocabulary concept name ("pleural effusion", "nodule", "heart size"→finding)
    observation: str | None
    status: str  # present | absent | uncertain
    side: str | None
    sentence: str  # where it was read

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


def agrees(said: str, truth: str) -> bool:
    """Statuses agree; an uncertain call is not wrong about a present finding, nor vice versa."""
    return said == truth or {said, truth} == {"present", "uncertain"}


def _settle(mentions: list[KeyFinding]) -> KeyFinding:
    certain = [m for m in mentions if m.status != "uncertain"] or mentions
    counts: dict[str, int] = {}
    for m in certain:
        counts[m.status] = counts.get(m.status, 0) + 1
    best = max(counts.values())
    return next(m for m in reversed(certain) if counts[m.status] == best)


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


class RulesJudge:
    """Judges reasoning offline; build once, reuse (reports are cached by their text)."""

    def __init__(self, labeler: ReportLabeler | None = None) -> None:
        self.labeler = labeler or ReportLabeler(scope="report")
        self._concepts = concepts_by_name()
        self._report_cache: dict[str, list[KeyFinding]] = {}

    # -- reading --------------------------------------------------------------------------
    def _key(self, f: Finding) -> KeyFinding | None:
        concept = self._concepts.get(f.concept or f.name)
        if concept is not None and concept.kind == "anatomy" and not f.cues:
            return None  # "the cardiac silhouette" alone asserts nothing
        if concept is not None and concept.observation == "No Finding":
            return None
        side = f.location.side if f.location else None
        return KeyFinding(f.name, f.observation, f.status, side, f.evidence.sentence)

    def read(self, texts: Sequence[str]) -> list[list[KeyFinding]]:
        """Key findings of each text: one per finding, with the status the text settles on.

        Reasoning weighs options before deciding ("X would show…; no X is seen"), so a finding
        mentioned several ways takes its most frequent certain status, ties going to the later
        mention (conclusions come last); uncertain only when nothing certain is said."""
        out = []
        for labeled in self.labeler.label_many([t if t.strip() else "." for t in texts]):
            mentions: dict[str, list[KeyFinding]] = {}
            if not isinstance(labeled, Exception):
                for f in labeled.findings:
                    key = self._key(f)
                    if key is not None:
                        mentions.setdefault(key.finding, []).append(key)
            out.append([_settle(found) for found in mentions.values()])
        return out

    def read_steps(self, chains: Sequence[list[str]]) -> list[list[list[KeyFinding]]]:
        """Key findings per step of each chain, labelling one document per chain (steps joined
        by blank lines, which always start a sentence): far fewer documents than steps."""
        texts, starts = [], []
        for steps in chains:
            offsets, at = [], 0
            for step in steps:
                offsets.append(at)
                at += len(step) + 2
            texts.append("\n\n".join(steps) or ".")
            starts.append(offsets)
        out = []
        for labeled, offsets in zip(self.labeler.label_many(texts), starts, strict=True):
            per_step: list[dict[str, list[KeyFinding]]] = [{} for _ in offsets]
            if offsets and not isinstance(labeled, Exception):
                for f in labeled.findings:
                    key = self._key(f)
                    if key is not None:
                        index = bisect.bisect_right(offsets, f.evidence.start) - 1
                        per_step[index].setdefault(key.finding, []).append(key)
            out.append([[_settle(m) for m in found.values()] for found in per_step])
        return out

    def _report_findings(self, reports: Sequence[str]) -> list[list[KeyFinding]]:
        keys = [hashlib.sha1(r.encode()).hexdigest() for r in reports]
        missing = [(k, r) for k, r in dict(zip(keys, reports, strict=True)).items()
                   if k not in self._report_cache]
        for (key, _), found in zip(missing, self.read([r for _, r in missing]), strict=True):
            self._report_cache[key] = found
        return [self._report_cache[k] for k in keys]

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
        if options and answer in LETTERS[: len(options)]:
            right = {p.strip().lower() for p in options[LETTERS.index(answer)].split(",")}
            phrases = [p.strip().lower() for o in options for p in o.split(",")]
        elif not options and answer:
            right = {p.strip().lower() for p in answer.split(",")}
            phrases = list(right)
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
        refs = self.read(["\n\n".join(item.get("reasoning") or []) for item in items])
        for item, ref in zip(items, refs, strict=True):
            known = {(r.finding, r.status) for r in ref}
            ref.extend(f for f in self.option_findings(item) if (f.finding, f.status) not in known
                       and not any(r.finding == f.finding for r in ref))
        reports = self._report_findings([item.get("report") or "" for item in items])
        per_chain = self.read_steps(steps)
        out = []
        for item, ref, report, item_steps, step_findings in zip(items, refs, reports, steps,
                                                                per_chain, strict=True):
            has_reference = bool(item.get("reasoning"))
            judgment = self._judge(item_steps, step_findings, ref, report, has_reference,
                                   self.option_phrases(item))
            right = correct[len(out)] if correct is not None else None
            if right is not None and judgment.steps and has_reference:
                judgment.steps[-1]["verdict"] = "supported" if right else "contradicted"
                judgment.steps[-1]["evidence"] = f"the reference answer is {item.get('answer')}"
                judgment.effectiveness = sum(v["verdict"] == "supported"
                                             for v in judgment.steps) / len(judgment.steps)
            out.append(judgment)
        return out

    def _judge(self, steps: list[str], step_findings: list[list[KeyFinding]],
               ref: list[KeyFinding], report: list[KeyFinding], has_reference: bool,
               phrases: list[tuple[str, str]] | None = None) -> Judgment:
        if phrases:
            return self._judge_phrases(steps, step_findings, ref, report, has_reference,
                                       phrases)
        pred: dict[tuple[str, str], KeyFinding] = {}
        for found in step_findings:
            for f in found:
                pred.setdefault((f.finding, f.status), f)
        predicted = list(pred.values())
        completeness = None
        if has_reference:
            recalled = sum(any(related(r, p) and agrees(p.status, r.status) for p in predicted)
                           for r in ref)
            completeness = recalled / len(ref) if ref else (1.0 if not predicted else 0.0)
        factual = sum(self._supported_by_report(p, report)[0] for p in predicted)
        factuality = factual / len(predicted) if predicted else 0.0
        verdicts = [self._step_verdict(text, found, ref, report, has_reference)
                    for text, found in zip(steps, step_findings, strict=True)]
        effectiveness = None
        if has_reference:
            effectiveness = (sum(v["verdict"] == "supported" for v in verdicts) / len(verdicts)
                             if verdicts else 0.0)
        return Judgment(completeness, factuality, effectiveness,
                        [p.to_dict() for p in predicted], [r.to_dict() for r in ref], verdicts)

    def _judge_phrases(self, steps: list[str], step_findings: list[list[KeyFinding]],
                       ref: list[KeyFinding], report: list[KeyFinding], has_reference: bool,
                       phrases: list[tuple[str, str]]) -> Judgment:
        """Option questions: the options' findings, in their own words, are the key findings
        (what a reference chain for the item establishes); vocabulary findings the options
        do not name are judged against the report as usual."""
        text = "\n".join(steps)
        said = {p: mention_status(p, text) for p, _ in phrases}
        completeness = None
        if has_reference:
            completeness = sum(said[p] is not None and agrees(said[p], truth)
                               for p, truth in phrases) / len(phrases)
        named = {c.name for p, _ in phrases for c in lookup_concepts(p)[:1]}
        extra = {}
        for found in step_findings:
            for f in found:
                if f.finding not in named:
                    extra.setdefault(f.finding, f)
        verdicts_ok = [agrees(said[p], truth) for p, truth in phrases if said[p] is not None]
        verdicts_ok += [self._supported_by_report(f, report)[0] for f in extra.values()]
        factuality = sum(verdicts_ok) / len(verdicts_ok) if verdicts_ok else 0.0
        step_verdicts = []
        for step, found in zip(steps, step_findings, strict=True):
            stated = [(p, truth, mention_status(p, step)) for p, truth in phrases]
            stated = [(p, truth, st) for p, truth, st in stated if st is not None]
            wrong = [p for p, truth, st in stated if not agrees(st, truth)]
            if wrong:
                step_verdicts.append({"text": step, "verdict": "contradicted",
                                      "evidence": f"{wrong[0]}: {dict(phrases)[wrong[0]]}"})
            elif stated:
                step_verdicts.append({"text": step, "verdict": "supported",
                                      "evidence": f"{stated[0][0]}: {stated[0][1]}"})
            else:
                step_verdicts.append(self._step_verdict(step, found, ref, report,
                                                        has_reference))
        effectiveness = None
        if has_reference:
            effectiveness = (sum(v["verdict"] == "supported" for v in step_verdicts)
                             / len(step_verdicts) if step_verdicts else 0.0)
        pred = [{"finding": p, "status": st, "location": None} for p, st in said.items() if st]
        pred += [f.to_dict() for f in extra.values()]
        ref_out = [{"finding": p, "status": truth, "location": None} for p, truth in phrases]
        return Judgment(completeness, factuality, effectiveness, pred, ref_out, step_verdicts)

    @staticmethod
    def _supported_by_report(p: KeyFinding, report: list[KeyFinding]) -> tuple[bool, str | None]:
        same = [r for r in report if r.finding == p.finding] or [r for r in report
                                                                   if related(r, p)]
        if not same:  # unmentioned: normal
            return p.status == "absent", None
        hit = next((r for r in same if agrees(p.status, r.status)), None)
        return (hit is not None, (hit or same[0]).sentence)

    def _step_verdict(self, text: str, found: list[KeyFinding], ref: list[KeyFinding],
                      report: list[KeyFinding], has_reference: bool) -> dict[str, Any]:
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
            ok, sentence = self._supported_by_report(f, report)
            if not ok and sentence is not None:
                return {"text": text, "verdict": "contradicted", "evidence": sentence}
        return {"text": text, "verdict": verdict, "evidence": evidence}
