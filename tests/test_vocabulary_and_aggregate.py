"""Vocabulary coverage, term lookup, and CheXpert label aggregation."""

import pytest

from chestx_reasoner.reports.aggregate import chexpert_labels, select_scope
from chestx_reasoner.reports.records import Evidence, Finding
from chestx_reasoner.reports.vocabulary import (
    CHEXPERT_OBSERVATIONS,
    concepts,
    lookup_concepts,
    observation_of,
    pluralize,
)


def test_every_chexpert_observation_has_a_concept_that_counts_toward_it():
    counted = {c.chexpert_label for c in concepts()}
    assert set(CHEXPERT_OBSERVATIONS) - {"No Finding"} <= counted


def test_no_phrase_names_two_concepts():
    # The TargetMatcher would label such a phrase with either concept, unpredictably.
    owners: dict[str, set[str]] = {}
    for concept in concepts():
        for phrase in (concept.name, *concept.phrases):
            for form in (phrase.lower(), pluralize(phrase.lower())):
                owners.setdefault(form, set()).add(concept.name)
    assert {p: names for p, names in owners.items() if len(names) > 1} == {}


def test_concept_keys_are_unique():
    keys = [c.key for c in concepts()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("term", "observation"),
    [
        ("ET tube", "Support Devices"),
        ("PICC", "Support Devices"),
        ("blunting of the costophrenic angle", "Pleural Effusion"),
        ("heart size is enlarged", "Cardiomegaly"),
        ("infiltrate", "Lung Opacity"),
        ("opacities", "Lung Opacity"),
        ("mass", "Lung Lesion"),
        ("nodule", "Lung Lesion"),
        ("granuloma", "Lung Lesion"),
        ("vascular congestion", "Edema"),
        ("pleural thickening", "Pleural Other"),
        ("thickening of right pleura", "Pleural Other"),
        ("hilar enlargement", "Enlarged Cardiomediastinum"),
        ("widened mediastinum", "Enlarged Cardiomediastinum"),
        ("rib fractures", "Fracture"),
        ("left lower lobe collapse", "Atelectasis"),
        ("air bronchograms", "Consolidation"),
        ("moderate right pneumothorax", "Pneumothorax"),
        ("aspiration pneumonia", "Pneumonia"),
    ],
)
def test_terms_roll_up_to_chexpert_observations(term, observation):
    assert observation_of(term) == observation


@pytest.mark.parametrize(
    "term", ["emphysema", "hiatal hernia", "aortic calcification", "scoliosis"])
def test_finer_findings_outside_the_14_are_known_but_do_not_roll_up(term):
    found = lookup_concepts(term)
    assert found and found[0].observation is None


def test_lookup_prefers_the_longest_phrase():
    assert [c.name for c in lookup_concepts("small left pleural effusion")] == ["pleural effusion"]
    assert [c.name for c in lookup_concepts("pericardial effusion")] == ["pericardial effusion"]


def test_lookup_of_unknown_term_is_empty():
    assert lookup_concepts("unsatisfactory technical quality of image") == []


@pytest.mark.parametrize(
    ("phrase", "plural"),
    [("nodule", "nodules"), ("opacity", "opacities"), ("mass", "masses"),
     ("atelectasis", "atelectasis"), ("pneumothorax", "pneumothorax"),
     ("chest tube", "chest tubes")],
)
def test_pluralize(phrase, plural):
    assert pluralize(phrase) == plural


def finding(name, label, status, section="impression", observation=None, mention=None):
    return Finding(name=name, observation=observation or label, status=status,
                   mention=mention or name, location=None,
                   evidence=Evidence(sentence=name, start=0, end=len(name)), section=section,
                   chexpert_label=label, concept=name)


def test_positive_beats_uncertain_beats_negative():
    labels = chexpert_labels([
        finding("pleural effusion", "Pleural Effusion", "absent"),
        finding("pleural effusion", "Pleural Effusion", "uncertain"),
        finding("atelectasis", "Atelectasis", "uncertain"),
        finding("atelectasis", "Atelectasis", "present"),
        finding("pneumothorax", "Pneumothorax", "absent"),
    ])
    assert labels["Pleural Effusion"] == -1
    assert labels["Atelectasis"] == 1
    assert labels["Pneumothorax"] == 0
    assert labels["Edema"] is None
    assert labels["No Finding"] is None
    assert list(labels) == list(CHEXPERT_OBSERVATIONS)


