"""Option-by-option reasoning: which option a sentence discusses, and what each option's
discussion settles on.

Models often walk the options in turn ("B) Effusion: … would blunt the angle. None is seen."),
stating an option's status a sentence or two after its header, often through an anaphor ("these
features", "this option"); so an option's discussion is read as one unit, from the sentence
that opens it to the next option, a conclusion or a sentence naming several options. Pure
functions over `statements`' sentence reading.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chestx_reasoner.bench.sample import LETTERS
from chestx_reasoner.scoring.phrases import content_words
from chestx_reasoner.scoring.statements import kind, sentence_status, sentences, words_of

_CONCLUDE = re.compile(r"^\W*(?:in conclusion|in summary|therefore|thus|hence|overall|"
                       r"based on|considering|given (?:these|the)|after|upon|so\b|the (?:final |"
                       r"correct |best |most likely )?answer)", re.I)
# A plan line that ends by naming its option(s): a recap of the method, not a discussion.
_RECAP = re.compile(r"\(options?\s+[A-H](?:\s*(?:,|and|or)\s*[A-H])*\)\W*$", re.I)
_LETTER_REF = re.compile(r"\b(?:option|choice)\s*\(?([A-H])\b\)?|^\W*\(?([A-H])\)\s|"
                         r"^\W*([A-H])[.:]\s|\(option ([A-H])\)", re.I)


def letter_of(sentence: str) -> str | None:
    """The one option letter a sentence refers to ("Option B", "B) …", "(option B)")."""
    letters = {next(g for g in m.groups() if g).upper() for m in _LETTER_REF.finditer(sentence)}
    return letters.pop() if len(letters) == 1 else None


@lru_cache(maxsize=64)
def _option_words(options: tuple[str, ...]) -> tuple[frozenset[str], ...]:
    return tuple(frozenset().union(*(content_words(p) for p in o.split(","))) for o in options)


def option_index(sentence: str, options: tuple[str, ...]) -> tuple[int | None, bool]:
    """(the option a sentence opens or discusses, whether it closes discussions): an option
    referred to by letter, else the one option most of whose words it names; a concluding
    sentence, or one naming several options, closes the current discussion."""
    if _RECAP.search(sentence) and kind(sentence) != "observation":
        return None, True  # "Check for consolidation (Option C)." recaps the plan, opens nothing
    letter = letter_of(sentence)
    if letter is not None and LETTERS.index(letter) < len(options):
        return LETTERS.index(letter), bool(_CONCLUDE.search(sentence))
    if _CONCLUDE.search(sentence):
        return None, True
    tokens = words_of(sentence)
    named = [i for i, w in enumerate(_option_words(options))
             if w and len(tokens & w) >= max(1, round(len(w) * 0.6))]
    return (named[0], False) if len(named) == 1 else (None, len(named) > 1)


def option_units(text: str, options: tuple[str, ...]) -> dict[int, list[str]]:
    """Sentences that discuss each option, by option index: from a sentence that refers to
    one option up to the next such sentence, a concluding sentence or a sentence naming
    several options."""
    units: dict[int, list[str]] = {}
    current: int | None = None
    for sentence in sentences(text):
        index, closes = option_index(sentence, options)
        if closes:
            current = None
            continue
        if index is not None:
            current = index
        if current is not None:
            units.setdefault(current, []).append(sentence)
    return units


def unit_status(unit: list[str]) -> str | None:
    """The status an option's discussion settles on: its last observing sentence."""
    status = None
    for sentence in unit:
        said = sentence_status(sentence)
        if said is not None:
            status = said
    return status
