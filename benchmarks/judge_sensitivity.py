"""Does the judge catch the errors a radiologist would? Perturbation tests on real chains.

    python benchmarks/judge_sensitivity.py [--data FILE ...] [--split all|calib|holdout]
                                           [--show PERTURBATION]

Each reference chain of a records file (each distinct item once) is replayed as a prediction
with the gold answer, then copied with one error put in; the copy must score lower than the
replay on the component that error belongs to:

| perturbation | what changes | must drop |
|---|---|---|
| side swap | one "left" <-> "right" the report gives that finding | factuality |
| absent -> present | a denied finding the report does not state, now asserted | factuality |
| present -> absent | one finding the report calls present, now denied | factuality |
| inserted finding | a new step asserting what the report rules out or omits | factuality |
| severity change | "small"/"mild"... <-> "large"/"severe"... of a graded finding | factuality |
| change over time | one "improved"/"increased"... <-> its opposite (temporal items) | factuality |
| dropped steps | every other observing sentence, losing a finding | completeness |
| filler | two generic steps that restate nothing of the chain | effectiveness |

The perturbations are built from the text with their own small word lists, not with the
judge's readers (a judge graded on its own reading would prove nothing), and only where the
error is real: a swap needs the report to state that side (and not the other) next to the same
word, a flip needs the report not to support the new status, and dropped steps must lose a
finding that nothing kept states again: not in a radiologist's other words ("heart size is
normal" for "no cardiomegaly"), nor in the answer, nor in an option the kept text names by
letter; a plan dropped loses nothing. It prints, per perturbation, how many chains it applied
to and the share whose target component dropped. Goal: >= 0.95 each.
`--show NAME` prints the misses of one perturbation (text before and after, both scores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from rich.console import Console
from rich.table import Table

from chestx_reasoner.bench.sample import answer_option
from chestx_reasoner.scoring.judge_rules import RulesJudge
from chestx_reasoner.scoring.score import score_items

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEFAULTS = [DATA / "radrscore-mimic-dev.jsonl", DATA / "radrscore-dev.jsonl"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9*(])|\n+")
# Finding words a radiologist would name; deliberately the benchmark's own short list.
FINDING_WORDS = (
    r"pneumothorax|pleural effusions?|effusions?|consolidations?|edema|cardiomegaly|"
    r"atelectasis|opacit(?:y|ies)|pneumonia|nodules?|mass(?:es)?|fractures?|infiltrates?|"
    r"enlarged cardiomediastinum|lesions?|congestion|emphysema|scarring|fibrosis|"
    r"hyperinflation|thickening|collapse")
_FINDING = re.compile(rf"\b(?:{FINDING_WORDS})\b", re.I)
_NEGATION = re.compile(r"\b(?:no|not|without|absence|absent|negative|free of|rule[sd]? out|"
                       r"ruling out|exclude[sd]?|lack|none|unlikely)\b", re.I)
_HEDGE = re.compile(r"\b(?:may|might|could|possibl[ey]|probabl[ey]|likely|suggest\w*|"
                    r"question\w*|cannot|concern\w*|versus|vs)\b", re.I)
_PLANNING = re.compile(r"\b(?:look for|check|examine|assess|evaluat\w+|determine|would|"
                       r"typically|such as|if |whether|can |should|must|need|"
                       r"analy[sz]e\w* (?:\w+ ){0,4}for|for (?:evidence|signs) of any)\b", re.I)
# Textbook words: a sentence with one describes a finding in general, not this patient.
_TEXTBOOK = re.compile(r"\b(?:often|typically|usually|commonly|"
                       r"refers? to|defined as)\b", re.I)
SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
SEVERITY = {"small": "large", "large": "small", "mild": "severe", "severe": "mild",
            "minimal": "extensive", "moderate": "minimal", "tiny": "large", "trace": "large",
            "extensive": "minimal"}
GRADE_CLASS = {"small": "low", "mild": "low", "minimal": "low", "tiny": "low", "trace": "low",
               "moderate": "mid", "large": "high", "severe": "high", "extensive": "high",
               "massive": "high", "marked": "high"}
CHANGE = {"improved": "worsened", "improving": "worsening", "worsened": "improved",
          "worsening": "improving", "increased": "decreased", "decreased": "increased",
          "unchanged": "worsened", "stable": "worsening", "resolved": "worsened",
          "new": "resolved", "progressed": "improved", "decreasing": "increasing",
          "increasing": "decreasing", "persistent": "resolved"}
FILLER = ["Image quality is assessed first, including rotation and inspiration.",
          "A systematic approach is followed throughout the review."]
INSERT = [("pneumothorax", "There is a large right-sided pneumothorax with a visible "
           "pleural line."),
          ("effusion", "A large left pleural effusion is present, blunting the costophrenic "
           "angle."),
          ("consolidation", "There is dense consolidation in the right lower lobe."),
          ("cardiomegaly", "The heart is markedly enlarged, consistent with cardiomegaly."),
          ("edema", "There is diffuse pulmonary edema with perihilar haze.")]


def split_of(record_id: str) -> str:
    """The judge_agreement benchmark's halves: sha1(id) parity, even = calib."""
    return "calib" if int(hashlib.sha1(record_id.encode()).hexdigest(), 16) % 2 == 0 \
        else "holdout"


