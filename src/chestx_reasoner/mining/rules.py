"""The offline miner: a reasoning chain per item from the report's findings and radiographic signs.

Plan -> evidence -> refine, as the paper's three passes, without an LLM:
- plan: which findings the question needs (every option's findings for option tasks, the
  present ones plus the usual normal checks for open and anomaly questions);
- evidence: each finding's status, side/zone and severity as the report states it (the labeler's
  reading; a finding the report does not mention is normal), turned into what the image shows
  using the signs in `knowledge.py`;
- refine: one chain that opens with the question, checks each finding, and ends with the answer.
Wording varies with a seeded choice per item, and no step names "the report" or "the plan".
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from chestx_reasoner.bench.sample import FINDING_NAMES, LETTERS, PATHOLOGIES
from chestx_reasoner.mining.knowledge import KNOWLEDGE
from chestx_reasoner.reports.records import LabeledReport
from chestx_reasoner.reports.vocabulary import lookup_concepts

NAME_TO_COLUMN = {v: k for k, v in FINDING_NAMES.items()}
NORMAL_CHECKS = ("Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Consolidation", "Edema")
_SEVERITY = re.compile(r"\b(trace|tiny|small|mild|minimal|moderate|large|severe|marked|"
                       r"extensive)\b", re.IGNORECASE)
_STATUS = {1: "present", -1: "uncertain", 0: "absent", None: "absent"}


@dataclass(slots=True)
class Evidence:
    """One finding's status in a study, with where and how severe, as the report says."""

    column: str
    status: str  # present | uncertain | absent
    location: str = ""  # as the labeler words it ("left lower lobe", "bilateral base")
    side: str = ""  # left | right | bilateral: the adjective form
    place: str = ""  # a noun phrase: "left lower lobe", "both lung bases", "right upper zone"
    severity: str = ""
    devices: str = ""

    def key_finding(self) -> dict:
        return {"finding": FINDING_NAMES[self.column], "status": self.status,
                "location": self.location or None}


def gather_evidence(labeled: LabeledReport) -> dict[str, Evidence]:
    """Column -> Evidence for all 13 finding columns (unmentioned ones are absent)."""
    out = {}
    for column in FINDING_NAMES:
        status = _STATUS[labeled.labels.get(column)]
        mentions = [f for f in labeled.findings
                    if f.chexpert_label == column and f.status == status]
        mentions.sort(key=lambda f: f.section != "impression")
        where = next((f.location for f in mentions if f.location), None)
        location = where.text if where else ""
        severity = ""
        for f in mentions:
            if match := _SEVERITY.search(f.evidence.sentence):
                severity = match.group(1).lower()
                break
        devices = ", ".join(dict.fromkeys(f.name for f in mentions)) if column == \
            "Support Devices" else ""
        out[column] = Evidence(column, status, location, (where.side or "") if where else "",
                               _place(where), severity, devices)
    return out


_ZONE_NOUNS = {"base": "lung base", "apex": "apex", "perihilar": "perihilar region",
               "retrocardiac": "retrocardiac region", "upper": "upper zone",
               "middle": "mid zone", "lower": "lower zone"}


def _place(where) -> str:  # type: ignore[no-untyped-def]
    """A noun phrase for a Location: the lobe, else side + zone ("both lung bases")."""
    if where is None:
        return ""
    if where.lobe:
        return where.lobe
    zone = _ZONE_NOUNS.get(where.zone or "", "")
    if where.side == "bilateral":
        plural = {"lung base": "lung bases", "apex": "apices"}.get(zone, f"{zone}s" if zone
                                                                    else "lungs")
        return f"both {plural}"
    if where.side and zone:
        return f"{where.side} {zone}"
    return f"{where.side} lung" if where.side else zone


def option_columns(option: str) -> list[str]:
    """The finding columns an option names ("pleural effusion, cardiomegaly")."""
    columns = []
    for part in option.split(","):
        part = part.strip()
        if part in NAME_TO_COLUMN:
            columns.append(NAME_TO_COLUMN[part])
            continue
        for concept in lookup_concepts(part):
            if concept.chexpert_label in FINDING_NAMES:
                columns.append(concept.chexpert_label)
                break
    return list(dict.fromkeys(columns))


def _sign(rng: random.Random, evidence: Evidence, prefix: str = "") -> str:
    """One sentence: what is looked at and what is seen for one finding."""
    signs = KNOWLEDGE[evidence.column]
    name = FINDING_NAMES[evidence.column]
    look = rng.choice([f"To evaluate for {name}, examine {{x}}.", f"Evaluate for {name}: "
                       "check {x}.", f"Assess for {name} by examining {{x}}."])
    look = look.replace("{x}", rng.choice(signs.examine))
    if evidence.status == "present":
        seen = rng.choice(signs.present)
        side = "" if evidence.column == "Support Devices" else evidence.side
        adjective = " ".join(w for w in (evidence.severity, side) if w)
        seen = re.sub(r"the \{where\}(?![a-z])", f"the {evidence.place or 'lungs'}", seen)
        seen = seen.replace("{where}", f"{adjective} " if adjective else "")
        seen = seen.replace("{devices}", evidence.devices or "tubes or catheters")
    elif evidence.status == "uncertain":
        seen = f"the appearance is equivocal, so {name} can only be called possible"
    else:
        seen = rng.choice(signs.absent)
    text = f"{prefix}{seen}"
    return f"{look} {text[0].upper()}{text[1:]}."