def test_no_finding_ignores_support_devices_and_negatives():
    labels = chexpert_labels([
        finding("endotracheal tube", "Support Devices", "present"),
        finding("pneumothorax", "Pneumothorax", "absent"),
    ])
    assert labels["No Finding"] == 1
    assert labels["Support Devices"] == 1


def test_no_finding_is_blank_when_a_finding_outside_the_14_is_present():
    labels = chexpert_labels([finding("emphysema", None, "present", observation="Emphysema")])
    assert labels["No Finding"] is None


def test_heart_failure_makes_cardiomegaly_uncertain():
    labels = chexpert_labels([finding("edema", "Edema", "present", mention="CHF")])
    assert labels["Edema"] == 1
    assert labels["Cardiomegaly"] == -1


def test_impression_scope_reads_the_impression_only_when_there_is_one():
    findings = [
        finding("atelectasis", "Atelectasis", "present", section="findings"),
        finding("pleural effusion", "Pleural Effusion", "present", section="impression"),
    ]
    scoped = select_scope(findings, ["findings", "impression"], "impression")
    assert [f.name for f in scoped] == ["pleural effusion"]
    assert select_scope(findings[:1], ["findings"], "impression") == findings[:1]


def test_report_scope_prefers_impression_per_column():
    findings = [
        finding("pleural effusion", "Pleural Effusion", "present", section="findings"),
        finding("pleural effusion", "Pleural Effusion", "absent", section="impression"),
        finding("atelectasis", "Atelectasis", "present", section="findings"),
    ]
    labels = chexpert_labels(select_scope(findings, ["findings", "impression"], "report"))
    assert labels["Pleural Effusion"] == 0
    assert labels["Atelectasis"] == 1


def test_unknown_scope_is_rejected():
    with pytest.raises(ValueError, match="unknown label scope"):
        select_scope([], [], "whole")


def test_postsurgical_changes_do_not_count_as_support_devices_or_block_no_finding():
    from chestx_reasoner.reports.labeler import label_report

    labels = label_report("IMPRESSION: Median sternotomy wires. No acute process.").labels
    assert labels["Support Devices"] is None
    assert labels["No Finding"] == 1


def test_costophrenic_blunting_alone_is_an_uncertain_effusion():
    from chestx_reasoner.reports.labeler import label_report

    report = label_report("IMPRESSION: Blunting of the left costophrenic angle.")
    assert report.status_of("pleural effusion") == "uncertain"
    assert report.labels["Pleural Effusion"] == -1


def test_a_terminator_stops_a_backward_hedge():
    from chestx_reasoner.reports.labeler import label_report

    report = label_report(
        "IMPRESSION: Patchy opacities may reflect atelectasis but infection is not excluded.")
    assert report.status_of("opacity") == "present"
    assert report.status_of("atelectasis") == "uncertain"
    assert report.status_of("pneumonia") == "uncertain"


@pytest.mark.parametrize(("option", "concept"), [
    # Options in the words of RadRBench-CXR's OpenI (MeSH terms, two of them missing letters).
    ("indwelling right caters", "central venous catheter"),
    ("arosclerosis of thoracic aorta", "calcification"),
    ("chronic deformity of left ribs", "bone deformity"),
    ("thoracic vertebrae deformity", "bone deformity"),
    ("bilateral nipple shadow", "nipple shadow"),
    ("azygos lobe of lung", "azygos lobe"),
    ("mild mediastinal shift", "mediastinal shift"),
    ("pneumonectomy of left upper lobe of lung", "postsurgical changes"),
    ("small foreign body in left thorax", "foreign body"),
])
def test_openi_option_phrases_name_a_concept(option: str, concept: str) -> None:
    assert [c.name for c in lookup_concepts(option)][:1] == [concept]
    assert lookup_concepts("caterpillar") == []
