"""How a section's text becomes sentences: line wrapping undone (`unwrap`), then split at
sentence punctuation and blank lines (the `chestx_sentences` pipeline component), and the
sentence starts read back without spaCy's per-token objects (`sentence_starts`)."""

from __future__ import annotations

import bisect
import re

import numpy
from spacy.attrs import IS_PUNCT, IS_SPACE, ORTH, SENT_START
from spacy.language import Language
from spacy.strings import hash_string
from spacy.tokens import Doc

# Whitespace runs other than one plain space (which stays as it is).
_WHITESPACE_RUN = re.compile(r"\s\s+|[^\S ]")


class OffsetMap:
    """Offsets into the original text of an unwrapped text's characters, kept as the start
    of each copied run and gap (a list per character cost more than the pipeline's own
    sentence splitting)."""

    __slots__ = ("_gap", "_original", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._original: list[int] = []
        self._gap: list[bool] = []

    def _add(self, start: int, original: int, gap: bool) -> None:
        self._starts.append(start)
        self._original.append(original)
        self._gap.append(gap)

    def __getitem__(self, index: int) -> int:
        run = bisect.bisect_right(self._starts, index) - 1
        if self._gap[run]:
            return self._original[run]
        return self._original[run] + index - self._starts[run]


def unwrap(text: str) -> tuple[str, OffsetMap]:
    r"""Undo hard line wrapping: each whitespace run becomes one space, a blank line "\n\n".

    MIMIC-CXR reports wrap lines at ~78 characters, so "heart is mildly\n enlarged" would
    otherwise split a phrase in two tokens apart. Returns the text and, per character (plus
    one past the end), its offset in the original, so evidence spans still point into it.

    >>> text, where = unwrap("mildly\n enlarged")
    >>> text, [where[i] for i in range(len(text) + 1)]
    ('mildly enlarged', [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16])
    """
    out: list[str] = []
    where = OffsetMap()
    position = length = 0
    for match in _WHITESPACE_RUN.finditer(text):
        if match.start() > position:
            where._add(length, position, False)
            out.append(text[position:match.start()])
            length += match.start() - position
        gap = "\n\n" if match.group().count("\n") >= 2 else " "
        where._add(length, match.start(), True)
        out.append(gap)
        length += len(gap)
        position = match.end()
    where._add(length, position, False)  # the rest, and one past the end
    out.append(text[position:])
    return "".join(out), where


_SENTENCE_ENDS = (".", "!", "?", ";")
_SENTENCE_END_ARRAY = numpy.array([hash_string(c) for c in _SENTENCE_ENDS], dtype="uint64")


@Language.component("chestx_sentences")
def _sentences(doc: Doc) -> Doc:
    """spaCy's punctuation Sentencizer (a sentence starts at the first token after ".", "!",
    "?" or ";" that is not punctuation), and a sentence after a blank line: report lists often
    omit the final period. The same rule as the Sentencizer, on token arrays: the Sentencizer
    makes a Token object per token, which cost as much as the target matcher."""
    if not len(doc):
        return doc
    tokens = doc.to_array([ORTH, IS_PUNCT, IS_SPACE])
    ends = numpy.isin(tokens[:, 0], _SENTENCE_END_ARRAY)
    # A token may start a sentence if it is neither punctuation nor a sentence end; it does
    # if a sentence end came after the previous such token (the Sentencizer's "seen_period").
    candidates = numpy.flatnonzero((tokens[:, 1] == 0) & ~ends)
    ends_so_far = numpy.cumsum(ends)[candidates]
    before = numpy.concatenate(([0], ends_so_far[:-1]))
    starts = numpy.full(len(doc), -1, dtype="int64")
    starts[candidates[ends_so_far > before]] = 1
    starts[0] = 1
    for i in numpy.flatnonzero(tokens[:-1, 2]).tolist():
        if doc[i].text.count("\n") >= 2:
            starts[i + 1] = 1
    doc.from_array([SENT_START], starts.astype("uint64"))
    return doc


def sentence_starts(doc: Doc) -> list[int]:
    """The first token of each sentence, as `doc.sents` gives them: read from the token
    array, since `doc.sents` makes a Token object per token."""
    if not len(doc):
        return []
    flags = doc.to_array(SENT_START).astype("int64")
    flags[0] = 1
    return numpy.flatnonzero(flags == 1).tolist()