def item_key(record: dict) -> str:
    """One key per benchmark item: the dumps answer each item with several models."""
    return str(record["id"]).split("/", 1)[-1] if record.get("model") else str(record["id"])


def sentences(steps: list[str]) -> list[tuple[int, str]]:
    """(step index, sentence) for every sentence of a chain."""
    return [(i, s.strip()) for i, step in enumerate(steps) for s in _SENTENCE.split(step)
            if s.strip()]


def rebuild(steps: list[str], parts: list[tuple[int, str]]) -> list[str]:
    out = ["" for _ in steps]
    for i, sentence in parts:
        out[i] = f"{out[i]} {sentence}".strip()
    return [s for s in out if s]


def replace_once(steps: list[str], index: int, old: str, new: str) -> list[str]:
    parts = sentences(steps)
    parts[index] = (parts[index][0], parts[index][1].replace(old, new, 1))
    return rebuild(steps, parts)


def asserting(sentence: str) -> bool:
    """An observation of this patient that calls something present, with no hedge (a
    definition, "edema often shows perihilar opacities", says nothing of the patient)."""
    return bool(_FINDING.search(sentence)) and not _NEGATION.search(sentence) \
        and not _HEDGE.search(sentence) and not _PLANNING.search(sentence) \
        and not _TEXTBOOK.search(sentence)


# One place, several words: "the left base" is the report's "left basilar" region.
_PLACE_FORMS = {"base": r"bas(?:e|es|al|ilar)", "basilar": r"bas(?:e|es|al|ilar)",
                "basal": r"bas(?:e|es|al|ilar)", "apex": r"ap(?:ex|ical|ices)",
                "apical": r"ap(?:ex|ical|ices)"}


def _near(report: str, side: str, following: str) -> bool:
    word = _PLACE_FORMS.get(following, re.escape(following))
    return re.search(rf"\b{side}\s+(?:\w+\s+){{0,2}}{word}\b", report) is not None


def side_swap(item: dict, steps: list[str]) -> list[str] | None:
    report = item["report"].lower()
    for index, (_, sentence) in enumerate(sentences(steps)):
        if not asserting(sentence):
            continue
        for match in re.finditer(r"\b(left|right|Left|Right)\s+(\w+)", sentence):
            side, following = match.group(1).lower(), match.group(2).lower()
            if following in {"side", "sided", "and", "or", "to"}:
                continue
            if _near(report, side, following) and not _near(report, SWAP[side], following) \
                    and "bilateral" not in report:
                swapped = f"{SWAP[match.group(1)]} {match.group(2)}"
                return replace_once(steps, index, match.group(), swapped)
    return None


_NEGATED_FINDING = re.compile(
    rf"\b(there is no|there are no|no evidence of|no signs? of|no|without)\s+"
    rf"((?:(?:acute|focal|definite|significant|large|visible|obvious|apparent|new|"
    rf"evidence of|signs? of)\s+)*(?:\w+\s+){{0,2}}?(?:{FINDING_WORDS}))\b", re.I)
# The negation words, each replaced by what asserts instead (the rest of the sentence kept).
_ASSERTED = {"there is no": "there is", "there are no": "there are",
             "no evidence of": "evidence of", "no sign of": "a sign of",
             "no signs of": "signs of", "no": "", "without": "with"}
