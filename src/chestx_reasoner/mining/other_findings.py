"""Findings outside the 13 CheXpert columns that an open answer names.

Reports are full of them ("degenerative changes of the spine", "calcified granuloma",
"hyperexpanded lungs") and open questions ask for them, so a miner that knows only the columns
refuses every such item, or ends with a summary that leaves them out and no longer matches
the answer. The labeler reads them by their vocabulary concept; a chain states each one in the
report's own sentence, hedge included, and its summary names it as the answer does. A name the
vocabulary does not know, or one the report does not state, is a refusal: the chain could only
copy it from the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from chestx_reasoner.mining.evidence import clean_sentence, usable
from chestx_reasoner.reports.records import Finding, LabeledReport
from chestx_reasoner.reports.vocabulary import concepts_by_name
from chestx_reasoner.scoring.parse import parse_findings

_POSITIVE = ("present", "uncertain")


@dataclass(frozen=True, slots=True)
class OtherFinding:
    """One answer finding outside the columns, as the report states it."""

    name: str  # the vocabulary's name, as the summary writes it
    status: str  # present | uncertain
    sentence: str  # the report's sentence, cleaned to stand alone in a chain


def answer_names(answer: str) -> list[str]:
    """The findings an open answer lists, by their vocabulary names ("mild right middle lobe
    pulmonary atelectasis, degenerative changes in spine" -> atelectasis, spinal degeneration).

    >>> answer_names("hyperdistention of lungs, granulomatous disease")
    ['emphysema', 'granuloma']
    """
    return parse_findings(answer)


def _mention(name: str, labeled: LabeledReport) -> Finding | None:
    """The report's positive mention of a concept, one with a quotable sentence first."""
    found = [f for f in labeled.findings if name in (f.concept, f.name) and f.status in _POSITIVE]
    return min(found, key=lambda f: (not usable(clean_sentence(f.evidence.sentence)),
                                     f.status != "present"), default=None)


def state_others(names: list[str], labeled: LabeledReport) -> tuple[list[OtherFinding], str | None]:
    """(findings, None) for the names outside the columns, each as the report states it, or
    ([], why) when one is unknown to the vocabulary, unstated, or has no quotable sentence."""
    known = concepts_by_name()
    out = []
    for name in names:
        if name not in known:
            return [], f"the answer names {name!r}, which the vocabulary does not know"
        mention = _mention(name, labeled)
        if mention is None:
            return [], f"the answer names {name}, absent in the report"
        sentence = clean_sentence(mention.evidence.sentence)
        if not usable(sentence):
            return [], f"the report's sentence for {name} cannot stand in a chain"
        out.append(OtherFinding(name, mention.status, sentence))
    return out, None
