"""Radiology report text: vocabulary, sections, and the findings labeler.

Mining, the offline RadRScore judge and the process reward all read findings through here.
"""

from chestx_reasoner.reports.aggregate import CHEXPERT_LABEL_SCOPES, chexpert_labels
from chestx_reasoner.reports.records import Evidence, Finding, LabeledReport, Location
from chestx_reasoner.reports.sections import ReportError, Section, parse_sections
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS, lookup_concepts

__all__ = [
    "CHEXPERT_LABEL_SCOPES",
    "CHEXPERT_OBSERVATIONS",
    "Evidence",
    "Finding",
    "LabeledReport",
    "Location",
    "ReportError",
    "Section",
    "chexpert_labels",
    "lookup_concepts",
    "parse_sections",
]