# Anything that would still deny after the flip: a second negation, a normal structure.
_STILL_DENIED = re.compile(rf"{_NEGATION.pattern}|\b(?:exclud\w*|eliminat\w*|normal|"
                           r"unremarkable|clear|nor|neither|resolved|dismiss\w*)\b", re.I)


# What a report may call a finding by (its own words, a structure, a finer finding): a
# flip is only an error where none of them is stated present.
_COLLAPSE = r"collaps\w*|atelecta\w*"
_SAID_AS = {
    "cardiomegaly": r"cardiomegaly|heart|cardiac",
    "enlarged cardiomediastinum": r"cardiomediastin\w*|mediastin\w*|cardiomegaly|heart|cardiac",
    "opacit": r"opacit\w*|infiltrat\w*|consolidat\w*|atelecta\w*|airspace|air space|"
              r"pneumonia|edema|scar\w*|densit\w*|nodul\w*|mass",
    "infiltrate": r"opacit\w*|infiltrat\w*|consolidat\w*|airspace|air space|pneumonia",
    "effusion": r"effusion|pleural fluid",
    "edema": r"edema|congestion|chf|heart failure",
    # A collapse is an atelectasis, a lesion a mass or nodule: a report that names one in
    # the other's words still speaks of it.
    "collaps": _COLLAPSE,
    "atelecta": _COLLAPSE,
    "lesion": r"lesion\w*|mass\w*|nodul\w*",
}


def report_denies(report: str, head: str) -> bool:
    """Whether every sentence of the report naming the finding (by any of `_SAID_AS`)
    denies it or calls the structure normal: only then is asserting it an error."""
    words = next((v for k, v in _SAID_AS.items() if head.startswith(k)), re.escape(head))
    for sentence in re.split(r"(?<=[.;])\s+", report):
        if re.search(rf"\b(?:{words})", sentence) and not _STILL_DENIED.search(sentence):
            return False
    return True


def flip_absent(item: dict, steps: list[str]) -> list[str] | None:
    report = item["report"].lower()
    for index, (_, sentence) in enumerate(sentences(steps)):
        if _PLANNING.search(sentence) or _HEDGE.search(sentence):
            continue
        match = _NEGATED_FINDING.search(sentence)
        if match is None or len(_STILL_DENIED.findall(sentence)) > 1:
            continue  # a second cue ("the absence of X confirms no Y") would still deny
        finding = match.group(2)
        head = _FINDING.search(finding).group().lower()
        if not report_denies(report, head):
            continue
        said = f"{_ASSERTED[match.group(1).lower()]} {finding}".strip()
        if match.start() == 0 or sentence[: match.start()].strip() in ("", "*", "-"):
            said = said[0].upper() + said[1:]
        return replace_once(steps, index, match.group(), said)
    return None


def flip_present(item: dict, steps: list[str]) -> list[str] | None:
    report = item["report"].lower()
    for index, (_, sentence) in enumerate(sentences(steps)):
        if not asserting(sentence):
            continue
        match = re.search(rf"\b(?:there (?:is|are)|shows?|reveals?|demonstrates?)\s+"
                          rf"((?:an?\s+|the\s+)?(?:[\w-]+\s+){{0,3}}?(?:{FINDING_WORDS}))\b",
                          sentence, re.I)
        if match is None:
            continue
        head = _FINDING.search(match.group(1)).group().lower()
        mentions = [m.start() for m in re.finditer(rf"\b{re.escape(head)}", report)]
        if not mentions or any(_NEGATION.search(report[max(0, m - 60): m])
                               for m in mentions):
            continue
        verb = match.group()[: match.start(1) - match.start()].strip()
        bare = re.sub(r"^(?:an?|the)\s+", "", match.group(1), flags=re.I)
        denied = f"{verb} no {bare}"
        return replace_once(steps, index, match.group(), denied)
    return None


