"""Study-level CheXpert labels (1 / 0 / -1 / None) from mention-level findings. Pure functions.

Follows the CheXpert labeler's aggregation: per column, positive beats uncertain beats negative;
"heart failure"/"CHF" also makes Cardiomegaly uncertain; No Finding is 1 only when no finding
other than a support device is positive or uncertain, and blank otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from chestx_reasoner.reports.records import Finding
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS, concepts_by_name

_VALUE = {"present": 1, "uncertain": -1, "absent": 0}
_PRIORITY = {1: 3, -1: 2, 0: 1}  # positive > uncertain > negative
_HEART_FAILURE_WORDS = ("chf", "heart failure", "congestive heart failure")

# Which findings labels are read from:
#   impression: as CheXpert on MIMIC-CXR: the impression; else the findings; else everything.
#   report:     every clinical section; per column, impression mentions win over findings ones.
CHEXPERT_LABEL_SCOPES = ("impression", "report")


def select_scope(findings: Iterable[Finding], sections: Iterable[str], scope: str) -> list[Finding]:
    """The findings a label is read from, by `scope` (see CHEXPERT_LABEL_SCOPES)."""
    findings = list(findings)
    if scope not in CHEXPERT_LABEL_SCOPES:
        raise ValueError(f"unknown label scope {scope!r}; choose one of {CHEXPERT_LABEL_SCOPES}")
    present_sections = set(sections)
    if scope == "impression":
        for section in ("impression", "findings"):
            if section in present_sections:
                return [f for f in findings if f.section == section]
        return findings
    by_column: dict[str | None, set[str]] = {}
    for f in findings:
        by_column.setdefault(f.chexpert_label, set()).add(f.section)
    return [
        f for f in findings
        if f.section == "impression" or "impression" not in by_column[f.chexpert_label]
    ]


def chexpert_labels(findings: Iterable[Finding]) -> dict[str, int | None]:
    """Aggregate findings (already scoped) into the 14 CheXpert columns.

    >>> from chestx_reasoner.reports.labeler import label_report
    >>> labels = label_report("IMPRESSION: Small left pleural effusion.").labels
    >>> labels["Pleural Effusion"], labels["No Finding"], labels["Edema"]
    (1, None, None)
    """
    findings = list(findings)
    votes: dict[str, list[int]] = {}
    no_finding = True
    registry = concepts_by_name()
    for finding in findings:
        value = _VALUE[finding.status]
        concept = registry.get(finding.concept or finding.name)
        abnormal = concept.abnormal if concept else True
        if value != 0 and finding.observation not in ("Support Devices", "No Finding") and abnormal:
            no_finding = False
        if value != 0 and finding.mention.lower() in _HEART_FAILURE_WORDS:
            votes.setdefault("Cardiomegaly", []).append(-1)
        if finding.chexpert_label and finding.chexpert_label != "No Finding":
            votes.setdefault(finding.chexpert_label, []).append(value)
    if 0 in votes.get("Edema", ()) and any(
            f.concept == "vascular congestion" and f.status == "present" for f in findings):
        # "vascular congestion without frank edema": congestion alone, edema denied, reads as
        # an uncertain Edema rather than a positive one.
        votes["Edema"] = [-1 if v == 1 else v for v in votes["Edema"]]
    labels: dict[str, int | None] = dict.fromkeys(CHEXPERT_OBSERVATIONS)
    for column, values in votes.items():
        labels[column] = max(values, key=_PRIORITY.__getitem__)
    labels["No Finding"] = 1 if no_finding else None
    return labels
