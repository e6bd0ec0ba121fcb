"""Check a reasoning chain before it is kept: right conclusion, no step against the report.

A step contradicts the report when the labeler reads it as asserting a finding present that the
report leaves absent (or does not mention: unmentioned means normal), or absent where the report
has it present. Uncertain statements on either side never count, and bare anatomy mentions
("the costophrenic angles") assert nothing. Temporal chains check steps about the prior image
against the prior report. Until the offline judge exists (issue 7) this is the factuality check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chestx_reasoner.bench.sample import LETTERS, PATHOLOGIES, answer_option
from chestx_reasoner.mining.columns import asked_column, option_columns
from chestx_reasoner.mining.evidence import inherited_labels
from chestx_reasoner.reports.labeler import ReportLabeler
from chestx_reasoner.reports.records import LabeledReport
from chestx_reasoner.reports.sections import split_temporal
from chestx_reasoner.reports.vocabulary import concepts_by_name
from chestx_reasoner.scoring.outcome import answer_score
from chestx_reasoner.scoring.parse import parse_answer

__all__ = ["ChainVerifier", "Verdict", "conclusion_problem", "status_of"]

_SENTENCES = re.compile(r"(?<=[.;!?])\s+")
_CACHE_SIZE = 50_000
_PRIOR_WORDS = re.compile(r"\b(prior|previous|earlier|before)\b", re.IGNORECASE)
STATUS_OF_LABEL = {1: "present", -1: "uncertain", 0: "absent", None: "absent"}


@dataclass(slots=True)
class Verdict:
    answer_ok: bool
    contradictions: list[dict] = field(default_factory=list)  # step, finding, said, report
    inconsistent: tuple[int, str] | None = None  # a step the conclusion does not follow from

    @property
    def ok(self) -> bool:
        return self.answer_ok and not self.contradictions and self.inconsistent is None


def _pieces(step: str) -> list[str]:
    return [p for p in _SENTENCES.split(step) if p.strip()]


def conclusion_problem(item: dict, said: list[list[tuple[str, str]]]) -> tuple[int, str] | None:
    """(step, why) when the chain's own statements do not lead to its answer: `single` calls
    another option's finding present, `multi` has another option whose findings are all called
    present, `multi_open` calls a finding outside the answer present, a `binary` or answer
    finding is called absent, `anomaly` "normal" calls a finding present."""
    task, options = item.get("task"), item.get("options") or []
    where: dict[tuple[str, str], int] = {}
    for index, pairs in enumerate(said):
        for pair in pairs:
            where.setdefault(pair, index)
    present = {c for c, s in where if s == "present"}
    if task in ("single", "multi") and options:
        sets = [option_columns(o) for o in options]
        wanted = set(sets[LETTERS.index(item["answer"])])
        for column in sorted(wanted):
            if (column, "absent") in where and (column, "present") not in where:
                return where[column, "absent"], f"the answer's {column} is called absent"
        for letter, columns in zip(LETTERS, sets, strict=False):
            if letter == item["answer"] or not columns:
                continue
            if task == "single" and columns[0] in present:
                return where[columns[0], "present"], f"option {letter} is called present too"
            if task == "multi" and all(c in present for c in columns) and not set(
                    columns) < wanted:
                return where[columns[-1], "present"], f"option {letter} is called present too"
    if task == "multi_open":
        wanted = set(option_columns(item["answer"]))
        for column in sorted(present - wanted):
            return where[column, "present"], f"{column} is called present, not in the answer"
    if task == "binary" and options:
        column = asked_column(item)
        yes = (answer_option(item) or "").strip().lower() == "yes"
        wrong, right = ((column, "absent"), (column, "present"))[:: 1 if yes else -1]
        if wrong in where and right not in where:
            return where[wrong], f"{column} is called {wrong[1]}, the answer says otherwise"
    if task == "anomaly" and (answer_option(item) or "").strip().lower() == "normal":
        for column in sorted(present & set(PATHOLOGIES)):
            return where[column, "present"], f"{column} is called present in a normal study"
    return None


def status_of(labeled: LabeledReport | Exception) -> dict[str, str]:
    """CheXpert column -> present | uncertain | absent of one labelled text (an unreadable
    one states nothing). A parent the report leaves unmentioned but a child implies
    (`evidence.PARENTS`) counts as uncertain: gold labels sometimes follow the hierarchy."""
    labels = {} if isinstance(labeled, Exception) else labeled.labels
    out = {c: STATUS_OF_LABEL[v] for c, v in labels.items()}
    for column, value in inherited_labels(labels).items():
        if value != labels.get(column):
            out[column] = "uncertain"  # implied, not stated: a chain may say it either way
    return out


def chain_answer(item: dict, steps: Sequence[str]) -> str | None:
    """The answer the chain's last step gives, read by the parser `chestx score` uses, so
    mining and evaluation cannot disagree on what a chain concluded."""
    if not steps:
        return None
    return parse_answer(steps[-1], item.get("options") or [], item["task"])


def answer_matches(item: dict, given: str | None) -> bool:
    """The chain's answer is the item's: the letter, or exactly its findings (multi_open)."""
    return answer_score(item, given, use_ratescore=False) == 1.0


class ChainVerifier:
    """Verifies chains against their reports with the report labeler (batched)."""

    def __init__(self, labeler: ReportLabeler | None = None) -> None:
        self.labeler = labeler or ReportLabeler(scope="report")
        self._concepts = concepts_by_name()
        self._cache: dict[str, LabeledReport | Exception] = {}

    def statuses(self, texts: Sequence[str]) -> list[dict[str, str]]:
        """Per text: CheXpert column -> present | uncertain | absent (report scope)."""
        return [status_of(labeled) for labeled in self.labeler.label_many(texts)]

    def label_cached(self, texts: Sequence[str]) -> list[LabeledReport | Exception]:
        """The labeler's reading of each text, remembered: items of one study share their
        report, and chains repeat look-for sentences, so most texts were read before."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if len(self._cache) + len(todo) > _CACHE_SIZE:
            self._cache.clear()
        self._cache.update(zip(todo, self.labeler.label_many(todo), strict=True))
        return [self._cache[t] for t in texts]

    def prefetch(self, chains: Sequence[Sequence[str]]) -> None:
        """Read the sentences of many chains in one batch (the labeler is faster in bulk)."""
        self.label_cached([p for steps in chains for step in steps for p in _pieces(step)])

    def assertions(self, steps: Sequence[str]) -> list[list[tuple[str, str]]]:
        """Per step: (column, present|absent) pairs the step asserts. Read sentence by
        sentence (ConText never looks across a sentence), so each sentence is read once."""
        pieces = [_pieces(step) for step in steps]
        readings = iter(self.label_cached([p for step in pieces for p in step]))
        out = []
        for step in pieces:
            pairs = []
            for labeled in (next(readings) for _ in step):
                if isinstance(labeled, Exception):
                    continue
                for f in labeled.findings:
                    concept = self._concepts.get(f.concept or f.name)
                    if f.chexpert_label is None or f.status == "uncertain":
                        continue
                    if concept is not None and concept.kind == "anatomy" and not f.cues:
                        continue  # "the cardiac silhouette" alone says nothing
                    pairs.append((f.chexpert_label, f.status))
            out.append(pairs)
        return out

    def verify(self, item: dict, steps: Sequence[str],
               report_status: dict[str, str] | None = None,
               prior_status: dict[str, str] | None = None) -> Verdict:
        if report_status is None or (prior_status is None and item.get("task") == "temporal"):
            prior, current = split_temporal(item.get("report") or "")
            prior_status, report_status = self.statuses([prior or ".", current])
        verdict = Verdict(answer_ok=answer_matches(item, chain_answer(item, steps)))
        checked = list(steps)
        if item.get("task") == "temporal" and checked:
            checked = checked[:-1]  # "the effusion has improved" is about change, not presence
        said = self.assertions(checked)
        if verdict.answer_ok and item.get("task") != "temporal":
            verdict.inconsistent = conclusion_problem(item, said[:-1])
        for index, pairs in enumerate(said):
            against = report_status
            if item.get("task") == "temporal" and _PRIOR_WORDS.search(steps[index]):
                against = prior_status or {}
            for column, said in pairs:
                truth = against.get(column, "absent")
                if truth != "uncertain" and said != truth:
                    verdict.contradictions.append(
                        {"step": index, "finding": column, "said": said, "report": truth})
        return verdict
