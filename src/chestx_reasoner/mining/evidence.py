"""What a report says about each finding, in its own words: the evidence a chain is built from.

A chain that paraphrases a label ("pulmonary edema") loses what the radiologist wrote: the
hedge ("may represent asymmetric edema"), the side and size, the change ("has improved"), the
differential ("more compatible with edema than pneumonia"). So each finding keeps the report
sentence that states it, cleaned of what only makes sense inside a report (comparison dates,
"___" placeholders, list numbers, "as compared to the previous radiograph", capitals).

>>> clean_sentence("2. INTERVAL DECREASE IN THE RIGHT PLEURAL EFFUSION SINCE ___.")
'Interval decrease in the right pleural effusion.'
>>> clean_sentence("As compared to the previous radiograph, the edema has improved.")
'The edema has improved.'
>>> clean_sentence("Lungs: Low lung volumes with mild worsening of pulmonary edema")
'Low lung volumes with mild worsening of pulmonary edema.'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from chestx_reasoner.bench.sample import FINDING_NAMES
from chestx_reasoner.reports.records import Finding, LabeledReport

_STATUS = {1: "present", -1: "uncertain", 0: "absent", None: "absent"}
_SEVERITY = re.compile(r"\b(trace|tiny|small|mild|minimal|moderate|large|severe|marked|"
                       r"extensive)\b", re.IGNORECASE)
_COMPARISON = re.compile(
    r"(?:\b(?:as |when )?(?:compared (?:with|to)|in comparison (?:with|to)|comparison (?:is "
    r"made )?(?:with|to)|relative to|since|from|than (?:on|in)|versus)\s+(?:the\s+)?"
    r"(?:most recent\s+|recent\s+|prior\s+|previous\s+|earlier\s+|outside\s+)*"
    r"(?:study|studies|exam(?:ination)?s?|radiographs?|films?|images?|x-rays?|ct|chest "
    r"radiographs?|one|___)(?:\s+(?:of|from|on|dated|at)\s+___)*(?:\s+(?:of|from|on|dated|at)"
    r"\s+\S+\s+___)?,?)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\s*\b(?:on|from|of|at|dated|since|by|with|to|in)?\s*_{2,}\s*"
                          r"(?:at\s+_{2,})?", re.IGNORECASE)
# The exam named ahead of the first finding ("AP chest compared to ___ through ___: ..."): a
# heading, not part of what was seen.
_EXAM_HEADER = re.compile(
    r"^(?:(?:portable|single|frontal|upright|semi-?upright|supine|semi-?erect)\s+)*"
    r"(?:ap|pa)(?:\s+(?:and|&)\s+lateral)?\s+(?:view\s+of\s+the\s+)?chest"
    r"(?:\s+(?:radiographs?|x-rays?|films?|views?))?"
    r"(?:\s+(?:compared|in comparison)\s+(?:to|with)\s+[^:]{0,40})?:\s+(?=\S)", re.IGNORECASE)
_SUBHEADER = re.compile(r"^(?:[A-Z][A-Za-z]+(?: (?:and|&) [A-Za-z]+| [A-Za-z]+)?):\s+(?=\S)")
_LIST_NUMBER = re.compile(r"^\s*(?:\(?\d{1,2}[.)]\s*|[-*•]\s+)")
_REPORT_WORDS = re.compile(r"\b(?:previously |prior |as )?reported\b|\breport\b|\bplan\b",
                           re.IGNORECASE)
# Sentences about the act of reporting, not the image.
_NOT_IMAGE = re.compile(r"\b(?:discussed|notified|telephone|paged|communicated|recommend\w*|"
                        r"called|emailed|message|findings? (?:were|was) (?:conveyed|relayed)|"
                        r"clinical correlation)\b", re.IGNORECASE)
_MAX_WORDS = 45
# Hardware a reader sees but CheXpert's Support Devices column does not count.
_UNCOUNTED_HARDWARE = frozenset({"postsurgical changes", "monitoring leads"})
# CheXpert's label hierarchy: a child finding stated present makes its parent present when the
# report does not speak of the parent itself (gold labels follow it: cardiomegaly -> enlarged
# cardiomediastinum, edema or atelectasis -> lung opacity).
PARENTS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": ("Cardiomegaly",),
    "Lung Opacity": ("Edema", "Consolidation", "Pneumonia", "Atelectasis", "Lung Lesion"),
}
BRIDGE: dict[str, str] = {
    "Enlarged Cardiomediastinum": "An enlarged heart widens the cardiomediastinal silhouette, "
                                  "so the cardiomediastinum is enlarged as well.",
    "Lung Opacity": "{child} is an opacity of the lung, so lung opacity is present as well.",
}


def inherited_labels(labels: dict[str, int | None]) -> dict[str, int | None]:
    """Labels with CheXpert's hierarchy applied to parents the report leaves unmentioned.

    >>> inherited_labels({"Cardiomegaly": 1, "Enlarged Cardiomediastinum": None})
    {'Cardiomegaly': 1, 'Enlarged Cardiomediastinum': 1}
    """
    out = dict(labels)
    for parent, children in PARENTS.items():
        if labels.get(parent) is None and any(labels.get(c) == 1 for c in children):
            out[parent] = 1  # a possible child ("no new consolidation") implies nothing
    return out


@lru_cache(maxsize=65536)
def clean_sentence(text: str) -> str:
    """A report sentence made to stand alone in a chain (empty when nothing is left)."""
    text = " ".join(text.split())
    text = _LIST_NUMBER.sub("", text)
    text = _EXAM_HEADER.sub("", text)
    text = _SUBHEADER.sub("", text)
    if sum(c.isupper() for c in text) > 0.6 * max(1, sum(c.isalpha() for c in text)):
        text = text.lower()
    text = _COMPARISON.sub(" ", text)
    text = _PLACEHOLDER.sub(" ", text)
    text = re.sub(r"\b(?:impression|findings|conclusion)\s*:\s*", "", text, flags=re.I)
    text = re.sub(r"\s+([,.;:])", r"\1", " ".join(text.split()))
    text = re.sub(r"^[,;:.\s]+|[,;:\s]+$", "", text)
    text = re.sub(r",\s*\.", ".", text)
    if not re.search(r"[a-z]{3}", text, re.IGNORECASE):
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def usable(sentence: str) -> bool:
    """A cleaned sentence a chain may quote: about the image, short, naming no report."""
    return bool(sentence) and not _NOT_IMAGE.search(sentence) and not _REPORT_WORDS.search(
        sentence) and len(sentence.split()) <= _MAX_WORDS


@dataclass(slots=True)
class Evidence:
    """One finding as the report states it: status, where, how severe, how it changed, and
    the report's own (cleaned) sentence ("" when the report does not mention it)."""

    column: str
    status: str  # present | uncertain | absent
    location: str = ""  # as the labeler words it ("left lower lobe", "bilateral base")
    side: str = ""  # left | right | bilateral
    severity: str = ""
    sentence: str = ""
    change: str | None = None  # new | increased | decreased | unchanged | resolved
    mentioned: bool = False
    devices: str = ""
    inherited: bool = False  # present through a child finding (PARENTS), not stated itself
    # Support Devices absent by the labels while the report names hardware they do not count
    # (a vascular stent, sternotomy wires, EKG leads): its sentence, so a chain never says
    # "no support devices are seen" over a visible stent.
    hardware: str = ""

    def key_finding(self) -> dict:
        return {"finding": FINDING_NAMES[self.column], "status": self.status,
                "location": self.location or None}


