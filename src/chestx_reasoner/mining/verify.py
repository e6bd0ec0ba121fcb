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

from chestx_reasoner.reports.labeler import ReportLabeler
from chestx_reasoner.reports.records import LabeledReport
from chestx_reasoner.reports.vocabulary import concepts_by_name
from chestx_reasoner.scoring.outcome import answer_score
from chestx_reasoner.scoring.parse import parse_answer

_PRIOR_WORDS = re.compile(r"\b(prior|previous|earlier|before)\b", re.IGNORECASE)
STATUS_OF_LABEL = {1: "present", -1: "uncertain", 0: "absent", None: "absent"}


@dataclass(slots=True)
class Verdict:
    answer_ok: bool
    contradictions: list[dict] = field(default_factory=list)  # step, finding, said, report

    @property
    def ok(self) -> bool:
        return self.answer_ok and not self.contradictions


def status_of(labeled: LabeledReport | Exception) -> dict[str, str]:
    """CheXpert column -> present | uncertain | absent of one labelled text (an unreadable
    one states nothing)."""
    labels = {} if isinstance(labeled, Exception) else labeled.labels
    return {c: STATUS_OF_LABEL[v] for c, v in labels.items()}


def split_pair_report(report: str) -> tuple[str, str]:
    """(prior, current) of a temporal item's report; ("", report) for any other item."""
    if report.startswith("PRIOR REPORT:") and "\n\nCURRENT REPORT:\n" in report:
        prior, current = report.split("\n\nCURRENT REPORT:\n", 1)
        return prior.removeprefix("PRIOR REPORT:\n"), current
    return "", report


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

    def statuses(self, texts: Sequence[str]) -> list[dict[str, str]]:
        """Per text: CheXpert column -> present | uncertain | absent (report scope)."""
        return [status_of(labeled) for labeled in self.labeler.label_many(texts)]

    def assertions(self, steps: Sequence[str]) -> list[list[tuple[str, str]]]:
        """Per step: (column, present|absent) pairs the step asserts."""
        out = []
        for labeled in self.labeler.label_many(steps):
            pairs = []
            if not isinstance(labeled, Exception):
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
            prior, current = split_pair_report(item.get("report") or "")
            prior_status, report_status = self.statuses([prior or ".", current])
        verdict = Verdict(answer_ok=answer_matches(item, chain_answer(item, steps)))
        checked = list(steps)
        if item.get("task") == "temporal" and checked:
            checked = checked[:-1]  # "the effusion has improved" is about change, not presence
        for index, pairs in enumerate(self.assertions(checked)):
            against = report_status
            if item.get("task") == "temporal" and _PRIOR_WORDS.search(steps[index]):
                against = prior_status or {}
            for column, said in pairs:
                truth = against.get(column, "absent")
                if truth != "uncertain" and said != truth:
                    verdict.contradictions.append(
                        {"step": index, "finding": column, "said": said, "report": truth})
        return verdict
