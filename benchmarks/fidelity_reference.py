"""GPT-4o's extracted key findings read onto the 13 finding columns, by keywords alone.

`benchmarks/mining_fidelity.py` compares our mined chains with the official GPT-4o chains
through GPT-4o's own key findings of those chains (`reference_judgment.gt_key_findings`: an
`observation` and a free-text `status` each). This module reads them without our labeler or
vocabulary on purpose, so the reference shares nothing with the code it measures:

- columns: a keyword table per column (`COLUMN_WORDS`), searched in the observation and in the
  status ("Right basilar opacity: consistent with pleural effusion and atelectasis" names three);
- status: absent when the observation is negated ("No pneumothorax", "absence of a mass") or
  the status says so ("not present", "ruled out", "normal", "unlikely", "resolved"); uncertain
  for hedges ("possible", "may", "cannot be excluded"); present otherwise ("confirmed",
  "consistent with", "stable", "worsening", "mild");
- a column named after a negation inside the status ("confirmed without pneumothorax",
  "does not suggest pneumonia") is absent while the others keep the status's reading.

Observations about signs only ("lack of vascular markings") name no column and are skipped.

>>> reference_pairs([{"observation": "Persistent atelectasis and effusion",
...                   "status": "Confirmed without pneumothorax"}])
[('Pleural Effusion', 'present'), ('Atelectasis', 'present'), ('Pneumothorax', 'absent')]
>>> reference_pairs([{"observation": "Heart size", "status": "Normal"}])
[('Cardiomegaly', 'absent')]
"""

from __future__ import annotations

import re

COLUMN_WORDS: dict[str, str] = {
    "Pneumothorax": r"pneumothora\w*|air in the pleural space|pleural air",
    "Pleural Effusion": r"effusions?|pleural fluid|fluid in the pleural|hydrothorax|"
                        r"blunt\w* of the (?:\w+ )?costophrenic",
    "Cardiomegaly": r"cardiomegaly|heart size|enlarged heart|heart (?:is )?enlarge\w*|"
                    r"cardiac (?:enlargement|silhouette|size)|enlarged cardiac|cardiothoracic",
    "Enlarged Cardiomediastinum": r"cardiomediastin\w*|mediastin\w*|hilar (?:enlargement|"
                                  r"prominence|fullness)",
    "Edema": r"o?edema|vascular congestion|pulmonary congestion|venous congestion|"
             r"interstitial markings|kerley|fluid overload|pulmonary venous hypertension",
    "Consolidation": r"consolidat\w*",
    "Pneumonia": r"pneumonia|infection|infectious|aspiration",
    "Atelectasis": r"atelecta\w*|collapse|volume loss",
    "Lung Opacity": r"opacit\w*|opacification|haziness|hazy|airspace disease|infiltrat\w*",
    "Lung Lesion": r"nodul\w*|mass(?:es)?|lesions?|tumou?r|neoplas\w*|granulomas?|metasta\w*",
    "Fracture": r"fractur\w*",
    "Pleural Other": r"pleural thickening|pleural plaques?|pleural scarring|fibrothorax",
    "Support Devices": r"support devices?|devices?|tubes?|catheters?|picc|pacemaker|pacer|"
                       r"defibrillator|icd|(?:central|venous|jugular|subclavian|arterial) "
                       r"(?:venous )?lines?|lines and tubes|drains?|stents?|port-a-cath|"
                       r"\bleads?\b|swan|sternotomy wires",
}
_COLUMN_RES = {c: re.compile(rf"\b(?:{p})\b", re.IGNORECASE) for c, p in COLUMN_WORDS.items()}
# Structures whose mention alone says nothing: "cardiac contours: stable" is not cardiomegaly.
_STRUCTURE_ONLY = {
    "Cardiomegaly": re.compile(r"heart size|cardiac (?:silhouette|size)|cardiothoracic", re.I),
    "Enlarged Cardiomediastinum": re.compile(r"cardiomediastin\w*|mediastin\w*", re.I),
}
_ABNORMAL_SIZE = re.compile(r"enlarg\w*|widen\w*|promin\w*|increas\w*|large|cardiomegaly|"
                            r"big|abnormal", re.I)
