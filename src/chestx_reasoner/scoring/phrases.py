"""Free-text findings: find an option's finding phrase in reasoning and read its status there.

Benchmark options name findings in the source's own words ("bilateral nipple shadow",
"calcinosis in lymph nodes of lung hilum"), many outside the labeler's vocabulary. A phrase is
mentioned by a sentence that holds most of its content words (plurals folded) and, for a
two-word phrase, its head word; `statements.phrase_status` reads the status. Pure functions.
"""

from __future__ import annotations

import re
from functools import lru_cache

_STOP = frozenset((
    "a", "an", "the", "of", "in", "at", "on", "to", "for", "with", "and", "or", "is", "are",
    "be", "was", "were", "this", "that", "there", "these", "those", "its", "it", "as", "by",
    "from", "into", "over", "lung", "lungs", "both", "bilateral", "left", "right", "mild",
    "moderate", "severe", "small", "large", "minimal", "slight", "subtle", "upper", "lower",
    "middle", "mid", "base", "bases", "basal", "basilar", "apex", "apical", "zone", "zones",
    "lobe", "lobes", "side", "sided", "area", "areas", "region", "chest", "thorax", "multiple",
    "scattered", "few", "several",
))
_WORD = re.compile(r"[a-z]+")
# The head of "nodule in lingula" comes before its preposition.
_PREPOSITION = re.compile(r"\b(?:in|of|at|on|with|within|along|over|involving|from)\b")


@lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    """A plural's singular, so that a phrase and its plural mention fold alike ("nodules" and
    "nodule" -> "nodule"; "masses" -> "mass"; "opacities" -> "opacity").

    >>> [_fold(w) for w in ("nodules", "nodule", "changes", "masses", "opacities", "ribs")]
    ['nodule', 'nodule', 'change', 'mass', 'opacity', 'rib']
    """
    if word.endswith("ies") and len(word) > 6:
        return word[:-3] + "y"
    if word.endswith("es") and len(word) > 5 and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


@lru_cache(maxsize=65536)  # called on option phrases and on every sentence that may name one
def content_words(phrase: str) -> frozenset[str]:
    """The words that identify a finding phrase.

    >>> sorted(content_words("Mild bilateral nipple shadows"))
    ['nipple', 'shadow']
    """
    return frozenset(_fold(w) for w in _WORD.findall(phrase.lower()) if w not in _STOP
                     and len(w) > 2)


@lru_cache(maxsize=65536)
def fold_words(text: str) -> tuple[str, ...]:
    """The words of a text, lowercased with plurals folded, as `content_words` folds them."""
    return tuple(_fold(w) for w in _WORD.findall(text.lower()))


@lru_cache(maxsize=4096)
def head_word(phrase: str) -> str | None:
    """The last content word: the head noun of most English finding phrases ("pleural
    effusion" -> "effusion"), which a two-word phrase's mention must contain.

    >>> head_word("Left pleural effusions")
    'effusion'
    """
    lead = _PREPOSITION.split(phrase.lower(), maxsplit=1)[0]
    for part in (lead, phrase.lower()):
        words = [_fold(w) for w in _WORD.findall(part) if w not in _STOP and len(w) > 2]
        if words:
            return words[-1]
    return None