def inserted(item: dict, steps: list[str]) -> list[str] | None:
    report = item["report"].lower()
    for word, step in INSERT:
        mentions = [m.start() for m in re.finditer(rf"\b{word}", report)]
        if word == "cardiomegaly":
            mentions += [m.start() for m in re.finditer(r"\bheart (?:size|is)|cardiac (?:size|"
                                                        r"silhouette)|cardiomediast", report)]
            if re.search(r"enlarg|cardiomegaly", report) and not re.search(
                    r"(?:no|not)\s+(?:\w+\s+){0,3}(?:enlarg|cardiomegaly)", report):
                continue
        if all(_NEGATION.search(report[max(0, m - 60): m]) for m in mentions):
            return [*steps[:-1], step, steps[-1]] if len(steps) > 1 else [step, *steps]
    return None


def severity(item: dict, steps: list[str]) -> list[str] | None:
    report = item["report"].lower()
    for index, (_, sentence) in enumerate(sentences(steps)):
        if not asserting(sentence):
            continue
        match = re.search(rf"(?<![-\w])({'|'.join(SEVERITY)})\s+((?:\w+\s+){{0,2}}?"
                          rf"(?:{FINDING_WORDS}))\b", sentence, re.I)
        if match is None or re.search(r"\bto\W*$", sentence[: match.start()]):
            continue  # a range ("small to moderate") is not one grade
        grade, finding = match.group(1).lower(), match.group(2)
        head = _FINDING.search(finding).group().lower()
        if not re.search(rf"\b{grade}\s+(?:\w+\s+){{0,3}}{re.escape(head)}", report):
            continue
        other = SEVERITY[grade]
        # The report must grade that finding in no word of the new grade's class.
        graded = {GRADE_CLASS[w] for w in re.findall(
            rf"\b({'|'.join(GRADE_CLASS)})\b(?=(?:[\s-]+\w+){{0,4}}[\s-]+{re.escape(head)})",
            report)}
        if GRADE_CLASS[other] in graded or re.search(rf"\b{other}\b", report):
            continue
        return replace_once(steps, index, match.group(), f"{other} {finding}")
    return None


def change(item: dict, steps: list[str]) -> list[str] | None:
    if item.get("task") != "temporal":
        return None
    # What changed is the current report's to say ("Previous Report: … Current Report: …").
    report = re.split(r"current report\s*:", item["report"], flags=re.I)[-1].lower()
    words = "|".join(CHANGE)
    near = re.compile(rf"\b({words})\b(?:\s+\w+){{0,4}}?\s+(?:{FINDING_WORDS})\b|"
                      rf"\b(?:{FINDING_WORDS})\b(?:\s+\w+){{0,4}}?\s+({words})\b", re.I)
    for index, (_, sentence) in enumerate(sentences(steps)):
        if _PLANNING.search(sentence) or _NEGATION.search(sentence):
            continue
        match = near.search(sentence)
        if match is None:
            continue
        word = (match.group(1) or match.group(2)).lower()
        if not re.search(rf"\b{word}\b", report) or re.search(rf"\b{CHANGE[word]}\b", report):
            continue
        start = match.start(1) if match.group(1) else match.start(2)
        return replace_once(steps, index, sentence[start: start + len(word)] + sentence[
            start + len(word): match.end()], CHANGE[word] + sentence[start + len(word):
                                                                       match.end()])
    return None


# Definitions and framing name findings without saying anything of this patient.
_DEFINING = re.compile(r"\b(?:characteri[sz]ed|refers? to|defined|involves?|is a|are a|often|"
                       r"typically|usually|commonly|appears? as|seen as|such as|question|"
                       r"problem|task|indicates? (?:excess|fluid|air)|may|might|could)\b",
                       re.I)
# A plan in the imperative or the first person ("Search for rib fractures by ...", "I begin by
# examining the heart size ...", "This requires examining ... for any nodule") and a framing
# of the options ("One of the potential findings is ...") say what to look at, not what is seen.
_FRAMING = re.compile(r"^(?:(?:first|next|then|finally|now|initially|lastly),?\s+)?"
                      r"(?:search|identify|begin|start|look|check|evaluate|assess|examine|"
                      r"review|analy[sz]e|consider|inspect|focus|compare)\b|"
                      r"\b(?:I|we)\s+(?:begin|start|will|consider|need|first|then|next)\b|"
                      r"\brequires?\s+(?:\w+\s+)?examin|\bpotential findings?\b|"
                      r"\bprovided options\b", re.I)