_NOT_A_DEVICE = re.compile(r"pleural line|nasogastric tube feeding|\bclips?\b", re.IGNORECASE)
_NEGATED_OBSERVATION = re.compile(
    r"^\s*(?:no|absence of|absent|lack of|without|not|none|negative for|free of|clear)\b",
    re.IGNORECASE)
# A negation that governs the words after it, up to the clause's end.
_NEGATION_SCOPE = re.compile(
    r"\b(?:without|no|not|clear of|free of|absence of|lack of|ruling out|rules out|ruled out|"
    r"rather than|does not (?:suggest|indicate|show|support)|not (?:indicative|suggestive) of|"
    r"excluding|instead of)\b"
    r"(?P<scope>[^,;.]*)", re.IGNORECASE)
_ABSENT = re.compile(
    r"\b(?:not present|absent|absence|no evidence|ruled out|excluded|none|normal|"
    r"within normal|unremarkable|clear|negative|resolved|no longer|unlikely|less likely|"
    r"removed|not (?:seen|observed|identified|detected|evident|visible|indicated|supported|"
    r"confirmed|diagnosed|noted|enlarged|appreciated|shown|found|mentioned|significant|"
    r"suggested|suggestive|consistent|a|an|support|relevant)|no\b|does not|nor|neither|"
    r"irrelevant)",
    re.IGNORECASE)
_UNCERTAIN = re.compile(
    r"\b(?:possible|possibly|suspect\w*|uncertain|may|might|could|cannot be (?:excluded|"
    r"ruled out)|can ?not (?:exclude|rule out)|questionable|equivocal|indeterminate|"
    r"probable|concerning for|concern for)\b", re.IGNORECASE)


def columns_named(text: str) -> list[str]:
    """The columns a phrase names, in table order."""
    found = [c for c, pattern in _COLUMN_RES.items() if pattern.search(text)]
    if "Support Devices" in found and not _COLUMN_RES["Support Devices"].search(
            _NOT_A_DEVICE.sub(" ", text)):
        found.remove("Support Devices")
    return found


def status_class(text: str) -> str:
    """present | absent | uncertain of a free-text status."""
    if _UNCERTAIN.search(text):
        return "uncertain"
    if _ABSENT.search(text):
        return "absent"
    return "present"


def reference_pairs(findings: list[dict] | None) -> list[tuple[str, str]]:
    """(column, status) pairs of GPT-4o's key findings; a column read twice keeps its first
    reading unless a later one says present (the chain's conclusion wins over a plan)."""
    out: dict[str, str] = {}
    for finding in findings or []:
        observation = str(finding.get("observation") or "")
        status = str(finding.get("status") or "")
        negated_here = {c for m in _NEGATION_SCOPE.finditer(status)
                        for c in columns_named(m.group("scope"))}
        negated_observed = {c for m in _NEGATION_SCOPE.finditer(observation.replace(",", " "))
                            for c in columns_named(m.group("scope"))}
        rest = _NEGATION_SCOPE.sub(" ", status)
        starts_negated = bool(re.match(r"\s*(?:not|no|absent|none|ruled out)\b", status,
                                       re.IGNORECASE))
        if _NEGATED_OBSERVATION.search(observation):
            reading = "absent"
        elif _UNCERTAIN.search(observation):
            reading = "uncertain"
        elif starts_negated or not negated_here:
            reading = status_class(status)
        else:
            reading = status_class(rest) if re.search(r"[a-z]{3}", rest, re.I) else "present"
        for column in dict.fromkeys(columns_named(observation) + columns_named(status)):
            said = "absent" if column in negated_observed or (
                column in negated_here and column not in columns_named(observation)) \
                else reading
            structure = _STRUCTURE_ONLY.get(column)
            if (structure and said == "present" and structure.search(observation + status)
                    and not _ABNORMAL_SIZE.search(observation + " " + status)):
                continue  # "mediastinal contours: stable" states no size
            if column not in out or said == "present":
                out[column] = said
    return list(out.items())
