"""The synthetic cohort's plan and reports: structure, determinism, variety, and labels that
the report labeler recovers (the cohort's labels say what its reports say)."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from functools import lru_cache

import pytest

from chestx_reasoner.data.synth import parse_prevalence
from chestx_reasoner.data.synth.cohort import (
    MIMIC_PREVALENCE,
    PROGRESSION_FINDINGS,
    sample_cohort,
    study_rng,
)
from chestx_reasoner.data.synth.reports import aggregate_labels
from chestx_reasoner.data.synth.writer import CHEXPERT_COLUMNS, SynthConfig, plan_reports
from chestx_reasoner.reports.labeler import ReportLabeler


@lru_cache(maxsize=4)
def planned(n: int = 1500, seed: int = 0):
    return list(plan_reports(SynthConfig(n=n, seed=seed)))


def test_same_seed_same_cohort_other_seed_other_cohort() -> None:
    a, b = planned(300, 3), list(plan_reports(SynthConfig(n=300, seed=3)))
    assert [(s.dicom_id, r.text, r.labels) for s, r in a] == [
        (s.dicom_id, r.text, r.labels) for s, r in b]
    c = planned(300, 4)
    assert {s.dicom_id for s, _ in a}.isdisjoint({s.dicom_id for s, _ in c})


def test_ids_follow_mimic_cxr_formats_and_are_unique() -> None:
    studies = [s for s, _ in planned()]
    assert len({s.study_id for s in studies}) == len(studies)
    assert len({s.dicom_id for s in studies}) == len(studies)
    for s in studies:
        assert re.fullmatch(r"1\d{7}", str(s.subject_id))
        assert re.fullmatch(r"5\d{7}", str(s.study_id))
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}", s.dicom_id)


def test_patients_have_one_to_four_studies_in_time_order_in_one_split() -> None:
    by_patient: dict[int, list] = {}
    for study, _ in planned():
        by_patient.setdefault(study.subject_id, []).append(study)
    sizes = Counter(len(v) for v in by_patient.values())
    assert set(sizes) == {1, 2, 3, 4}
    for studies in by_patient.values():
        assert len({s.split for s in studies}) == 1
        assert [s.visit for s in studies] == list(range(len(studies)))
        assert all(a.when < b.when for a, b in itertools.pairwise(studies))
        assert studies[0].prior is None
        assert all(b.prior is a for a, b in itertools.pairwise(studies))
    assert {s.split for s, _ in planned()} == {"train", "validate", "test"}


def test_progression_labels_follow_the_change_in_severity() -> None:
    seen = Counter()
    for study, _ in planned():
        for obs, label in study.progression.items():
            assert obs in PROGRESSION_FINDINGS
            before = study.prior.findings.get(obs)
            after = study.findings.get(obs)
            b = before.severity if before else 0
            a = after.severity if after else 0
            assert label == ("worsening" if a > b else "improving" if a < b else "stable")
            if before and after:
                assert (before.side, before.zone) == (after.side, after.zone)
            seen[label] += 1
    assert min(seen[k] for k in ("improving", "stable", "worsening")) >= 20


def test_reports_have_mimic_sections_and_real_variety() -> None:
    texts = [r.text for _, r in planned()]
    assert all("FINDINGS:" in t for t in texts)
    with_impression = sum("IMPRESSION:" in t for t in texts) / len(texts)
    assert 0.85 < with_impression < 0.99  # a few reports only have findings, as in MIMIC-CXR
    joined = "\n".join(texts)
    for phrase in ("No pleural effusion or pneumothorax", "may represent", "Cannot exclude",
                   "___", "Interval", "Unchanged", "No acute cardiopulmonary process"):
        assert phrase in joined, phrase
    sentences = Counter(s.strip() for t in texts for s in re.split(r"(?<=\.)\s+", t))
    assert len(sentences) > 1000
    follow_ups = [r.text for s, r in planned() if s.prior is not None]
    assert all("COMPARISON:  None." not in t for t in follow_ups)


def test_label_shares_are_near_mimic_cxr() -> None:
    studies = planned()
    n = len(studies)
    for column in CHEXPERT_COLUMNS:
        positive = sum(r.labels[column] == 1.0 for _, r in studies) / n
        if column == "No Finding":
            assert 0.25 < positive < 0.40
            continue
        expected = MIMIC_PREVALENCE[column][0]
        assert abs(positive - expected) < max(0.07, expected * 0.5), column


def test_prevalence_overrides_change_the_cohort() -> None:
    table = parse_prevalence(["Pneumothorax=0.4"])
    studies = list(plan_reports(SynthConfig(n=600, seed=0, prevalence=table)))
    share = sum(r.labels["Pneumothorax"] == 1.0 for _, r in studies) / len(studies)
    assert share > 0.25


@pytest.mark.parametrize(("override", "message"), [
    ("Pneumothorax", "expected LABEL=POS"),
    ("Pneumotorax=0.1", "did you mean 'Pneumothorax'"),
    ("Edema=x", "must be numbers"),
    ("Edema=1.5", "each in [0, 1]"),
    ("Edema=0.6:0.3:0.3", "more than 1"),
])
def test_bad_prevalence_overrides_say_why(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_prevalence([override])


def test_no_finding_follows_the_other_columns() -> None:
    assert aggregate_labels([{}])["No Finding"] == 1.0
    assert aggregate_labels([{"Edema": -1}])["No Finding"] is None
    assert aggregate_labels([{"Edema": 0}, {"Support Devices": 1}])["No Finding"] == 1.0


def test_the_labeler_recovers_the_cohort_labels() -> None:
    """The done criterion of issue 4: >= 0.98 of the 14 x N label cells agree."""
    studies = planned()
    labeler = ReportLabeler()
    agree = cells = 0
    for (_, report), labeled in zip(studies, labeler.label_many([r.text for _, r in studies]),
                                    strict=True):
        for column in CHEXPERT_COLUMNS:
            ours = labeled.labels[column]
            cells += 1
            agree += (None if ours is None else float(ours)) == report.labels[column]
    assert agree / cells >= 0.98


def test_report_locations_match_what_the_image_shows() -> None:
    """Side and zone of every lateralised finding, as the labeler reads them from the report,
    are the ones the renderer is given."""
    studies = planned(600, 1)
    labeler = ReportLabeler(scope="report")
    checked = 0
    for (study, report), labeled in zip(studies, labeler.label_many([r.text for _, r in studies]),
                                        strict=True):
        for state in study.findings.values():
            # "Right basal opacity may represent pneumonia": the hedge's location is the opacity's.
            if (state.side is None or state.observation == "Support Devices"
                    or state.status != "present"):
                continue
            mentions = [f for f in labeled.findings if f.observation == state.observation
                        and f.status != "absent" and f.location is not None]
            assert state.side in {f.location.side for f in mentions}, (state, report.text)
            if state.zone == "lower" and state.observation != "Lung Lesion":
                places = {f.location.zone for f in mentions} | {
                    (f.location.lobe or "").split(" ")[1:2][0] if f.location.lobe else None
                    for f in mentions}
                assert places & {"lower", "base"}, (state, report.text)
            checked += 1
    assert checked > 300


def test_cardiothoracic_ratio_says_cardiomegaly_exactly_when_the_labels_do() -> None:
    from chestx_reasoner.data.synth.images import cardiothoracic_ratio

    for study, report in planned(600, 2):
        ratio = cardiothoracic_ratio(study.anatomy, study.visible())
        enlarged = report.labels["Cardiomegaly"] in (1.0, -1.0)
        assert (ratio > 0.5) == enlarged, (ratio, report.labels["Cardiomegaly"])


def test_every_label_the_image_can_show_is_drawn() -> None:
    """Positive and uncertain labels come with something drawn; blanks and negatives without."""
    for study, report in planned(600, 2):
        drawn = {state.observation for state in study.findings.values() if state.visible()}
        labelled = {c for c, v in report.labels.items() if v in (1.0, -1.0) and c != "No Finding"}
        assert labelled <= drawn | {"Lung Opacity"}, (labelled, drawn)
        assert drawn <= labelled | {"Lung Opacity"}, (labelled, drawn)


def _patients_by_split(n: int) -> Counter:
    return Counter({s.subject_id: s.split for s in sample_cohort(n, seed=0)}.values())


def test_a_200_study_cohort_puts_enough_patients_in_test() -> None:
    by_split = _patients_by_split(200)
    patients = sum(by_split.values())
    assert by_split["test"] >= min(20, patients // 5)  # the plain draw gave 7 of 100
    assert by_split["validate"] > 0 and by_split["train"] > patients // 2
    assert _patients_by_split(200) == by_split  # still deterministic


def test_a_large_cohort_keeps_its_drawn_splits() -> None:
    plan = sample_cohort(1000, seed=0)
    first_study = {}
    for study in plan:
        first_study.setdefault(study.subject_id, study)
    for patient, study in enumerate(first_study.values()):
        prng = study_rng(0, 1, patient)
        prng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1])
        drawn = str(prng.choice(["train", "validate", "test"], p=[0.8, 0.1, 0.1]))
        assert study.split == drawn
