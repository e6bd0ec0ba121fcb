"""Write a synthetic study's report in MIMIC-CXR's text layout, and read off its labels.

The labels are not sampled separately from the text: each sentence carries the CheXpert labels it
asserts (`phrases.py`), and the study's labels aggregate the sentences of its label section as the
CheXpert labeler does (IMPRESSION, else FINDINGS; positive > uncertain > negative; No Finding
when no pathology is positive or uncertain). So the chexpert CSV says exactly what the report
says, and a correct labeler recovers it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from chestx_reasoner.data.synth import phrases as ph
from chestx_reasoner.data.synth.cohort import MIMIC_PREVALENCE, FindingState, StudyPlan
from chestx_reasoner.reports.vocabulary import CHEXPERT_OBSERVATIONS

LabelValue = float | None
_PRIORITY = {1: 3, -1: 2, 0: 1}
# Reading order of a findings section: devices, lungs, pleura, heart and mediastinum, bones.
_LUNG = ("Consolidation", "Pneumonia", "Lung Opacity", "Atelectasis", "Edema", "Lung Lesion")
_PLEURA = ("Pleural Effusion", "Pneumothorax", "Pleural Other")
_HEART = ("Cardiomegaly", "Enlarged Cardiomediastinum")
# Impression order: what a reader must act on first.
_IMPRESSION_ORDER = ("Pneumothorax", "Pneumonia", "Consolidation", "Edema", "Pleural Effusion",
                     "Lung Opacity", "Atelectasis", "Lung Lesion", "Cardiomegaly",
                     "Enlarged Cardiomediastinum", "Fracture", "Pleural Other", "Support Devices")
NO_IMPRESSION_SHARE = 0.08  # MIMIC-CXR reports without an IMPRESSION: labels from FINDINGS
# Findings sections state these as normal whenever they are; an impression negates them less
# often, so that the cohort's share of 0.0 labels stays near MIMIC-CXR's.
_NORMAL_IN_FINDINGS = frozenset({"Pleural Effusion", "Pneumothorax", "Cardiomegaly",
                                 "Enlarged Cardiomediastinum"})


@dataclass(frozen=True, slots=True)
class SynthReport:
    text: str
    labels: dict[str, LabelValue]  # CheXpert column -> 1.0 | 0.0 | -1.0 | None (blank)
    label_section: str  # impression | findings


def aggregate_labels(asserted: list[ph.Labels]) -> dict[str, LabelValue]:
    """CheXpert aggregation of sentence-level labels into the 14 study columns.

    >>> labels = aggregate_labels([{"Pneumothorax": 0}, {"Pneumothorax": -1}])
    >>> labels["Pneumothorax"], labels["No Finding"]
    (-1.0, None)
    >>> aggregate_labels([{"Support Devices": 1}])["No Finding"]
    1.0
    """
    votes: dict[str, int] = {}
    for labels in asserted:
        for column, value in labels.items():
            if column not in votes or _PRIORITY[value] > _PRIORITY[votes[column]]:
                votes[column] = value
    out: dict[str, LabelValue] = {c: None for c in CHEXPERT_OBSERVATIONS}
    out.update({c: float(v) for c, v in votes.items()})
    sick = any(v in (1, -1) for c, v in votes.items() if c != "Support Devices")
    out["No Finding"] = None if sick else 1.0
    return out


def _change_of(study: StudyPlan, obs: str) -> str | None:
    """How a finding compares with the prior study, in report words (None: first study)."""
    if study.prior is None:
        return None
    before = study.prior.findings.get(obs)
    after = study.findings[obs]
    if before is None or before.status == "uncertain" or after.status == "uncertain":
        return "new" if before is None and after.status == "present" else None
    if after.severity > before.severity:
        return "worsening"
    if after.severity < before.severity:
        return "improving"
    return "stable"


def _finding_sentences(study: StudyPlan, obs_order: tuple[str, ...], rng: np.random.Generator,
                       ) -> list[tuple[str, ph.Labels]]:
    out: list[tuple[str, ph.Labels]] = []
    for obs in obs_order:
        state = study.findings.get(obs)
        if state is None:
            continue
        if obs == "Support Devices":
            out.extend(ph.device_sentences(state, rng))
        else:
            out.append(ph.finding_sentence(state, rng, _change_of(study, obs)))
    return out


def _negated(study: StudyPlan, rng: np.random.Generator,
             prevalence: dict[str, tuple[float, float, float]]) -> list[str]:
    """Absent findings the impression states as absent (the CSV's 0.0), by MIMIC's rates."""
    out = []
    for obs in _IMPRESSION_ORDER:
        if obs in study.findings or obs not in ph.NEGATION_NOUNS:
            continue
        pos, unc, neg = prevalence.get(obs, MIMIC_PREVALENCE[obs])
        if obs in _NORMAL_IN_FINDINGS:
            neg = max(0.0, neg - NO_IMPRESSION_SHARE * (1 - pos - unc))
        if rng.random() < neg / max(1e-6, (1 - pos - unc) * (1 - NO_IMPRESSION_SHARE)):
            out.append(obs)
    return out


def _findings_section(study: StudyPlan, rng: np.random.Generator) -> list[tuple[str, ph.Labels]]:
    sentences = _finding_sentences(study, ("Support Devices",), rng)
    lung = _finding_sentences(study, _LUNG, rng)
    sentences += lung
    if lung:
        if rng.random() < 0.5:
            sentences.append(("The lungs are otherwise clear.", {}))
    else:
        sentences.append(ph.CLEAR_LUNGS[int(rng.integers(len(ph.CLEAR_LUNGS)))])
    sentences += _finding_sentences(study, _PLEURA, rng)
    pleura_normal = [o for o in ("Pleural Effusion", "Pneumothorax") if o not in study.findings]
    if pleura_normal:
        sentences.append(ph.negation_sentence(pleura_normal, rng))
    sentences += _finding_sentences(study, _HEART, rng)
    # The mediastinum is called normal in some findings sections only, which keeps the share
    # of Enlarged Cardiomediastinum 0.0 labels (from reports without impression) near MIMIC's.
    heart_normal = tuple(o for o in _HEART if o not in study.findings
                         and (o == "Cardiomegaly" or rng.random() < 0.35))
    if heart_normal:
        text = ph.pick(rng, ph.NORMAL_ANATOMY[heart_normal])
        sentences.append((text, dict.fromkeys(heart_normal, 0)))
    if study.prior is not None:
        for obs, before in study.prior.findings.items():
            if obs not in study.findings and before.status == "present" and obs in _LUNG + _PLEURA:
                sentences.append(ph.resolved_sentence(before, rng))
    sentences += _finding_sentences(study, ("Fracture",), rng)
    if "Fracture" not in study.findings and rng.random() < 0.5:
        sentences.append(("No acute osseous abnormality.", {}))
    return sentences


def _impression_section(study: StudyPlan, rng: np.random.Generator,
                        prevalence: dict[str, tuple[float, float, float]],
                        ) -> list[tuple[str, ph.Labels]]:
    pathology = [o for o in _IMPRESSION_ORDER if o in study.findings and o != "Support Devices"]
    sentences: list[tuple[str, ph.Labels]] = []
    if not pathology:
        sentences.append((ph.pick(rng, ph.NO_FINDING_SENTENCES), {}))
    sentences += _finding_sentences(study, tuple(pathology), rng)
    negated = _negated(study, rng, prevalence)
    if negated:
        sentences.append(ph.negation_sentence(negated, rng))
    # Lines and tubes are always named (MIMIC-CXR impressions often skip them; here the label
    # must say what the image shows).
    sentences += _finding_sentences(study, ("Support Devices",), rng)
    if pathology and rng.random() < 0.08:
        sentences.append(("Findings were discussed with Dr. ___ by telephone at ___ on ___.", {}))
    return sentences


def _paragraph(sentences: list[tuple[str, ph.Labels]], numbered: bool = False) -> str:
    texts = [s for s, _ in sentences]
    if numbered and len(texts) > 1:
        lines = [f"{i}. {s}" for i, s in enumerate(texts, 1)]
        return "\n".join(textwrap.fill(line, 76, initial_indent=" ", subsequent_indent=" ")
                         for line in lines)
    return textwrap.fill("  ".join(texts), 76, initial_indent=" ", subsequent_indent=" ")


def write_report(study: StudyPlan, rng: np.random.Generator,
                 prevalence: dict[str, tuple[float, float, float]] | None = None) -> SynthReport:
    """The study's report text (MIMIC-CXR layout) and the labels its label section asserts."""
    prevalence = prevalence or MIMIC_PREVALENCE
    findings = _findings_section(study, rng)
    impression = _impression_section(study, rng, prevalence)
    has_impression = rng.random() >= NO_IMPRESSION_SHARE
    portable = study.view == "AP"
    exam = "CHEST (PORTABLE AP)" if portable else "CHEST (PA AND LAT)"
    technique = "Portable AP chest radiograph." if portable else "Chest PA and lateral."
    sex = ph.pick(rng, ["F", "M"])
    indication = ph.pick(rng, ph.INDICATIONS)
    if study.prior is None:
        comparison = ph.pick(rng, ["None.", "None.", "___."])
    else:
        comparison = ph.pick(rng, ["___.", "Chest radiograph ___.", "Prior study from ___."])
    parts = [
        f"{'FINAL REPORT':>45}",
        f" EXAMINATION:  {exam}",
        "",
        f" INDICATION:  ___{sex} with {indication}.",
        "",
        f" TECHNIQUE:  {technique}",
        "",
        f" COMPARISON:  {comparison}",
        "",
        " FINDINGS: ",
        "",
        _paragraph(findings),
    ]
    if has_impression:
        parts += ["", " IMPRESSION: ", "", _paragraph(impression, numbered=rng.random() < 0.3)]
    label_sentences = impression if has_impression else findings
    return SynthReport(
        text="\n".join(parts) + "\n",
        labels=aggregate_labels([labels for _, labels in label_sentences]),
        label_section="impression" if has_impression else "findings",
    )


def state_summary(state: FindingState) -> dict:
    return {"observation": state.observation, "status": state.status, "side": state.side,
            "zone": state.zone, "severity": state.severity, "kind": state.kind}
