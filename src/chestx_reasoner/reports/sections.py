"""Split a radiology report into its sections.

Why not medspacy's Sectionizer: its default rules target clinical notes, and radiology headers are
a small closed set ("FINDINGS:", "IMPRESSION:", "Impression:1.") whose spans we need in the raw
report's character offsets before any NLP runs. One anchored regex does that exactly and fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Canonical section name -> header variants seen in MIMIC-CXR, CheXpert Plus and OpenI reports.
SECTION_HEADERS: dict[str, tuple[str, ...]] = {
    "findings": ("findings", "finding", "findings and impression", "report", "description"),
    "impression": ("impression", "impressions", "conclusion", "conclusions", "summary",
                   "opinion", "interpretation", "diagnosis"),
    "comparison": ("comparison", "comparisons", "prior", "prior studies", "prior study",
                   "compared with"),
    "indication": ("indication", "indications", "reason for exam", "reason for examination",
                   "reason for study", "clinical indication", "clinical information",
                   "clinical question", "reason", "provisional diagnosis"),
    "history": ("history", "clinical history", "clinical data", "brief history",
                "clinical details", "medical history"),
    "technique": ("technique", "examination", "exam", "procedure", "views", "study",
                  "type of exam", "exam description"),
    "recommendation": ("recommendation", "recommendations", "notification", "wet read",
                       "final report", "addendum"),
}
# Sections whose words describe the patient's images (the others are context, not findings).
CLINICAL_SECTIONS = frozenset({"findings", "impression", "body"})

_VARIANTS = {v: name for name, variants in SECTION_HEADERS.items() for v in variants}
_HEADER_RE = re.compile(
    r"(?:(?<=^)|(?<=\n)|(?<=[.!?]\s)|(?<=[.!?]\s\s))[ \t]*"  # at a line or sentence start
    r"(?P<header>" + "|".join(sorted((re.escape(v) for v in _VARIANTS), key=len, reverse=True))
    + r")[ \t]*:",
    re.IGNORECASE,
)
# De-identification placeholders: MIMIC-CXR "___", OpenI "XXXX". Kept in text, never findings.
PLACEHOLDER_RE = re.compile(r"_{2,}|\bX{2,}\b")


class ReportError(ValueError):
    """A report that cannot be read: empty, not text, or without any words."""


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # canonical name, or "body" for text before any header
    header: str | None  # the header as written
    start: int  # character offsets of the section's text (after the header) in the report
    end: int
    text: str


# spaCy refuses longer texts (E088, `nlp.max_length`); no real report comes near it.
MAX_TEXT_CHARS = 1_000_000


def check_text_length(text: str, what: str = "report") -> None:
    """Raise ReportError for a text the NLP pipeline cannot read (over MAX_TEXT_CHARS), so one
    giant record becomes that record's error instead of stopping the whole job."""
    if len(text) > MAX_TEXT_CHARS:
        raise ReportError(f"{what} is {len(text):,} characters long, over the "
                          f"{MAX_TEXT_CHARS:,} the NLP pipeline reads")


def check_report(report: object) -> str:
    """Return the report if it is usable text, else raise ReportError saying why."""
    if report is None:
        raise ReportError("report is missing (null)")
    if not isinstance(report, str):
        raise ReportError(f"report must be text, got {type(report).__name__}")
    check_text_length(report)
    if not report.strip():
        raise ReportError("report is empty")
    if not re.search(r"[A-Za-z]{2,}", PLACEHOLDER_RE.sub(" ", report)):
        raise ReportError("report has no words (only placeholders, digits or punctuation)")
    return report


def parse_sections(report: str) -> list[Section]:
    """Split a report at its section headers; text before the first header is "body".

    >>> [s.name for s in parse_sections("FINDINGS: Clear lungs. IMPRESSION: Normal.")]
    ['findings', 'impression']
    """
    check_report(report)
    matches = list(_HEADER_RE.finditer(report))
    sections: list[Section] = []
    first = matches[0].start("header") if matches else len(report)
    if report[:first].strip():
        sections.append(_make_section("body", None, report, 0, first))
    for i, match in enumerate(matches):
        end = matches[i + 1].start("header") if i + 1 < len(matches) else len(report)
        header = match.group("header")
        sections.append(_make_section(_VARIANTS[header.lower()], header, report, match.end(), end))
    return [s for s in sections if s.text.strip()] or [
        _make_section("body", None, report, 0, len(report))]


def _make_section(name: str, header: str | None, report: str, start: int, end: int) -> Section:
    return Section(name=name, header=header, start=start, end=end, text=report[start:end])


_TEMPORAL = re.compile(r"(?:^|\n|\s)(?:previous|prior)\s+report\s*:(?P<prior>.*?)"
                       r"(?:current|follow-?up)\s+report\s*:(?P<current>.*)\Z", re.I | re.S)


def split_temporal(report: str) -> tuple[str, str]:
    """(prior, current) of a report pair written "Previous Report: … Current Report: …" (the
    layout of temporal benchmark items); ("", report) for any other report.

    >>> split_temporal("Previous Report: Small effusion. Current Report: No effusion.")
    ('Small effusion.', 'No effusion.')
    >>> split_temporal("No effusion.")
    ('', 'No effusion.')
    """
    match = _TEMPORAL.search(report)
    if match is None:
        return "", report
    return match.group("prior").strip(), match.group("current").strip()
