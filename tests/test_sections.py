"""Section splitting and report validation."""

import pytest

from chestx_reasoner.reports.sections import ReportError, check_report, parse_sections


def names(report):
    return [s.name for s in parse_sections(report)]


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        ("FINDINGS: Clear lungs.\nIMPRESSION: Normal.", ["findings", "impression"]),
        ("Findings: Clear lungs. Impression:1. No active disease.", ["findings", "impression"]),
        ("EXAMINATION: CHEST PA AND LAT\nINDICATION: cough\nCOMPARISON: None.\n"
         "FINDINGS: No effusion.\nIMPRESSION: Normal.",
         ["technique", "indication", "comparison", "findings", "impression"]),
        ("CLINICAL HISTORY: fever.\nCONCLUSION: Pneumonia.", ["history", "impression"]),
        ("REASON FOR EXAM: dyspnea\nTECHNIQUE: AP portable\nFINDINGS: Edema.",
         ["indication", "technique", "findings"]),
        ("Heart size is normal. No effusion.", ["body"]),
        ("FINAL REPORT\nFINDINGS: Normal.", ["body", "findings"]),
        ("Impression: Stable.", ["impression"]),
    ],
)
def test_section_names(report, expected):
    assert names(report) == expected


def test_section_offsets_point_into_the_report():
    report = "INDICATION: ___ with cough.\nFINDINGS: Small left effusion.\nIMPRESSION: Effusion."
    for section in parse_sections(report):
        assert report[section.start:section.end] == section.text
    findings = next(s for s in parse_sections(report) if s.name == "findings")
    assert "Small left effusion." in findings.text
    assert findings.header == "FINDINGS"


def test_header_words_inside_a_sentence_are_not_headers():
    # "findings" followed by a colon mid-sentence after a comma is prose, not a header.
    report = "FINDINGS: These findings, compared with prior: unchanged effusion."
    assert names(report) == ["findings"]


def test_placeholders_are_kept_in_text():
    report = "FINDINGS: XXXX opacity in the ___ lobe."
    assert "XXXX" in parse_sections(report)[0].text
    assert "___" in parse_sections(report)[0].text


@pytest.mark.parametrize(
    ("report", "message"),
    [
        (None, "missing"),
        (42, "must be text"),
        (["FINDINGS: x"], "must be text"),
        ("", "empty"),
        ("   \n\t", "empty"),
        ("XXXX ___ 12. .", "no words"),
    ],
)
def test_unusable_reports_raise_a_clear_error(report, message):
    with pytest.raises(ReportError, match=message):
        check_report(report)
    with pytest.raises(ReportError, match=message):
        parse_sections(report)
