"""Sides in reasoning checked against the report's sides, phrase by phrase.

A swapped side ("opacity at the left base" where the report has it at the right base) is among
the errors that matter most, yet the labeler ties a side to a finding only when the two stand
close ("right basilar opacity"), and many phrasings keep them apart ("in the left perihilar
region, there is a hazy opacification"). So a side is read here as the report and the
reasoning write it: a side word, the anatomy words that follow it ("left lower lobe", "right
perihilar", "left costophrenic"), and the sentence's other content words, which say what lies
there. A reasoning sentence puts a finding on the wrong side when the report sentences about
the same thing, at the same place, name only the other side. Pure functions; cached.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chestx_reasoner.scoring.phrases import content_words
from chestx_reasoner.scoring.statements import sentences

OTHER = {"left": "right", "right": "left"}
# A side and the place it qualifies: up to two words ("left lower lobe", "right mid lung").
_SIDED = re.compile(r"\b(left|right)(?:[\s-]+(?:sided|side|hemi))?[\s-]+([a-z]+)(?:[\s-]+"
                    r"([a-z]+))?", re.I)
_BILATERAL = re.compile(r"\b(?:bilateral(?:ly)?|bibasilar|bibasal|both\s+(?:lungs?|sides|"
                        r"bases|apices|hemithoraces|hila|lower|upper|mid|costophrenic))\b",
                        re.I)
_DENIED = re.compile(r"\b(?:no|not|without|absent|absence|negative|free of|resolved|clear|"
                     r"normal|unremarkable|removed|removal)\b", re.I)
# Words of a place that do not say what lies there; matching needs one more word.
_PLACE = frozenset(w[:6] for w in (
    "lobe", "lung", "base", "apex", "zone", "hemithorax", "hemidiaphragm", "side", "chest",
    "region", "field", "upper", "lower", "middle", "mid", "perihilar", "basilar", "apical",
    "costophrenic", "angle", "hilum", "hilar", "image", "imaging", "ray", "shows", "seen",
    "noted", "there"))


# The side after the place: "the lower lobe of the right lung", "the apex of the left lung".
_SIDE_AFTER = re.compile(r"\b(upper|lower|middle|mid|apex|apices|base|bases)(?:[\s-]+(?:lobe|"
                         r"zone|lung|field)s?)?\s+of\s+the\s+(left|right)\s+(?:lung|"
                         r"hemithorax|chest)\b", re.I)


# One name per place: "right apical" and "the apex of the right lung" are one place.
_SAME_PLACE = {"apical": "apex", "apices": "apex", "basilar": "base", "basal": "base",
               "bases": "base"}


def _sided(sentence: str) -> list[tuple[str, frozenset[str], int, int]]:
    """(side, place, start, end) of every sided phrase: the place is the word after the side
    ("left lower" and "left upper" are two places), or the one before "of the left lung"."""
    found = [(m.group(1), m.group(2), m) for m in _SIDED.finditer(sentence)]
    found += [(m.group(2), m.group(1), m) for m in _SIDE_AFTER.finditer(sentence)]
    return [(side.lower(), frozenset({_SAME_PLACE.get(place.lower(), place.lower())}),
             m.start(), m.end()) for side, place, m in found]


def _stems(text: str) -> frozenset[str]:
    """Content words cut to six letters: "atelectatic" and "atelectasis" say one thing."""
    return frozenset(w[:6] for w in content_words(text))


@lru_cache(maxsize=4096)
def _report_sides(report: str) -> tuple[tuple[str, frozenset[str], frozenset[str]], ...]:
    """(side, place words, content words) of every sided phrase of the report."""
    out = []
    for sentence in sentences(report):
        words = _stems(sentence)
        for side, place, _, _ in _sided(sentence):
            out.append((side, place, words))
        if _BILATERAL.search(sentence):
            out.append(("bilateral", frozenset({"*"}), words))
    return tuple(out)


def misplaced(sentence: str, report: str) -> str | None:
    """The report's side for what `sentence` puts on the other side, as "right perihilar"
    (None when the report agrees, says nothing on it, or names both sides).

    >>> report = "In the left perihilar region there is a hazy opacification."
    >>> misplaced("Hazy opacification is seen in the right perihilar region.", report)
    'left perihilar'
    >>> misplaced("Hazy opacification is seen in the left perihilar region.", report)
    >>> misplaced("There is no right pleural effusion.", "Small left pleural effusion.")
    >>> misplaced("In the lower lobe of the right lung, a granuloma is seen.",
    ...           "Stable granuloma in the left lower lung zone.")
    'left lower'
    """
    sided = _report_sides(report)
    if not sided:
        return None
    words = _stems(sentence) - _PLACE
    for side, place, start, end in _sided(sentence):
        clause = sentence[max(0, start - 60): end + 60]
        if _DENIED.search(clause):
            continue  # "no right effusion", "the right lung is clear": nothing placed
        about = [(s, w) for s, p, w in sided if (p & place or "*" in p)
                 and len(words & w - _PLACE) >= 1]
        if not about:
            continue
        sides = {s for s, _ in about}
        if side in sides or "bilateral" in sides:
            continue
        return f"{OTHER[side]} {next(iter(place))}"
    return None


def side_errors(steps: list[str], report: str, counted: list[str] = ()) -> list[str]:
    """Sentences of `steps` that put something on the side the report does not, leaving out
    those whose wrong side is already `counted` (sentences where a labeler finding was judged
    on the wrong side). Every kind of sentence is read: a side names this patient's anatomy
    even inside a definition ("X is characterized by Y, and the left basilar opacity fits")
    or a plan ("Examining the left basilar opacity raises ...")."""
    out = []
    for step in steps:
        for sentence in sentences(step):
            if any(c and (c in sentence or sentence in c) for c in counted):
                continue
            if misplaced(sentence, report) is not None:
                out.append(sentence)
    return out