def _preference(finding: Finding) -> tuple:
    """Which mention speaks for a finding: one with a usable sentence, a location, severity,
    from the impression (which the labels follow), then the shortest sentence."""
    sentence = clean_sentence(finding.evidence.sentence)
    return (not usable(sentence), finding.location is None,
            not _SEVERITY.search(sentence), finding.section != "impression", len(sentence))


def gather_evidence(labeled: LabeledReport) -> dict[str, Evidence]:
    """Column -> Evidence for all 13 finding columns (unmentioned ones are absent)."""
    out = {}
    labels = inherited_labels(labeled.labels)
    for column in FINDING_NAMES:
        status = _STATUS[labels.get(column)]
        if labels.get(column) != labeled.labels.get(column):
            out[column] = Evidence(column, status, mentioned=True, inherited=True)
            continue
        mentions = sorted((f for f in labeled.findings
                           if f.chexpert_label == column and f.status == status),
                          key=_preference)
        if not mentions:
            out[column] = Evidence(column, status, hardware=_uncounted_hardware(labeled)
                                   if column == "Support Devices" and status == "absent" else "")
            continue
        best = mentions[0]
        sentence = clean_sentence(best.evidence.sentence)
        where = next((f.location for f in mentions if f.location), None)
        severity = next((m.group(1).lower() for f in mentions
                         if (m := _SEVERITY.search(f.evidence.sentence))), "")
        change = next((f.change for f in mentions if f.change), None)
        devices = ", ".join(dict.fromkeys(f.name for f in mentions)) \
            if column == "Support Devices" else ""
        out[column] = Evidence(column, status, where.text if where else "",
                               (where.side or "") if where else "", severity,
                               sentence if usable(sentence) else "", change, True, devices)
    return out


def _uncounted_hardware(labeled: LabeledReport) -> str:
    """The report's sentence about hardware the labels leave out ("" when there is none)."""
    mentions = sorted((f for f in labeled.findings
                       if f.concept in _UNCOUNTED_HARDWARE and f.status == "present"),
                      key=_preference)
    sentence = clean_sentence(mentions[0].evidence.sentence) if mentions else ""
    return sentence if usable(sentence) else ""
