"""How chains say things: plain statements of a finding, where to look, the opening plan.

Kept apart from the miner's logic (`rules.py`) so the grammar of every template can be read,
and tested, in one place: articles and plurals ("a small left pleural effusion", "bilateral
pleural effusions", "support devices are"), zones as nouns ("at the lung bases"), and look-for
sentences whose signs stay inside "evaluate for"'s reach so the labeler reads them as a plan.
"""

from __future__ import annotations

import random
import re

from chestx_reasoner.bench.sample import FINDING_NAMES
from chestx_reasoner.mining.evidence import Evidence
from chestx_reasoner.mining.knowledge import LOOK_FOR, PLACES

_COUNT_NOUNS = {"Pleural Effusion", "Pneumothorax", "Lung Lesion", "Fracture", "Lung Opacity"}
_PLURAL = {"Pleural Effusion": "pleural effusions", "Pneumothorax": "pneumothoraces",
           "Lung Lesion": "lung lesions", "Fracture": "fractures", "Lung Opacity": "opacities"}
_ZONES = {"base": ("lung base", "lung bases"), "apex": ("apex", "apices"),
          "perihilar": ("perihilar region", "perihilar regions"),
          "retrocardiac": ("retrocardiac region", "retrocardiac region"),
          "upper": ("upper zone", "upper zones"), "middle": ("mid zone", "mid zones"),
          "lower": ("lower zone", "lower zones")}


_LEAD = re.compile(r"\s+(?:in|of|at|on|with|within|along|over|involving|from)\s+")
_SINGULAR_ENDINGS = ("ss", "sis", "us", "xis")


def is_plural(phrase: str) -> bool:
    """Whether a finding phrase is plural by its head noun, the last word before a
    preposition ("deformities of thoracic vertebrae", not "hypoinflation of lungs").

    >>> is_plural("anterior deformities of thoracic vertebrae"), is_plural("calcinosis")
    (True, False)
    """
    words = _LEAD.split(phrase.strip().lower(), maxsplit=1)[0].split()
    head = words[-1] if words else ""
    return head.endswith("s") and not head.endswith(_SINGULAR_ENDINGS)


def join_words(words: list[str], last: str = "and") -> str:
    """ "a", "a and b", "a, b and c".

    >>> join_words(["edema", "pleural effusion", "pneumothorax"], "or")
    'edema, pleural effusion or pneumothorax'
    """
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


def lower_first(text: str) -> str:
    """A sentence to follow "On the prior image, ": lowercased unless it opens with an
    acronym ("PICC", "ET")."""
    first = text.split(" ", 1)[0]
    return text if first.isupper() and len(first) > 1 else text[0].lower() + text[1:]


def _noun(e: Evidence) -> str:
    """The finding with its size and side: "a small left pleural effusion"."""
    name = FINDING_NAMES[e.column]
    if e.column == "Support Devices":
        return e.devices or "support devices"
    side = e.side if e.side in ("left", "right") else ""
    if e.side == "bilateral":
        name = _PLURAL.get(e.column, name)
        side = "bilateral"
    words = " ".join(w for w in (e.severity, side, name) if w)
    if e.column in _COUNT_NOUNS and e.side != "bilateral":
        return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"
    return words


def _where(e: Evidence) -> str:
    location = e.location
    if not location or e.column in ("Cardiomegaly", "Enlarged Cardiomediastinum",
                                    "Support Devices"):
        return ""
    if "lobe" in location or location == "lingula":
        return f" in the {location.removeprefix('bilateral ')}"
    zone = location.split()[-1]
    if zone in _ZONES:
        singular, plural = _ZONES[zone]
        return f" at the {plural}" if e.side == "bilateral" else f" at the {singular}"
    return ""


def plain_statement(e: Evidence) -> str:
    """One sentence for a finding the report states but no quotable sentence carries."""
    if e.status == "present":
        text = f"There {'are' if _noun(e).endswith('s') and e.side == 'bilateral' else 'is'} " \
               f"{_noun(e)}{_where(e)}."
        if e.column == "Support Devices":
            text = f"Support devices are present: {e.devices or 'tubes or lines'}."
        return text
    if e.status == "uncertain":
        verb = "are" if e.column == "Support Devices" else "is"
        return f"{FINDING_NAMES[e.column].capitalize()} {verb} possible{_where(e)}."
    if e.hardware:  # hardware the labels do not count: say what is there, then what is not
        return f"{e.hardware} No tube, line or catheter is seen."
    return f"No {FINDING_NAMES[e.column]} {'are' if e.column == 'Support Devices' else 'is'} seen."


def look_sentence(rng: random.Random, columns: list[str]) -> str:
    """Where to look, and for which sign: a plan, asserting nothing."""
    if len(columns) > 3:  # "evaluate for" reaches about ten words: two names a sentence
        return " ".join(look_sentence(rng, columns[i:i + 2]) for i in range(0, len(columns), 2))
    names = join_words([FINDING_NAMES[c] for c in columns])
    if len(columns) > 1:
        places = join_words(list(dict.fromkeys(PLACES[c] for c in columns)))
        return rng.choice([f"To evaluate for {names}, examine {places}.",
                           f"Assess for {names} by examining {places}."])
    sign, where = rng.choice(LOOK_FOR[columns[0]])
    return rng.choice([f"To evaluate for {names}, look for {sign} {where}.",
                       f"Evaluate for {names}, looking for {sign} {where}.",
                       f"Assess for {names}: look for {sign} {where}.",
                       f"To assess for {names}, search for {sign} {where}.",
                       f"Evaluate for {names} by looking for {sign} {where}."])


def plan_sentence(rng: random.Random, item: dict, asked: str | None) -> str:
    task = item["task"]
    if task == "binary" and asked:
        name = FINDING_NAMES[asked]
        return rng.choice([f"To answer, evaluate for {name} first, then the rest of the chest "
                           "for related findings.",
                           f"The question asks to evaluate for {name}; its signs decide yes or "
                           "no, and the rest of the chest is surveyed as well."])
    if task in ("single", "multi"):
        n = len(item["options"])
        what = "finding" if task == "single" else "set of findings"
        return rng.choice([f"There are {n} candidate options, each a {what}; each candidate "
                           "is checked on the image and only what is actually seen is kept.",
                           f"The options offer {n} alternatives; the image is checked for "
                           f"every finding they name, and the right {what} is the one that "
                           "matches what is seen."])
    if task == "temporal" and asked:
        name = FINDING_NAMES[asked]
        return rng.choice([f"Two images are compared, the prior and the current one; evaluate "
                           f"for {name} on each and judge how it changed.",
                           f"To judge the progression, evaluate for {name} on the prior and on "
                           "the current radiograph and compare them."])
    return rng.choice(["The whole radiograph is surveyed: heart, mediastinum, lungs, pleura "
                       "and bones, keeping each finding that is seen.",
                       "A systematic survey covers the heart and mediastinum, both lungs, the "
                       "pleural spaces and the bones."])


def be(column: str) -> str:
    """The verb that agrees with a finding's name ("support devices are")."""
    return "are" if column == "Support Devices" else "is"


def state(e: Evidence) -> str:
    """ "is present", "is possible", "is not seen" for a conclusion."""
    return f"{be(e.column)} " + {"present": "present", "uncertain": "possible"}.get(
        e.status, "not seen")
