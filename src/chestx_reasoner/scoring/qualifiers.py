"""Severity and change over time in reasoning, checked against the report's words.

"A large effusion" where the report has a small one, or "the edema has worsened" where it has
improved, is a wrong statement about the patient although the finding and its presence are
right. Neither lives in the finding vocabulary, so both are read here as the report writes
them: a qualifier word of a class (grade: low / moderate / high; change: worse / better /
same) and the content words it qualifies. A reasoning sentence is wrong when the report
qualifies the same thing, and never with that class. Pure functions; cached per report.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chestx_reasoner.scoring.phrases import content_words
from chestx_reasoner.scoring.statements import kind, sentences

GRADE = {
    "trace": "low", "tiny": "low", "minimal": "low", "minimally": "low", "small": "low",
    "mild": "low", "mildly": "low", "slight": "low", "slightly": "low", "subtle": "low",
    "moderate": "moderate", "moderately": "moderate",
    "large": "high", "severe": "high", "severely": "high", "extensive": "high",
    "massive": "high", "marked": "high", "markedly": "high", "substantial": "high",
}
CHANGE = {
    "worsened": "worse", "worsening": "worse", "worse": "worse", "increased": "worse",
    "increasing": "worse", "progressed": "worse", "progression": "worse", "new": "worse",
    "enlarging": "worse", "enlarged": None, "improved": "better", "improving": "better",
    "improvement": "better", "decreased": "better", "decreasing": "better",
    "resolved": "better", "resolving": "better", "resolution": "better", "cleared": "better",
    "unchanged": "same", "stable": "same", "persistent": "same", "persists": "same",
    "similar": "same", "constant": "same", "progressive": "worse", "spreading": "worse",
    "larger": "worse", "smaller": "better", "diminished": "better", "reduced": "better",
}
# The graded words are read ahead, not consumed: "moderate cardiomegaly and mild edema" holds
# two grades.
_GRADED = re.compile(rf"\b({'|'.join(GRADE)})\b(?=((?:[\s-]+(?:to[\s-]+)?[a-z]+){{1,3}}))",
                     re.I)
_CHANGED = re.compile(rf"\b({'|'.join(w for w, c in CHANGE.items() if c)})\b", re.I)
# A list's members share its predicate ("X and Y have increased"): clauses end at
# punctuation and contrast, not at "and".
_CLAUSE = re.compile(r"[,;:]|\b(?:but|while|whereas|although|though)\b", re.I)
_DENIED = re.compile(r"\b(?:no|not|without|absent|absence|negative|free of)\b", re.I)
# Words that say how or where, not what: sharing only these is no shared subject.
_NOT_WHAT = frozenset((
    "lobe", "base", "apex", "zone", "region", "hemithorax", "side", "sided", "upper", "lower",
    "middle", "mid", "perihilar", "basilar", "apical", "amount", "size", "extent", "degree",
    "volume", "area", "interval", "since", "prior", "previous", "compared", "study", "image",
    "finding", "change", "appearance", "evidence", "seen", "noted", "there", "now", "have",
    "has", "been", "being", "previously", "involving", "compatible", "consistent",
    "diagnosis", "supporting", "suggesting", "condition", "lung", "lungs", "severity",
    *GRADE, *CHANGE,
))


_CONJUNCTION = re.compile(r"\b(?:and|or|with|but|while)\b")


def _what(text: str) -> frozenset[str]:
    return content_words(text) - _NOT_WHAT


def _grades(sentence: str) -> list[tuple[str, frozenset[str]]]:
    """(grade class, what it grades) for "small left pleural effusion", "mild-to-moderate
    edema" (both classes)."""
    out = []
    for match in _GRADED.finditer(sentence):
        # "moderate cardiomegaly and mild edema": the grade reaches the next conjunction.
        graded = _CONJUNCTION.split(match.group(2).lower(), maxsplit=1)[0]
        what = _what(graded)
        out.append((GRADE[match.group(1).lower()], what))
        for word in re.findall(r"(?:\bto[\s-]+|-)([a-z]+)", graded):
            if word in GRADE:  # "mild to moderate": the second grade qualifies the same thing
                out.append((GRADE[word], what))
    return [(grade, what) for grade, what in out if what]


def _changes(sentence: str) -> list[tuple[str, frozenset[str]]]:
    """(change class, what changed) for every change word, with its clause's content words."""
    out = []
    for clause in _CLAUSE.split(sentence):
        if _DENIED.search(clause):
            continue  # "no new effusion", "not changed": no change is claimed
        for match in _CHANGED.finditer(clause):
            what = _what(clause)
            if what:
                out.append((CHANGE[match.group(1).lower()], what))
    return out


# "No new consolidation": whatever is there is not new. The report's "no new X" is the one
# negated change that still says something: "new X" is then wrong, whatever the item asks.
_NOT_NEW = re.compile(r"\b(?:no|without)\s+(?:\w+\s+){0,3}?new\b", re.I)


def _novelty(sentence: str) -> list[tuple[str, frozenset[str]]]:
    """("worse", what) for a clause calling something new, ("same", what) for one denying
    that anything is new ("no new focal consolidation")."""
    out = []
    for clause in _CLAUSE.split(sentence):
        if _NOT_NEW.search(clause):
            out.append(("same", _what(clause)))
        elif not _DENIED.search(clause) and re.search(r"\bnew\b", clause, re.I):
            out.append(("worse", _what(clause)))
    return [(cls, what) for cls, what in out if what]


_READERS = {"grade": _grades, "change": _changes, "novelty": _novelty}


@lru_cache(maxsize=4096)
def _report_index(report: str, kind: str) -> tuple[tuple[str, frozenset[str]], ...]:
    read = _READERS[kind]
    return tuple(q for sentence in sentences(report) for q in read(sentence))


def _wrong(sentence: str, report: str, kind: str) -> bool:
    index = _report_index(report, kind)
    read = _READERS[kind]
    for said, what in read(sentence):
        classes = {cls for cls, theirs in index if what & theirs}
        if classes and said not in classes:
            return True
    return False


def qualifier_errors(steps: list[str], report: str, temporal: bool = False) -> list[str]:
    """Sentences of `steps` that grade a finding otherwise than the report does, call new
    what the report says is not ("no new consolidation"), and (for a temporal item, whose
    report says what changed) that state another change over time.

    >>> report = "Small right pleural effusion has increased since the prior study."
    >>> qualifier_errors(["There is a large right pleural effusion."], report)
    ['There is a large right pleural effusion.']
    >>> qualifier_errors(["A small right pleural effusion is seen."], report)
    []
    >>> qualifier_errors(["The pleural effusion has improved."], report, temporal=True)
    ['The pleural effusion has improved.']
    >>> qualifier_errors(["There is new focal consolidation."], "No new focal consolidation.")
    ['There is new focal consolidation.']
    """
    kinds = ("grade", "novelty", "change") if temporal else ("grade", "novelty")
    # A plan ("look for new infiltrates") claims nothing; a sentence that explains as it
    # observes ("moderate effusions, characterized by ...") still claims its grade.
    return [sentence for step in steps for sentence in sentences(step)
            if kind(sentence) != "plan"
            and any(_wrong(sentence, report, reader) for reader in kinds)]
