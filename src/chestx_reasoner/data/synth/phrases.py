"""How synthetic reports word each finding: noun phrases, sentence frames, negations, devices.

Every sentence comes with the CheXpert labels it asserts, so a study's labels are read from
exactly the sentences its label section holds (see `reports.py`). Wording follows MIMIC-CXR
report language: several frames per status, hedges ("may represent", "cannot exclude"),
comparison words for follow-ups. A new phrasing is one more string in a table here.
"""

from __future__ import annotations

import re

import numpy as np

from chestx_reasoner.data.synth.cohort import FindingState

Labels = dict[str, int]  # CheXpert column -> 1 | -1 | 0 asserted by one sentence


def pick(rng: np.random.Generator, options: list[str] | tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


_SEVERITY = {
    "Pleural Effusion": {1: ("small", "small", "trace"), 2: ("moderate",), 3: ("large",)},
    "Pneumothorax": {1: ("small", "tiny"), 2: ("moderate", "moderate-sized"), 3: ("large",)},
    "Cardiomegaly": {1: ("mild", "mild"), 2: ("moderate",), 3: ("severe", "marked")},
    "Edema": {1: ("mild",), 2: ("moderate",), 3: ("severe",)},
}
_EXTENT = {1: ("", "patchy", "small"), 2: ("",), 3: ("extensive", "large")}


def _sev(state: FindingState, rng: np.random.Generator) -> str:
    words = _SEVERITY.get(state.observation, _EXTENT)[state.severity]
    return pick(rng, words)


def location(state: FindingState, rng: np.random.Generator) -> tuple[str, str]:
    """(adjective form, noun form) of a lung location: ("right basilar", "right lung base")."""
    side, zone = state.side or "right", state.zone or "lower"
    if side == "bilateral":
        options = {
            "lower": [("bibasilar", "lung bases"),
                      ("bilateral lower lobe", "bilateral lower lobes"),
                      ("bibasilar", "both lung bases")],
            "middle": [("bilateral mid lung", "mid lungs bilaterally")],
            "upper": [("bilateral upper lobe", "bilateral upper lobes"),
                      ("bilateral upper lung", "upper lungs bilaterally")],
        }[zone]
    else:
        options = {
            "lower": [(f"{side} lower lobe", f"{side} lower lobe"), (f"{side} basilar",
                      f"{side} lung base"), (f"{side} basal", f"{side} base")],
            "middle": [("right middle lobe", "right middle lobe"), ("right mid lung",
                       "right mid lung")] if side == "right" else [("lingular", "lingula"),
                                                                    ("left mid lung",
                                                                     "left mid lung")],
            "upper": [(f"{side} upper lobe", f"{side} upper lobe"), (f"{side} upper lung",
                      f"{side} upper lung")],
        }[zone]
    return options[int(rng.integers(len(options)))]


def noun_phrase(state: FindingState, rng: np.random.Generator, severity: bool = True) -> str:
    """The finding as a noun phrase with its side, zone and (optionally) severity."""
    obs = state.observation
    sev = _sev(state, rng) if severity else ""
    side = state.side or ""
    if obs == "Pleural Effusion":
        if side == "bilateral":
            text = pick(rng, [f"{sev} bilateral pleural effusions",
                              f"bilateral {sev} pleural effusions"])
        else:
            text = pick(rng, [f"{sev} {side} pleural effusion", f"{sev} {side}-sided pleural "
                              "effusion", f"{sev} {side} effusion"])
    elif obs == "Pneumothorax":
        text = pick(rng, [f"{sev} {side} pneumothorax", f"{sev} {side} apical pneumothorax",
                          f"{sev} {side}-sided pneumothorax"])
    elif obs == "Cardiomegaly":
        text = pick(rng, [f"{sev} cardiomegaly", f"{sev} enlargement of the cardiac silhouette"])
    elif obs == "Edema":
        text = pick(rng, [f"{sev} pulmonary edema", f"{sev} interstitial pulmonary edema",
                          f"{sev} interstitial edema"])
    elif obs == "Enlarged Cardiomediastinum":
        text = pick(rng, ["widened mediastinum", "mediastinal widening",
                          "enlarged cardiomediastinal silhouette",
                          "superior mediastinal widening"])
    elif obs == "Pleural Other":
        text = pick(rng, [f"{side} apical pleural thickening", f"{side} pleural thickening",
                          f"pleural thickening along the {side} lateral chest wall"])
    elif obs == "Fracture":
        rib = pick(rng, ["fifth", "sixth", "seventh", "eighth", "ninth"])
        age = pick(rng, ["", "", "healed", "nondisplaced"])
        text = pick(rng, [f"{age} {side} {rib} rib fracture", f"{age} fracture of the {side} "
                          f"{rib} rib", f"{age} {side} {rib} posterior rib fracture"])
    elif obs == "Lung Lesion":
        adj, noun = location(state, rng)
        if state.kind == "mass":
            size = f"{rng.uniform(3.0, 6.5):.1f} cm"
            text = pick(rng, [f"{size} {adj} mass", f"{size} mass in the {noun}",
                              f"large {adj} mass"])
        else:
            size = f"{int(rng.integers(6, 19))} mm"
            text = pick(rng, [f"{size} {adj} nodule", f"{size} nodule in the {noun}",
                              f"{adj} pulmonary nodule"])
    else:
        adj, noun = location(state, rng)
        head = {
            "Consolidation": ["{adj} consolidation", "consolidation in the {noun}",
                              "{sev} {adj} consolidation"],
            "Lung Opacity": ["{adj} opacity", "patchy opacity in the {noun}",
                             "hazy opacity in the {noun}", "{adj} airspace opacity"],
            "Pneumonia": ["{adj} pneumonia", "pneumonia in the {noun}"],
            "Atelectasis": ["{adj} atelectasis", "plate-like atelectasis in the {noun}",
                            "subsegmental atelectasis in the {noun}", "{sev} {adj} atelectasis"],
        }[obs]
        text = pick(rng, head).format(adj=adj, noun=noun, sev=sev)
    return " ".join(text.split())


# Frames around a noun phrase, by how the finding stands.
FRAMES: dict[str, tuple[str, ...]] = {
    "present": ("{NP}.", "There is {np}.", "{NP} is present.", "{NP} is noted."),
    "uncertain": ("Possible {np}.", "Cannot exclude {np}.", "{NP} is not excluded.",
                  "Findings may represent {np}.", "Questionable {np}."),
    "worsening": ("Increased {np}.", "Interval increase in {np}.", "Worsening {np}.",
                  "{NP} has increased."),
    "new": ("New {np}.", "Interval development of {np}.", "{NP} is new."),
    "improving": ("Decreased {np}.", "Improving {np}.", "Interval decrease in {np}.",
                  "{NP} has decreased."),
    "stable": ("Unchanged {np}.", "Stable {np}.", "{NP} is unchanged.",
               "Persistent {np}."),
    "resolved": ("Interval resolution of {np}.", "Previously seen {np} has resolved."),
}


def finding_sentence(state: FindingState, rng: np.random.Generator, change: str | None,
                     ) -> tuple[str, Labels]:
    """One sentence stating a present or uncertain finding, with follow-up wording if any."""
    obs = state.observation
    if state.status == "uncertain":
        np_ = noun_phrase(state, rng, severity=False)
        if obs == "Pleural Effusion" and rng.random() < 0.4 and state.side != "bilateral":
            return (f"Blunting of the {state.side} costophrenic angle may reflect a small "
                    "effusion.", {obs: -1})
        if obs in ("Atelectasis", "Pneumonia") and rng.random() < 0.5:
            adj, _ = location(state, rng)
            verb = pick(rng, ["may represent", "could reflect", "concerning for",
                              "may be due to"])
            return (f"{capitalize(adj)} opacity {verb} {obs.lower()}.",
                    {"Lung Opacity": 1, obs: -1})
        frames = FRAMES["uncertain"] if obs != "Lung Opacity" else (
            "Questionable {np}.", "Possible {np}.")
        frame = pick(rng, frames)
    else:
        np_ = noun_phrase(state, rng)
        frame = pick(rng, FRAMES[change or "present"])
        if obs == "Cardiomegaly" and not change and rng.random() < 0.3:
            adverb = {1: "mildly", 2: "moderately", 3: "severely"}[state.severity]
            return f"The heart is {adverb} enlarged.", {obs: 1}
    text = frame.replace("{NP}", capitalize(np_)).replace("{np}", _article(np_, frame))
    return text, {obs: -1 if state.status == "uncertain" else 1}


_COUNTABLE = re.compile(r"\b(effusion|pneumothorax|opacity|nodule|mass|fracture|silhouette)$")


def _article(np_: str, frame: str) -> str:
    """'There is a small effusion' / 'Interval increase in the small effusion'."""
    if frame.startswith("There is"):
        if not _COUNTABLE.search(np_):  # "there is atelectasis", "there is a small effusion"
            return np_
        return ("an " if np_[0] in "aeiou" else "a ") + np_
    if frame.startswith(("Interval increase in", "Interval decrease in", "Interval resolution")):
        return "the " + np_
    if frame.startswith("Previously seen"):
        return np_
    return np_


def resolved_sentence(before: FindingState, rng: np.random.Generator) -> tuple[str, Labels]:
    """A finding of the prior study that has gone."""
    np_ = noun_phrase(before, rng, severity=False)
    frame = pick(rng, FRAMES["resolved"])
    return frame.replace("{np}", _article(np_, frame)), {before.observation: 0}


# Negations: nouns that can be listed ("No pleural effusion or pneumothorax.").
NEGATION_NOUNS: dict[str, tuple[str, ...]] = {
    "Pleural Effusion": ("pleural effusion", "pleural effusion", "effusion"),
    "Pneumothorax": ("pneumothorax",),
    "Consolidation": ("focal consolidation", "consolidation"),
    "Lung Opacity": ("focal airspace opacity", "focal opacity"),
    "Pneumonia": ("pneumonia",),
    "Edema": ("pulmonary edema", "edema"),
    "Atelectasis": ("atelectasis",),
    "Lung Lesion": ("suspicious pulmonary nodules", "pulmonary nodules or masses"),
    "Fracture": ("displaced rib fracture", "acute rib fracture"),
    "Pleural Other": ("pleural thickening",),
    "Cardiomegaly": ("cardiomegaly",),
}
# Normal statements for anatomy: the heart and mediastinum are reported as normal, not absent.
NORMAL_ANATOMY: dict[tuple[str, ...], tuple[str, ...]] = {
    ("Cardiomegaly",): ("Heart size is normal.", "The heart is normal in size.",
                        "The cardiac silhouette is normal in size.", "Normal heart size."),
    ("Enlarged Cardiomediastinum",): ("The mediastinal contours are normal.",
                                      "The cardiomediastinal silhouette is within normal limits.",
                                      "Normal cardiomediastinal silhouette."),
    ("Cardiomegaly", "Enlarged Cardiomediastinum"): (
        "Heart size and mediastinal contours are normal.",
        "The heart size and cardiomediastinal silhouette are normal."),
}


def negation_sentence(observations: list[str], rng: np.random.Generator) -> tuple[str, Labels]:
    """One sentence negating one or more findings."""
    nouns = [pick(rng, NEGATION_NOUNS[o]) for o in observations]
    if len(nouns) == 1:
        listed = nouns[0]
    elif len(nouns) == 2:
        listed = f"{nouns[0]} or {nouns[1]}"
    else:
        listed = ", ".join(nouns[:-1]) + f", or {nouns[-1]}"
    frame = pick(rng, ["No {x}.", "No {x}.", "There is no {x}.", "No evidence of {x}.",
                       "No {x} is seen."])
    return frame.format(x=listed), dict.fromkeys(observations, 0)


_DEVICE_SENTENCES: dict[str, tuple[str, ...]] = {
    "endotracheal tube": (
        "Endotracheal tube terminates {cm} cm above the carina.",
        "ET tube in standard position, {cm} cm above the carina.",
        "The endotracheal tube tip is {cm} cm above the carina."),
    "central venous catheter": (
        "{Side} internal jugular central venous catheter with tip in the mid SVC.",
        "{Side} subclavian central line terminates in the lower SVC.",
        "{Side}-sided PICC line with tip at the cavoatrial junction."),
    "pacemaker": (
        "{Side}-sided pacemaker with leads in the right atrium and right ventricle.",
        "{Side} chest wall pacemaker with leads in standard position.",
        "Dual-chamber pacemaker from the {side}, leads unchanged in position."),
    "enteric tube": (
        "Enteric tube courses below the diaphragm with tip in the stomach.",
        "Nasogastric tube tip in the stomach.",
        "An orogastric tube terminates in the stomach."),
}


def device_sentences(state: FindingState, rng: np.random.Generator) -> list[tuple[str, Labels]]:
    out = []
    for device in (state.kind or "").split("+"):
        side = "left" if device == "pacemaker" and state.side == "left" else state.side or "right"
        text = pick(rng, _DEVICE_SENTENCES[device]).format(
            cm=int(rng.integers(3, 6)), side=side, Side=capitalize(side))
        out.append((text, {"Support Devices": 1}))
    return out


NO_FINDING_SENTENCES = (
    "No acute cardiopulmonary process.", "No acute cardiopulmonary abnormality.",
    "No acute intrathoracic process.", "Normal chest radiograph.",
    "No radiographic evidence of acute cardiopulmonary disease.",
)
CLEAR_LUNGS: tuple[tuple[str, Labels], ...] = (
    ("The lungs are clear.", {}), ("Lungs are well expanded and clear.", {}),
    ("The lungs are clear without focal consolidation.", {"Consolidation": 0}))
INDICATIONS = (
    "shortness of breath", "cough and fever, evaluate for pneumonia", "chest pain",
    "hypoxia", "evaluate for interval change", "status post line placement",
    "fall, evaluate for fracture", "preoperative evaluation", "dyspnea on exertion",
    "intubated patient, evaluate tube position", "follow-up of effusion",
)
