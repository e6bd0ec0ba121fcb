"""Whether the option text written beside an answer letter is that letter's option.

Models often answer with a letter and the words of an option ("A) pleural effusion"). When the
words belong to another option, or are findings no option holds ("A) atelectasis, lung opacity"
when A is consolidation), the letter alone does not say what the model chose: a grader reads
the words. The rule is the one the free-text parser applies to option text without a letter:
the words pick an option when exactly one option is what they say; several, or findings no
option holds, commit to nothing. Wording does not matter: both sides go through the findings
vocabulary ("A) Consolidation.", "A (consolidated lung)" are option A), and findings the
words add beside the option's own ("A) consolidation with air bronchograms") elaborate it.
Pure functions; `parse.parse_answer` and the rules judge share them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from chestx_reasoner.bench.sample import LETTERS
from chestx_reasoner.reports.vocabulary import concepts, normalize_term

_I = re.IGNORECASE


class AmbiguousAnswer(ValueError):
    """A letter given with words that are not its option and name no other single option."""


SYNONYMS: dict[str, tuple[str, ...]] = {  # option text -> other words that answer with it
    "yes": ("present", "positive"),
    "no": ("absent", "negative"),
    "normal": ("no abnormality", "no abnormalities", "within normal limits", "not abnormal"),
    "abnormal": ("abnormality", "abnormalities", "not normal"),
    "stable": ("unchanged", "no change", "no significant change", "no interval change"),
    "worsening": ("worsened", "worse", "progression", "progressed", "progressing",
                  "deteriorated", "deteriorating"),
    "improving": ("improved", "improvement", "better", "resolving", "resolved"),
}

_LEAD_SEP = re.compile(r"^[\s)\].:,=\-–—*\"'“”‘’]+")
# Where the option's words end: a sentence, a bracket, or prose that says why or how sure.
_CLAUSE_END = re.compile(
    r"[.;:!?\n()\[\]]|\s[-–—]\s|\b(?:because|since|as|given|due|which|that|is|are|was|were|"
    r"would|could|may|might|can|seems?|appears?|fits?|matches|explains?|best|unlikely|"
    r"but|however|although|while|whereas|so|thus|therefore|hence)\b", _I)
_SPLIT = re.compile(r"[,;\n/]+|\b(?:and|plus)\b", _I)
_LIST_ITEM_WORDS = 6  # a finding-list item is short; longer text is prose about the letter
# A letter that introduces option text: "A) x", "(B) x", "C: x", "D. x", "A (x)".
_CLAIM = re.compile(r"(?<![A-Za-z0-9])[(\[]?([A-H])(?:[)\]]|[:.\-–](?=\s)|\s+(?=\())")


def given_text(rest: str) -> str:
    """The option words written right after a letter ("A) Consolidation. The heart…" ->
    "Consolidation"; "A (consolidation) since…" -> "consolidation"); "" when none."""
    rest = _LEAD_SEP.sub("", rest)
    if rest.startswith(("(", "[")):
        close = ")" if rest[0] == "(" else "]"
        rest = rest[1:].split(close, 1)[0]
    return _CLAUSE_END.split(rest, 1)[0].strip(" \t,\"'“”‘’*")


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(n for c in concepts() for n in (c.name, c.finding_name) if n)


@lru_cache(maxsize=1)
def _observation() -> dict[str, str]:
    return {n: c.observation for c in concepts() for n in (c.name, c.finding_name)
            if n and c.observation}


@lru_cache(maxsize=4096)
def _findings(text: str) -> tuple[frozenset[str], bool]:
    """Canonical findings the words name (unknown ones normalised), and whether they are
    purely a list of known findings (every item short and in the vocabulary), not prose."""
    from chestx_reasoner.scoring.parse import parse_findings  # parse imports this module

    names: set[str] = set()
    listing = True
    for item in _SPLIT.split(text):
        if not item.strip(" .-"):
            continue
        found = parse_findings(item)
        names.update(found)
        listing &= bool(found) and len(item.split()) <= _LIST_ITEM_WORDS \
            and all(n in _known() for n in found)
    return frozenset(names), listing and bool(names)


def _word_options(options: Sequence[str]) -> dict[str, int] | None:
    """Yes/No, Normal/Abnormal, Stable/Worsening/Improving: each wording -> its option."""
    keys = [normalize_term(o) for o in options]
    if not keys or not all(k in SYNONYMS for k in keys):
        return None
    return {normalize_term(form): i for i, k in enumerate(keys) for form in (k, *SYNONYMS[k])}


def _pick(named: frozenset[str], keys: list[frozenset[str]], own: int) -> int | None:
    """The option whose findings `named` are, `own` first; None when no single one is."""
    if named == keys[own]:
        return own
    hits = [j for j, key in enumerate(keys) if key == named]
    return hits[0] if len(hits) == 1 else None


def resolve_letter(letter: str, rest: str, options: Sequence[str]) -> str | None:
    """The option a letter answer stands for, given the text after the letter: the letter's
    own when that text is its option in any wording, or no option text at all; the option the
    text is, when it is exactly one other; None (no answer) when it names findings that are
    several options', or a finding list no option holds.

    >>> resolve_letter("A", ") Consolidation.", ["consolidation", "edema"])
    'A'
    >>> resolve_letter("A", ") pulmonary edema", ["consolidation", "edema"])
    'B'
    >>> resolve_letter("A", ") fracture", ["consolidation", "edema"]) is None
    True
    """
    own = LETTERS.index(letter)
    text = given_text(rest)
    if not text or own >= len(options):
        return letter
    if (words := _word_options(options)) is not None:
        norm = normalize_term(text)
        heads = [form for form in words if norm == form or norm.startswith(form + " ")]
        return LETTERS[words[max(heads, key=len)]] if heads else letter
    keys = [_findings(o)[0] or frozenset({normalize_term(o)}) for o in options]
    union = frozenset().union(*keys)
    named, listing = _findings(text)
    named = frozenset(n for n in named if n in union or n in _known())  # not prose words
    if not named:
        return letter
    # Exact findings first, then their CheXpert observations ("nodule" for "lung lesion").
    # A set option (`multi`) is all of its findings and no more, unless words the vocabulary
    # does not know ("pulmonary oedema") may be the rest of it; beside one-finding options,
    # findings no option names elaborate ("consolidation with a pneumonia").
    sets = any(len(k) > 1 for k in keys)
    obs = _observation()
    for view in (lambda s: s, lambda s: frozenset(obs.get(n, n) for n in s)):
        seen = [view(k) for k in keys]
        said, offered = view(named), frozenset().union(*seen)
        if said & offered:
            if sets and not listing and said <= seen[own]:
                return letter
            choice = _pick(said if sets else said & offered, seen, own)
            return None if choice is None else LETTERS[choice]  # None: no single option's
    # Findings of no option at all: a plain finding list is a wrong text, prose is not.
    all_known = all(k and k <= _known() for k in keys) and bool(union)
    return None if listing and all_known else letter


def letter_conflicts(text: str, options: Sequence[str]) -> list[tuple[str, str | None]]:
    """(letter, what its text makes it) for each letter the text gives with words that are
    not that letter's option: "the answer is A) edema" when B is edema -> [("A", "B")]."""
    out = []
    for m in _CLAIM.finditer(text):
        letter = m.group(1).upper()
        if LETTERS.index(letter) >= len(options):
            continue
        resolved = resolve_letter(letter, text[m.end():], options)
        if resolved != letter:
            out.append((letter, resolved))
    return out