def _plan(rng: random.Random, item: dict, columns: list[str]) -> str:
    task = item["task"]
    if task == "binary":
        name = FINDING_NAMES[columns[0]]
        return rng.choice([f"The question asks to evaluate for {name}, a yes/no decision "
                           "that turns on the signs of that one finding.",
                           f"To answer, evaluate for {name}: its radiographic signs decide "
                           "between yes and no."])
    if task in ("single", "multi"):
        n = len(item["options"])
        what = "finding" if task == "single" else "set of findings"
        return rng.choice([f"There are {n} candidate options, each a {what}; each candidate "
                           "is checked on the image and only what is actually seen is kept.",
                           f"The options offer {n} alternatives; the image is checked for "
                           f"every finding they name, and the right {what} is the one that "
                           "matches what is seen."])
    if task == "temporal":
        return rng.choice(["Two images are compared, the prior and the current one; the same "
                           "finding is judged on each and the change between them decides.",
                           "The prior and current radiographs are read side by side for one "
                           "finding, and its change over time is the answer."])
    return rng.choice(["The whole radiograph is surveyed: heart, mediastinum, lungs, pleura "
                       "and bones, keeping each finding that is seen.",
                       "A systematic survey covers the heart and mediastinum, both lungs, the "
                       "pleural spaces and the bones."])


def _conclusion(rng: random.Random, item: dict, present: list[str]) -> str:
    task, answer = item["task"], item["answer"]
    if task == "multi_open":
        names = ", ".join(sorted(FINDING_NAMES[c] for c in present))
        return rng.choice([f"In summary, the findings present are: {names}",
                           f"Therefore the chest X-ray shows: {names}"]) + "."
    option = item["options"][LETTERS.index(answer)]
    change = {"Stable": "is unchanged", "Worsening": "has worsened",
              "Improving": "has improved"}.get(option, "")
    name = FINDING_NAMES.get(item.get("finding") or "", "finding")
    lead = {
        "binary": "This settles the question",
        "single": f"Of the candidates, only {option} is seen",
        "multi": "Only one option lists exactly the findings seen",
        "anomaly": "An abnormality is present" if option == "Abnormal"
        else "No abnormality is seen",
        "temporal": f"Compared with the prior image, the {name} {change}",
    }.get(task, "Therefore")
    return rng.choice([f"{lead}, so the answer is {answer}) {option}.",
                       f"{lead}: the answer is {answer}) {option}."])


@dataclass(slots=True)
class Chain:
    steps: list[str]
    key_findings: list[dict]


def mine_rules(item: dict, current: LabeledReport, prior: LabeledReport | None = None,
               seed: int = 0, trust_answer: bool = False) -> Chain:
    """A chain for one item from the labeler's reading of its report(s).

    `trust_answer`: the repair pass; the asked finding's status is taken from the item's
    answer where the labeler's reading disagrees with it.
    """
    rng = random.Random(f"{seed}:{item['id']}")
    evidence = gather_evidence(current)
    task = item["task"]
    if task in ("single", "multi"):
        columns = list(dict.fromkeys(c for o in item["options"] for c in option_columns(o)))
    elif task in ("binary", "temporal"):
        column = item.get("finding") or (option_columns(item["question"]) or ["Lung Opacity"])[0]
        columns = [column]
    else:
        columns = [c for c in PATHOLOGIES if evidence[c].status == "present"]
        if task == "multi_open" and evidence["Support Devices"].status == "present":
            columns.append("Support Devices")
        columns += [c for c in NORMAL_CHECKS if c not in columns][: max(0, 4 - len(columns))]
    if trust_answer:
        columns = _align_with_answer(item, evidence, columns)
    steps = [_plan(rng, item, columns)]
    if task == "temporal" and prior is not None:
        before = gather_evidence(prior)[columns[0]]
        steps.append(_sign(rng, before, prefix="on the prior image, "))
        steps.append(_sign(rng, evidence[columns[0]], prefix="on the current image, "))
    else:
        steps += [_sign(rng, evidence[c]) for c in columns]
    present = [c for c in columns if evidence[c].status == "present"]
    if task == "multi_open":
        present = [c for c in FINDING_NAMES if evidence[c].status == "present"]
    steps.append(_conclusion(rng, item, present))
    return Chain(steps, [evidence[c].key_finding() for c in columns])


def _align_with_answer(item: dict, evidence: dict[str, Evidence], columns: list[str],
                       ) -> list[str]:
    """Repair: make the asked findings' status follow the item's answer; returns the columns
    to state. An open question's chain then leaves out what the report mentions outside the
    answer (e.g. an opacity in FINDINGS that the IMPRESSION, which the labels follow, omits)."""
    if item["task"] == "binary":
        want = "present" if item["answer"] == "A" else "absent"
        evidence[columns[0]].status = want
    elif item["task"] in ("single", "multi"):
        right = set(option_columns(item["options"][LETTERS.index(item["answer"])]))
        for column in columns:
            evidence[column].status = "present" if column in right else "absent"
    elif item["task"] == "multi_open":
        right = [c for c in FINDING_NAMES
                 if c in {NAME_TO_COLUMN.get(n.strip()) for n in item["answer"].split(",")}]
        normal = [c for c in NORMAL_CHECKS if evidence[c].status == "absent" and c not in right]
        for column, found in evidence.items():
            if column in right:
                found.status = "present"
            elif found.status != "absent":
                found.status = "unstated"
        return right + normal[: max(0, 4 - len(right))]
    return columns
