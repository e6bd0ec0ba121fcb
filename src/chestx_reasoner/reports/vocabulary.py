"""The findings vocabulary: CheXpert's 14 observations, finer findings, and how reports say them.

Each `Concept` is one finding a report can mention. It rolls up into a CheXpert `observation`
(None for findings outside the 14, e.g. scoliosis) and, separately, names the CheXpert column it
counts toward in study labels (`chexpert_label`): a few findings roll up semantically but the
CheXpert labeler does not count them (a calcified granuloma is a lung lesion to a reader, yet
CheXpert leaves Lung Lesion blank), and our labels follow the labeler so they stay comparable.

`kind="anatomy"` concepts are structures whose normality is reported ("heart size is normal",
"mediastinal contours are unremarkable"): they take the status of the statement about them.
The phrase table itself lives in `lexicon.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

CHEXPERT_OBSERVATIONS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)


@dataclass(frozen=True, slots=True)
class Concept:
    """One finding and the phrases that mention it."""

    name: str
    observation: str | None
    phrases: tuple[str, ...]
    chexpert_label: str | None = None
    kind: str = "finding"  # finding | anatomy
    default_status: str = "present"  # of an unmodified mention ("uncertain" for hedged terms)
    finding: str | None = None  # anatomy: the abnormality its statement reports on
    abnormal: bool = True  # False: a positive mention does not rule out "No Finding" (CheXpert)
    needs_cue: bool = False  # True: a mention no context cue qualifies is not a finding

    @property
    def finding_name(self) -> str:
        """The finding a mention reports: "heart size is normal" reports on cardiomegaly."""
        return self.finding or self.name

    @property
    def key(self) -> str:
        """The spaCy entity label of this concept's mentions."""
        return re.sub(r"[^A-Z0-9]+", "_", self.name.upper()).strip("_")


def pluralize(phrase: str) -> str:
    """Plural of a phrase's last word, for phrase matching without a lemmatizer.

    >>> pluralize("pleural effusion"), pluralize("opacity"), pluralize("mass")
    ('pleural effusions', 'opacities', 'masses')
    """
    head, _, last = phrase.rpartition(" ")
    if last.endswith(("sis", "ema", "ax", "ing", "ed", "ly", "ia", "al", "ic", "size", "s")):
        plural = last + "es" if last.endswith(("ss",)) else last
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        plural = last[:-1] + "ies"
    elif last.endswith(("x", "ch", "sh")):
        plural = last + "es"
    else:
        plural = last + "s"
    return f"{head} {plural}".strip()


_ARTICLES = re.compile(r"\b(?:the|a|an)\b")
# Severity, extent and side words: dropped on a second lookup pass, so "thickening of right
# pleura" finds "thickening of pleura" (the location is read separately).
_MODIFIERS = re.compile(
    r"\b(?:mild|mildly|moderate|moderately|severe|severely|small|large|minimal|minor|marked|"
    r"left|right|bilateral|bilaterally|multiple|scattered|chronic|acute|diffuse|focal|patchy|"
    r"streaky|subtle|slight|slightly|possible|old|new|upper|middle|lower|base|basal|apex|"
    r"apical|side|sided|lobe|lobes)\b")


def normalize_term(text: str) -> str:
    """Lowercase, drop punctuation and articles, fold spaces: for term lookup.

    >>> normalize_term("Blunting of the Left Costophrenic-Angle.")
    'blunting of left costophrenic angle'
    """
    text = re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("-", " "))
    return re.sub(r"\s+", " ", _ARTICLES.sub(" ", text)).strip()


@lru_cache(maxsize=1)
def concepts() -> tuple[Concept, ...]:
    from chestx_reasoner.reports.lexicon import CONCEPTS

    return CONCEPTS


@lru_cache(maxsize=1)
def concepts_by_name() -> dict[str, Concept]:
    return {c.name: c for c in concepts()}


@lru_cache(maxsize=1)
def concepts_by_key() -> dict[str, Concept]:
    return {c.key: c for c in concepts()}


@lru_cache(maxsize=1)
def _phrase_index() -> list[tuple[str, Concept]]:
    index = []
    for concept in concepts():
        for phrase in (concept.name, *concept.phrases):
            for form in {normalize_term(phrase), normalize_term(pluralize(phrase))}:
                index.append((form, concept))
    return sorted(index, key=lambda item: -len(item[0]))


def lookup_concepts(term: str) -> list[Concept]:
    """Concepts a free-text term names, longest phrases first, each concept once.

    Used to map option texts and judge outputs onto the vocabulary.

    >>> [c.name for c in lookup_concepts("mild cardiomegaly")]
    ['cardiomegaly']
    """
    return list(_lookup(term))


# RadRBench-CXR's OpenI options lost letters of two MeSH words ("indwelling right caters",
# "arosclerosis of aorta"): read them as the words they were.
_OPTION_SPELLINGS = {"caters": "catheters", "cater": "catheter",
                     "arosclerosis": "arteriosclerosis"}
_MISSPELT = re.compile(rf"\b(?:{'|'.join(_OPTION_SPELLINGS)})\b")


@lru_cache(maxsize=65536)
def _lookup(term: str) -> tuple[Concept, ...]:
    """Cached: judges and miners look the same option texts up over and over."""
    found: list[Concept] = []
    text = _MISSPELT.sub(lambda m: _OPTION_SPELLINGS[m.group()], f" {normalize_term(term)} ")
    for attempt in (text, f" {' '.join(_MODIFIERS.sub(' ', text).split())} "):
        for phrase, concept in _phrase_index():
            # The substring test first: comparing concepts (dataclasses) field by field for
            # every phrase of the vocabulary was most of a lookup's time.
            if f" {phrase} " in attempt and concept not in found:
                found.append(concept)
                attempt = attempt.replace(f" {phrase} ", " # ")
        if found:
            break
    return tuple(found)


def observation_of(term: str) -> str | None:
    """The CheXpert observation a term rolls up into, if any.

    >>> observation_of("left basilar atelectasis")
    'Atelectasis'
    """
    for concept in lookup_concepts(term):
        if concept.observation:
            return concept.observation
    return None
