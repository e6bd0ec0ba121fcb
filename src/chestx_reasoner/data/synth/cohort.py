"""Sample a synthetic cohort: patients, their studies over time, and what each study shows.

Pure and deterministic: `sample_cohort(n, seed)` returns the same plan for the same arguments
and generator version, without touching the disk. Each study's image seed is derived from the
cohort seed and the study's index, so images can be rendered in any order (or resumed) and come
out identical.

The model is deliberately simple and clinical: a share of first studies is normal; abnormal
studies draw each CheXpert observation with MIMIC-CXR-like prevalence; follow-up studies evolve
from the prior (chronic findings persist, acute ones worsen, stay or improve), which gives the
temporal pairs their progression labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from chestx_reasoner.data.synth.spec import Anatomy, VisibleFinding

GENERATOR_VERSION = "1"
MIN_TEST_PATIENTS = 20  # a small cohort's test split gets at least this many patients

# Fractions of MIMIC-CXR-JPG 2.0.0 studies labelled positive (1.0), uncertain (-1.0) and
# negative (0.0) per column of mimic-cxr-2.0.0-chexpert.csv (approximate, from the label
# counts the MIMIC-CXR-JPG paper reports). "No Finding" is not sampled: it follows from the
# other columns as in CheXpert.
MIMIC_PREVALENCE: dict[str, tuple[float, float, float]] = {
    "Atelectasis": (0.201, 0.045, 0.007),
    "Cardiomegaly": (0.197, 0.027, 0.070),
    "Consolidation": (0.047, 0.019, 0.035),
    "Edema": (0.119, 0.058, 0.113),
    "Enlarged Cardiomediastinum": (0.031, 0.041, 0.023),
    "Fracture": (0.019, 0.002, 0.004),
    "Lung Lesion": (0.028, 0.005, 0.004),
    "Lung Opacity": (0.226, 0.017, 0.013),
    "Pleural Effusion": (0.238, 0.026, 0.119),
    "Pleural Other": (0.009, 0.003, 0.001),
    "Pneumonia": (0.073, 0.080, 0.107),
    "Pneumothorax": (0.045, 0.005, 0.186),
    "Support Devices": (0.292, 0.0, 0.015),
}
# Share of first studies with no finding. Higher than MIMIC-CXR's 33 % "No Finding" because
# follow-up studies add findings; with it the whole cohort lands near 33 %.
NORMAL_SHARE = 0.40
MIMIC_NO_FINDING = 0.331
# Lines and tubes in first studies without / with a finding (scaled by the Support Devices
# share); impressions always mention them, so the label is the truth.
DEVICE_SHARE = {"normal": 0.12, "abnormal": 0.45}

CHRONIC = frozenset({"Cardiomegaly", "Enlarged Cardiomediastinum", "Lung Lesion", "Pleural Other",
                     "Fracture", "Support Devices"})
# The findings MS-CXR-T annotates progression for, with their CSV column prefixes.
PROGRESSION_FINDINGS: dict[str, str] = {
    "Consolidation": "consolidation",
    "Edema": "edema",
    "Pleural Effusion": "pleural_effusion",
    "Pneumonia": "pneumonia",
    "Pneumothorax": "pneumothorax",
}
# Observation -> the finding the renderer draws for it (lesions and devices pick a kind).
_VISIBLE = {
    "Atelectasis": "atelectasis", "Cardiomegaly": "cardiomegaly", "Consolidation": "consolidation",
    "Edema": "edema", "Enlarged Cardiomediastinum": "enlarged cardiomediastinum",
    "Fracture": "fracture", "Lung Opacity": "lung opacity", "Pleural Effusion": "pleural effusion",
    "Pleural Other": "pleural thickening", "Pneumonia": "pneumonia",
    "Pneumothorax": "pneumothorax",
}
DEVICES = ("endotracheal tube", "central venous catheter", "pacemaker", "enteric tube")
_SIDELESS = frozenset({"Cardiomegaly", "Enlarged Cardiomediastinum", "Edema", "Support Devices"})
_ZONAL = frozenset({"Atelectasis", "Consolidation", "Lung Opacity", "Lung Lesion", "Pneumonia"})


@dataclass(frozen=True, slots=True)
class FindingState:
    """One observation's truth in a study. `status` present|uncertain (absent ones are omitted)."""

    observation: str
    status: str
    side: str | None = None
    zone: str | None = None
    severity: int = 2
    kind: str | None = None  # lung lesion: nodule|mass; support devices: the devices, "+"-joined

    def visible(self) -> list[VisibleFinding]:
        """What the image shows: an uncertain finding is drawn subtle (severity 1)."""
        severity = 1 if self.status == "uncertain" else self.severity
        if self.observation == "Support Devices":
            return [VisibleFinding(d, side=self.side) for d in (self.kind or "").split("+") if d]
        name = self.kind if self.observation == "Lung Lesion" else _VISIBLE[self.observation]
        return [VisibleFinding(name, side=self.side, zone=self.zone, severity=severity)]