def observing(sentence: str) -> bool:
    """A sentence that states a finding of this patient (not a plan or a definition)."""
    return bool(_FINDING.search(sentence)) and not _PLANNING.search(sentence) \
        and not _DEFINING.search(sentence) and not _FRAMING.search(sentence)


# What states a finding again in a radiologist's other words: "the heart size is normal" is
# "no cardiomegaly", sharp costophrenic angles no pleural effusion, "granuloma" a nodule,
# "cicatrix" a scar, "collapse" an atelectasis. A finding the dropped sentences name is lost
# only where none of its forms is left. Keys are `finding_key`s; "pneumothorax" and
# "pneumonia" stay apart.
RESTATED = {
    "pneumothorax": r"pneumothora", "effusion": r"effusion|costophrenic|pleural fluid",
    "consolidation": r"consolidat",
    "edema": r"o?edema", "atelectasis": r"atelecta|collaps", "collapse": r"atelecta|collaps",
    "cardiomegaly": r"cardiomegaly|(?:heart|cardiac)\s+(?:size|silhouette|enlargement)|"
                    r"enlarged\s+heart|heart\s+is\s+(?:\w+\s+)?enlarged",
    "enlarged cardiomediastinum": r"cardiomediastin|mediastin",
    "opacity": r"opacit|opacif", "infiltrate": r"infiltrat|opacit|opacif|consolidat",
    "pneumonia": r"pneumonia|infecti", "nodule": r"nodul|granulom", "mass": r"\bmass",
    "lesion": r"lesion|nodul|\bmass", "fracture": r"fractur", "congestion": r"congest",
    "emphysema": r"emphysem", "scarring": r"scar|cicatri|fibro", "fibrosis": r"fibro|scar|cicatri",
    "hyperinflation": r"hyperinfla|hyperexpan|hyperdist", "thickening": r"thicken",
}
# Lungs called clear deny every finding of the parenchyma: a denied consolidation, nodule or
# atelectasis is still denied where the kept chain says "the lungs are clear".
_PARENCHYMA = {"consolidation", "opacity", "infiltrate", "atelectasis", "collapse", "pneumonia",
               "nodule", "mass", "lesion", "edema"}
_LUNGS_CLEAR = re.compile(r"\b(?:lungs?|lung fields?)\s+(?:\w+\s+){0,2}clear\b|"
                          r"\bclear\s+lungs?\b", re.I)
_PLURAL = {"effusions": "effusion", "consolidations": "consolidation", "opacities": "opacity",
           "nodules": "nodule", "masses": "mass", "fractures": "fracture",
           "infiltrates": "infiltrate", "lesions": "lesion"}
_LETTER = re.compile(r"\b(?i:options?)\s+\(?([A-F])\b|\b([A-F])\)")


def finding_key(word: str) -> str:
    """One name per finding word: "Pleural effusions" -> "effusion"."""
    word = re.sub(r"\s+", " ", word.lower())
    word = word.removeprefix("pleural ")
    return _PLURAL.get(word, word)


def lost_findings(item: dict, gone: list[str], kept: str) -> set[str]:
    """Findings the `gone` sentences name that nothing in `kept` states again. What is kept
    includes the answer (the replayed prediction gives it with its option's words) and every
    option the kept text names by letter ("ruling out option A" says A's findings again)."""
    options = [str(o) for o in item.get("options") or []]
    chosen = answer_option(item) or ""
    said = [kept, str(item.get("answer") or ""), chosen]
    if chosen.strip().lower() in ("normal", "no finding"):
        said += options  # a normal answer denies every other option's finding
    for match in _LETTER.finditer(kept):
        index = ord((match.group(1) or match.group(2)).upper()) - ord("A")
        if index < len(options):
            said.append(options[index])
    text = " ".join(said).lower()
    lost = set()
    for sentence in gone:
        for match in _FINDING.finditer(sentence):
            key = finding_key(match.group())
            if re.search(RESTATED.get(key, re.escape(key)), text):
                continue
            if key in _PARENCHYMA and _NEGATION.search(sentence) and _LUNGS_CLEAR.search(text):
                continue
            lost.add(key)
    return lost


