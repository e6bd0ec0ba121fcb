"""Normal-anatomy statements as key findings: "the lungs are clear", "heart size is normal".

Radiologists and graders treat "the heart size is normal" or "the costophrenic angles are
sharp" as findings in their own right: a reasoning chain that checks the heart and finds it
normal has established something, and a prediction that calls the mediastinum widened when the
report calls it unremarkable is wrong. The finding vocabulary names diseases, not structures, so
these statements are read here: a structure named in a clause with a normal or an abnormal
descriptor. Each structure maps onto the CheXpert observation a normal statement rules out
("heart size normal" = no cardiomegaly), so "heart normal" and "cardiomegaly absent" match
as one finding. Regular expressions only; cached per sentence.
"""

from __future__ import annotations

import re
from functools import lru_cache

# structure -> (pattern naming it, CheXpert observation its normal statement rules out)
STRUCTURES: dict[str, tuple[str, str | None]] = {
    # Not the heart's borders: an obscured border is the silhouette sign of the lung beside
    # it, and says nothing of the heart's size.
    "heart size": (r"heart(?: size| shadow| contour)?(?! borders?)|cardiac (?:silhouette|size|"
                   r"shadow|contour)s?(?! borders?)|cardiothoracic ratio", "Cardiomegaly"),
    "mediastinum": (r"mediast\w*(?: (?:contour|silhouette|width)s?)?",
                    "Enlarged Cardiomediastinum"),
    "lungs": (r"lungs?(?: fields?| parenchyma| zones?| volumes?)?|pulmonary parenchyma",
              "Lung Opacity"),
    "pleura": (r"pleura|pleural (?:spaces?|surfaces?)|costophrenic (?:angles?|sulci|recesses)",
               "Pleural Effusion"),
    "bones": (r"bones?|bony|osseous|ribs|"
              r"clavicles|skeletal structures|thoracic cage|vertebrae|spine", "Fracture"),
    "diaphragm": (r"(?:hemi)?diaphragms?|diaphragmatic (?:contours?|domes?)", None),
    "trachea": (r"trachea", None),
    "hila": (r"hila|hilum|hilar (?:regions?|structures|contours?|shadows?)", None),
    "pulmonary vasculature": (r"pulmonary vascula\w*|vascular markings|bronchovascular markings",
                              "Edema"),
    "soft tissues": (r"soft tissues?", None),
}
_STRUCTURE = re.compile("|".join(rf"(?P<s{i}>\b(?:{p})\b)" for i, (p, _) in
                                 enumerate(STRUCTURES.values())), re.I)
_NAMES = list(STRUCTURES)
_NORMAL = re.compile(
    r"\b(?:normal(?:ly)?|clear|unremarkable|intact|sharp|within (?:normal )?limits|midline|"
    r"well[- ](?:defined|expanded|aerated|inflated)|symmetric(?:al)?|preserved|appropriate|"
    r"no (?:\w+ ){0,3}(?:abnormalit\w*|anomal\w*|fractures?|lesions?|opacit\w*|deviation|"
    r"widening|enlargement|blunting|effusions?|consolidation|infiltrates?)|free of|"
    r"not (?:enlarged|widened|blunted|elevated)|stable|unchanged|"
    r"(?:less|smaller) than (?:half|one[- ]half|50|0\.5))\b", re.I)
_ABNORMAL = re.compile(
    r"\b(?:enlarge\w*|widen\w*|blunt\w*|elevat\w*|abnormal\w*|prominen\w*|deviat\w*|"
    r"hyperinflat\w*|hyperexpan\w*|flatten\w*|low (?:lung )?volumes?|opacifi\w*|"
    r"degenerat\w*|fractur\w*|shift\w*|increased|obscur\w*|irregular\w*|scoliosis|"
    r"curvature|osteophyt\w*|low|"
    # The cardiothoracic ratio in words: "the heart width is more than half the thorax's".
    r"(?:larger|greater|more|wider) than (?:half|one[- ]half|50|0\.5)|exceed\w* (?:half|"
    r"one[- ]half|50|0\.5))\b", re.I)
_DENIED = re.compile(r"\b(?:no|not|without|neither|nor|absence of|free of)\b", re.I)
_BOTH = re.compile(r"\bcardiomediastinal (?:silhouette|contours?)\b", re.I)
_CLAUSE = re.compile(r"[;:]|,\s*(?:and|but|while|whereas|which|with)\b|\b(?:but|however|"
                     r"although|whereas|while)\b", re.I)


def observation_of(structure: str) -> str | None:
    """The CheXpert observation a structure's normal statement rules out."""
    return STRUCTURES[structure][1]


@lru_cache(maxsize=16384)
def structure_statements(sentence: str) -> tuple[tuple[str, str], ...]:
    """(structure, status) pairs a sentence states: "absent" for normal (no abnormality),
    "present" for abnormal; each structure once, the first descriptor in its clause deciding.

    >>> structure_statements("The heart size is normal and the lungs are clear.")
    (('heart size', 'absent'), ('lungs', 'absent'))
    >>> structure_statements("The mediastinum appears widened.")
    (('mediastinum', 'present'),)
    """
    out: dict[str, str] = {}
    sentence = _BOTH.sub("heart and mediastinum", sentence)
    for clause in _CLAUSE.split(sentence):
        for match in _STRUCTURE.finditer(clause):
            name = _NAMES[int(match.lastgroup[1:])]  # type: ignore[index]
            rest = clause[match.end():]
            before = clause[:match.start()]
            normal, abnormal = _NORMAL.search(rest), _ABNORMAL.search(rest)
            if not normal and not abnormal:  # "clear lungs", "a normal heart size"
                normal, abnormal = _NORMAL.search(before[-25:]), _ABNORMAL.search(before[-25:])
            if normal and (not abnormal or normal.start() <= abnormal.start()):
                out.setdefault(name, "absent")
            elif abnormal:  # "no acute bony abnormality": a denied abnormality is normal
                denied = _DENIED.search(clause[: match.end() + abnormal.start()])
                out.setdefault(name, "absent" if denied else "present")
    return tuple(out.items())
