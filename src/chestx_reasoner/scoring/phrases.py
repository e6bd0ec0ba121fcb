"""Free-text findings: find an option's finding phrase in reasoning and read its status there.

Benchmark options name findings in the source's own words ("bilateral nipple shadow",
"calcinosis in lymph nodes of lung hilum"), many outside the labeler's vocabulary. A phrase is
mentioned by a sentence that holds most of its content words (plurals folded); its status comes
from negation and hedge cues earlier in that sentence. Pure functions.
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
_NEGATION = re.compile(
    r"\b(no|not|without|absence|absent|negative|free of|ruled out|rule out|excluded|exclude|"
    r"unremarkable|normal|clear of|neither|nor|none)\b")
_HEDGE = re.compile(r"\b(may|might|could|possible|possibly|probable|likely|suggest|suggests|"
                    r"suggestive|cannot|can't|questionable|suspicious|concern|consider)\b")
# Sentences that describe what a finding would look like, or weigh an option, state nothing.
_HYPOTHETICAL = re.compile(
    r"\b(option|options|would|if|look for|looking for|characteri[sz]ed|typically|usually|"
    r"check|checking|evaluate|evaluating|assess|assessing|consider|considering|whether|"
    r"appear as|appears as|defined as|refers to|indicative of)\b")
# Negation after the finding: "X is not seen", "X: absent", "X is unlikely".
_NEGATED_AFTER = re.compile(
    r"\b(not|no longer|never)\s+(be\s+)?(seen|present|visible|evident|identified|apparent|"
    r"noted|observed|demonstrated|detected|appreciated|shown|found|confirmed|supported)\b|"
    r"\b(absent|unlikely|ruled out|excluded|not present)\b|^\W*(no|none|negative)\b")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"[a-z]+")


def _fold(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


@lru_cache(maxsize=4096)
def content_words(phrase: str) -> frozenset[str]:
    """The words that identify a finding phrase.

    >>> sorted(content_words("Mild bilateral nipple shadows"))
    ['nipple', 'shadow']
    """
    return frozenset(_fold(w) for w in _WORD.findall(phrase.lower()) if w not in _STOP
                     and len(w) > 2)


@lru_cache(maxsize=256)
def _sentences(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Sentences of a text with their folded words (cached: every phrase reads each text)."""
    return tuple((sentence, tuple(_fold(w) for w in _WORD.findall(sentence)))
                 for sentence in _SENTENCE.split(text.lower()))


def mention_status(phrase: str, text: str) -> str | None:
    """present / absent / uncertain as `text` states the phrase's finding, None if not named.

    The last sentence naming it wins (reasoning concludes after weighing).

    >>> mention_status("nipple shadow", "Nipple shadows overlie both bases.")
    'present'
    >>> mention_status("pleural thickening", "There is no pleural thickening.")
    'absent'
    """
    words = content_words(phrase)
    if not words:
        return None
    need = max(1, round(len(words) * 0.6))
    status = None
    for sentence, tokens in _sentences(text):
        hits = [i for i, t in enumerate(tokens) if t in words]
        if len({tokens[i] for i in hits}) < need:
            continue
        before = " ".join(tokens[: hits[0]])
        after = " ".join(tokens[hits[-1] + 1:])
        tail = sentence.rsplit(":", 1)[1] if ":" in sentence else None
        if tail is not None and len(_WORD.findall(tail)) < 3 and not _NEGATION.search(tail):
            continue  # a heading that restates the option ("B) Mild scoliosis:") says nothing
        if _NEGATION.search(before) or _NEGATED_AFTER.search(after):
            status = "absent"
        elif _HYPOTHETICAL.search(sentence):
            continue
        elif _HEDGE.search(sentence):
            status = "uncertain"
        else:
            status = "present"
    return status