def dropped(item: dict, steps: list[str]) -> list[str] | None:
    parts = sentences(steps)
    body = [k for k, (_, s) in enumerate(parts[:-1]) if observing(s)]
    if len(body) < 2:
        return None
    gone = set(body[::2])
    # A finding named again anywhere in what is kept (a hedge, a recap, the conclusion, the
    # answer) is not lost: the real chains restate their findings, and a judge is right to
    # still count it recalled.
    kept = " ".join(s for k, (_, s) in enumerate(parts) if k not in gone)
    if not lost_findings(item, [parts[k][1] for k in sorted(gone)], kept):
        return None  # every finding it states is stated again elsewhere: nothing is lost
    return rebuild(steps, [p for k, p in enumerate(parts) if k not in gone])


def filler(item: dict, steps: list[str]) -> list[str] | None:
    return [*FILLER, *steps]


PERTURBATIONS: dict[str, tuple[Callable[[dict, list[str]], list[str] | None], str]] = {
    "side swap": (side_swap, "factuality"),
    "absent -> present": (flip_absent, "factuality"),
    "present -> absent": (flip_present, "factuality"),
    "inserted finding": (inserted, "factuality"),
    "severity change": (severity, "factuality"),
    "change over time": (change, "factuality"),
    "dropped steps": (dropped, "completeness"),
    "filler": (filler, "effectiveness"),
}


def as_prediction(item: dict, steps: list[str], tag: str) -> dict:
    answer = item["answer"]
    if (chosen := answer_option(item)) is not None:
        answer = f"{answer}) {chosen}"
    text = "<think>\n" + "\n\n".join(steps) + f"\n</think>\n<answer>{answer}</answer>"
    return {**item, "id": f"{item_key(item)}#{tag}", "model": "replay", "prediction": text}


def load(paths: list[Path], split: str) -> list[dict]:
    items: dict[str, dict] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                if not record.get("reasoning") or not record.get("report"):
                    continue
                if split != "all" and split_of(item_key(record)) != split:
                    continue
                items.setdefault(f"{path.name}:{item_key(record)}", record)
    return list(items.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[p for p in DEFAULTS
                                                                 if p.exists()])
    parser.add_argument("--split", choices=("all", "calib", "holdout"), default="all")
    parser.add_argument("--show", choices=sorted(PERTURBATIONS), default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N items only")
    args = parser.parse_args(argv)
    if not args.data:
        print("judge_sensitivity: no records file (pass --data)", file=sys.stderr)
        return 2
    items = load(args.data, args.split)[: args.limit]
    records, applied = [], {name: [] for name in PERTURBATIONS}
    for item in items:
        steps = [s for s in item["reasoning"] if s.strip()]
        records.append(as_prediction(item, steps, "replay"))
        for name, (perturb, _) in PERTURBATIONS.items():
            changed = perturb(item, steps)
            if changed is not None and changed != steps:
                records.append(as_prediction(item, changed, name))
                applied[name].append(item_key(item))
    judge = RulesJudge()
    scored = {}
    for start in range(0, len(records), 64):
        for row in score_items(records[start: start + 64], judge):
            scored[row["id"]] = row
    table = Table(title=f"judge sensitivity on {len(items)} reference chains "
                        f"({', '.join(p.name for p in args.data)}, split {args.split})")
    for column in ("perturbation", "target", "applied", "detected", "share"):
        table.add_column(column, justify="left" if column in ("perturbation", "target")
                         else "right")
    misses = []
    for name, (_, target) in PERTURBATIONS.items():
        hits = 0
        for key in applied[name]:
            base, changed = scored[f"{key}#replay"], scored[f"{key}#{name}"]
            if (changed[target] or 0.0) < (base[target] or 0.0) - 1e-9:
                hits += 1
            elif name == args.show:
                misses.append((base, changed))
        n = len(applied[name])
        table.add_row(name, target, str(n), str(hits), f"{hits / n:.3f}" if n else "-")
    Console(width=120).print(table)
    for base, changed in misses[:25]:
        print("=" * 100)
        print("REPORT:", base["report"][:600])
        before = set(_SENTENCE.split(base["prediction"]))
        after = set(_SENTENCE.split(changed["prediction"]))
        print("BEFORE:", " | ".join(sorted(before - after))[:1000])
        print("AFTER: ", " | ".join(sorted(after - before))[:1000])
        print("scores:", {c: (base[c], changed[c]) for c in ("completeness", "factuality",
                                                             "effectiveness")})
        print("pred findings after:", changed["pred_key_findings"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