@dataclass(slots=True)
class StudyPlan:
    """Everything about one study except its rendered pixels and its report text."""

    index: int  # position in the cohort: derives the image seed
    subject_id: int
    study_id: int
    dicom_id: str
    when: datetime
    view: str  # PA | AP
    split: str  # train | validate | test
    anatomy: Anatomy
    findings: dict[str, FindingState]
    prior: StudyPlan | None = None
    progression: dict[str, str] = field(default_factory=dict)  # observation -> improving|...
    visit: int = 0  # 0 for a patient's first study

    @property
    def image_seed(self) -> int:
        return self.index

    def visible(self) -> list[VisibleFinding]:
        return [v for state in self.findings.values() for v in state.visible()]


def study_rng(seed: int, *key: int) -> np.random.Generator:
    """An independent random stream per (cohort seed, key…): order-free and resumable."""
    return np.random.default_rng(np.random.SeedSequence([seed, *key]))


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(x):08x}" for x in rng.integers(0, 2**32, size=5))


def _sample_state(obs: str, status: str, rng: np.random.Generator) -> FindingState:
    side = zone = kind = None
    severity = int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15]))
    if obs == "Support Devices":
        n = int(rng.choice([1, 2, 3], p=[0.55, 0.35, 0.10]))
        kind = "+".join(sorted(rng.choice(DEVICES, size=n, replace=False), key=DEVICES.index))
        side = str(rng.choice(["right", "left"], p=[0.6, 0.4]))
    elif obs not in _SIDELESS:
        bilateral = {"Pleural Effusion": 0.35, "Atelectasis": 0.3, "Lung Opacity": 0.2,
                     "Pneumonia": 0.1}.get(obs, 0.0)
        side = str(rng.choice(["right", "left", "bilateral"],
                              p=[(1 - bilateral) / 2, (1 - bilateral) / 2, bilateral]))
    if obs in _ZONAL:
        zone_p = [0.15, 0.2, 0.65] if obs in ("Atelectasis", "Pneumonia") else [0.3, 0.3, 0.4]
        zone = str(rng.choice(["upper", "middle", "lower"], p=zone_p))
    if obs == "Lung Lesion":
        kind = str(rng.choice(["nodule", "mass"], p=[0.75, 0.25]))
        side = side if side != "bilateral" else "right"
    return FindingState(obs, status, side=side, zone=zone, severity=severity, kind=kind)


def _first_study(prevalence: dict[str, tuple[float, float, float]], normal_share: float,
                 rng: np.random.Generator) -> dict[str, FindingState]:
    findings: dict[str, FindingState] = {}
    normal = rng.random() < normal_share
    scale = 1.0 / max(1e-6, 1.0 - normal_share)
    device_scale = 1.0 / MIMIC_PREVALENCE["Support Devices"][0]
    for obs, (pos, unc, _neg) in prevalence.items():
        if normal and obs != "Support Devices":
            continue
        if obs == "Support Devices":
            pos = min(0.95, pos * device_scale * DEVICE_SHARE["normal" if normal else "abnormal"])
        else:
            pos, unc = min(0.9, pos * scale), min(0.5, unc * scale)
        draw = rng.random()
        if draw < pos:
            findings[obs] = _sample_state(obs, "present", rng)
        elif draw < pos + unc:
            findings[obs] = _sample_state(obs, "uncertain", rng)
    if not normal and not any(o != "Support Devices" for o in findings):
        weights = np.array([p for o, (p, _, _) in prevalence.items() if o != "Support Devices"])
        names = [o for o in prevalence if o != "Support Devices"]
        obs = str(rng.choice(names, p=weights / weights.sum()))
        findings[obs] = _sample_state(obs, "present", rng)
    return findings


def _follow_up(prior: dict[str, FindingState], prevalence: dict[str, tuple[float, float, float]],
               rng: np.random.Generator) -> tuple[dict[str, FindingState], dict[str, str]]:
    """The next study's findings and, per MS-CXR-T finding, how it progressed."""
    findings: dict[str, FindingState] = {}
    progression: dict[str, str] = {}
    for obs, (pos, unc, _neg) in prevalence.items():
        before = prior.get(obs)
        after: FindingState | None
        if before is None:
            draw = rng.random()
            onset = 0.08 if obs in CHRONIC else 0.25
            if draw < pos * onset:
                after = replace(_sample_state(obs, "present", rng), severity=1 + int(rng.random()
                                                                                     < 0.4))
            elif draw < pos * onset + unc * 0.5:
                after = _sample_state(obs, "uncertain", rng)
            else:
                after = None
        elif before.status == "uncertain":
            draw = rng.random()
            after = (replace(before, status="present", severity=1) if draw < 0.3
                     else before if draw < 0.6 else None)
        elif obs in CHRONIC:
            after = before if rng.random() < (0.8 if obs == "Support Devices" else 0.95) else None
        else:
            step = int(rng.choice([-1, 0, 1], p=[0.4, 0.33, 0.27]))
            severity = before.severity + step
            if severity > 3:
                severity = 3
            after = replace(before, severity=severity) if severity >= 1 else None
        if after is not None:
            findings[obs] = after
        if obs in PROGRESSION_FINDINGS:
            label = _progression(before, after)
            if label:
                progression[obs] = label
    return findings, progression


def _progression(before: FindingState | None, after: FindingState | None) -> str | None:
    """improving | stable | worsening, only where both sides are certain (present or absent)."""
    if (before and before.status == "uncertain") or (after and after.status == "uncertain"):
        return None
    if before is None and after is None:
        return None
    b = before.severity if before else 0
    a = after.severity if after else 0
    return "worsening" if a > b else "improving" if a < b else "stable"


def sample_cohort(n: int, seed: int = 0,
                  prevalence: dict[str, tuple[float, float, float]] | None = None,
                  normal_share: float = NORMAL_SHARE,
                  split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                  ) -> list[StudyPlan]:
    """Plan `n` studies of patients with 1–4 studies each, in patient then time order."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    prevalence = dict(prevalence or MIMIC_PREVALENCE)
    rng = study_rng(seed, 0)
    subjects = rng.choice(np.arange(10_000_000, 20_000_000), size=n, replace=False)
    study_ids = rng.choice(np.arange(50_000_000, 60_000_000), size=n, replace=False)
    splits = patient_splits(n, seed, split_fractions)
    studies: list[StudyPlan] = []
    patient = 0
    while len(studies) < n:
        prng = study_rng(seed, 1, patient)
        count = min(n - len(studies), int(prng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1])))
        prng.random()  # the split draw (`patient_splits`), kept so later draws stay the same
        split = splits[patient]
        subject = int(subjects[patient])
        anatomy = Anatomy.sample(prng)
        when = datetime(2110, 1, 1) + timedelta(days=int(prng.integers(0, 365 * 80)),
                                                seconds=int(prng.integers(0, 86400)))
        prior: StudyPlan | None = None
        for visit in range(count):
            index = len(studies)
            srng = study_rng(seed, 2, index)
            if prior is None:
                findings, progression = _first_study(prevalence, normal_share, srng), {}
            else:
                findings, progression = _follow_up(prior.findings, prevalence, srng)
                when += timedelta(days=int(srng.integers(1, 120)),
                                  seconds=int(srng.integers(0, 86400)))
            acute_care = "Support Devices" in findings or findings.keys() & {"Edema",
                                                                               "Pneumothorax"}
            view = "AP" if acute_care and srng.random() < 0.8 else "PA"
            study = StudyPlan(
                index=index, subject_id=subject, study_id=int(study_ids[index]),
                dicom_id=_dicom_id(srng), when=when, view=view, split=split,
                anatomy=replace(anatomy.jitter(srng), view=view), findings=findings,
                prior=prior, progression=progression, visit=visit)
            studies.append(study)
            prior = study
        patient += 1
    return studies


def patient_splits(n: int, seed: int, split_fractions: tuple[float, float, float],
                   ) -> list[str]:
    """The split of each patient (in cohort order) of an `n`-study cohort.

    Each patient draws train / validate / test with `split_fractions`. A small cohort's draw
    can leave a handful of test patients (7 of 100 in a 200-study cohort), too few to score a
    model on, so the test split gets at least `MIN_TEST_PATIENTS` patients (never more than a
    fifth of them): the train patients whose draw came closest to another split move to
    test. Large cohorts already draw more than that and keep their splits unchanged.
    """
    counts, draws = [], []
    while sum(counts) < n:
        prng = study_rng(seed, 1, len(counts))
        counts.append(min(n - sum(counts),
                          int(prng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1]))))
        draws.append(float(prng.random()))
    train_below, validate_below = split_fractions[0], split_fractions[0] + split_fractions[1]
    splits = ["train" if u < train_below else "validate" if u < validate_below else "test"
              for u in draws]
    short = min(MIN_TEST_PATIENTS, len(splits) // 5) - splits.count("test")
    if short > 0:
        train = sorted((i for i, split in enumerate(splits) if split == "train"),
                       key=lambda i: -draws[i])
        for i in train[:short]:
            splits[i] = "test"
    return splits


def plan_fingerprint(n: int, seed: int, size: int, prevalence: dict, normal_share: float) -> str:
    """Identifies a cohort: a rerun into the same folder resumes only if this matches."""
    text = repr((GENERATOR_VERSION, n, seed, size, sorted(prevalence.items()), normal_share))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
