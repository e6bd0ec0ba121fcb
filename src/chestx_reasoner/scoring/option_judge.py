"""Judging reasoning for findings questions (`single`, `multi`, `multi_open`).

The options' findings, in their own words, are key findings the reference chain establishes
(the answer's present, the distractors' absent); the chain's other statements (vocabulary
findings, normal anatomy: "the heart size is normal") are key findings too. Predicted reasoning
is read option by option: a phrase's status comes from the observing sentences that name it,
else from the discussion of its option (`option_units.option_units`), and the steps of one
option's discussion are judged as one unit, since their verdict lives in the unit's last
sentence, not in the header that names the option.
"""

from __future__ import annotations

from chestx_reasoner.reports.vocabulary import lookup_concepts
from chestx_reasoner.scoring.key_findings import (
    Judgment,
    KeyFinding,
    agrees,
    effectiveness_of,
    recalls,
    step_verdict,
    supported_by_report,
    wrong_side,
)
from chestx_reasoner.scoring.laterality import side_errors
from chestx_reasoner.scoring.option_units import option_index, option_units, unit_status
from chestx_reasoner.scoring.qualifiers import qualifier_errors
from chestx_reasoner.scoring.statements import phrase_status, sentence_claims

# Measured on the dev files (benchmarks/judge_agreement.py): 0.25 keeps the item agreement of
# option-only recall while a chain that drops its other findings still loses completeness.
CHAIN_WEIGHT = 0.25


def report_supports(phrase: str, status: str, truth: str, report: list[KeyFinding]) -> bool:
    """Whether the report supports what a reasoning says of an option's finding: factuality
    is judged against the report, not the item's label (a distractor can be a finding the
    report states, when the item was built from labels of another section). A phrase outside
    the vocabulary falls back to the option's truth."""
    concept = next(iter(lookup_concepts(phrase)), None)
    if concept is None or concept.kind == "anatomy":
        return agrees(status, truth)
    claim = KeyFinding(concept.finding_name, concept.observation, status, None, phrase)
    return supported_by_report(claim, report)[0]


def _same_sentence(a: str, b: str) -> bool:
    """The labeler and `statements.sentences` cut sentences alike but not always to the
    character: either holding the other is the same sentence."""
    a, b = a.strip(), b.strip()
    return bool(a and b) and (a in b or b in a)


def phrase_statuses(text: str, phrases: list[tuple[str, str]],
                    options: tuple[str, ...]) -> dict[str, str | None]:
    """Each option phrase's status: where the reasoning names it in an observation, else
    what the discussion of its option concludes."""
    units = option_units(text, options) if options else {}
    where = option_of_phrase(options)
    out = {}
    for phrase, _ in phrases:
        status = phrase_status(phrase, text)
        if status is None and where.get(phrase) in units:
            status = unit_status(units[where[phrase]])
        out[phrase] = status
    return out


def option_of_phrase(options: tuple[str, ...]) -> dict[str, int]:
    """Option index of each finding phrase ("a, b" options hold two phrases)."""
    return {p.strip().lower(): i for i, o in enumerate(options) for p in o.split(",")}


def group_steps(steps: list[str], options: tuple[str, ...]) -> list[tuple[int | None, list[int]]]:
    """Steps grouped into units: a step that names one option opens its unit, and the steps
    after it that name no option (the discussion, "none are seen") join it."""
    groups: list[tuple[int | None, list[int]]] = []
    for i, step in enumerate(steps):
        index, conclusion = option_index(step, options)
        if index is None and not conclusion and groups and groups[-1][0] is not None:
            groups[-1][1].append(i)
        else:
            groups.append((index, [i]))
    return groups


def judge_options(steps: list[str], step_findings: list[list[KeyFinding]],
                  ref: list[KeyFinding], report: list[KeyFinding], has_reference: bool,
                  phrases: list[tuple[str, str]], options: tuple[str, ...],
                  named: set[str], report_text: str = "", temporal: bool = False) -> Judgment:
    """Completeness, factuality and effectiveness of one findings-question prediction.

    `ref`: key findings of the reference chain; `named`: finding names the options stand for
    (their vocabulary concepts), judged through the phrases rather than twice."""
    text = "\n".join(steps)
    said = phrase_statuses(text, phrases, options)
    extra: dict[tuple[str, str, str | None, str], KeyFinding] = {}
    for found in step_findings:
        for f in found:
            if f.finding not in named:
                extra.setdefault((f.finding, f.status, f.side, f.sentence), f)
    # The chain's own findings count beside the options' (what it establishes about this
    # patient: normal anatomy, devices, findings no option names), so dropping them costs.
    ref_extra = [r for r in ref if r.finding not in named]
    claims_of = {p: sentence_claims(p, text) for p, _ in phrases}
    completeness = None
    if has_reference:
        # A phrase is recalled where any of the chain's statements of it agrees with the
        # reference, not only the one it settles on: recall counts what the chain mentions,
        # so taking a sentence away can lose a finding but never gain one.
        options_recalled = sum(any(agrees(st, truth) for st in (
            *(status for _, status in claims_of[p]), said[p]) if st is not None)
            for p, truth in phrases) / len(phrases)
        chain_recalled = sum(any(recalls(p, r) for p in extra.values()) for r in ref_extra)
        # The options' findings are what the question asks; the chain's others (normal
        # anatomy, devices, findings no option names) weigh CHAIN_WEIGHT of the whole.
        completeness = options_recalled * (1 - CHAIN_WEIGHT) + CHAIN_WEIGHT * chain_recalled \
            / len(ref_extra) if ref_extra else options_recalled
    # Each sentence's claim counts, not only the one the discussion settles on, in the
    # option's words or in its own: a chain that names an option's finding by its head noun
    # ("signs of effusion are evident" for "bilateral posterior pleural effusion") or by
    # other words ("scarring in the left midlung" for "mild cicatrix in lung lingula") claims
    # it through the labeler's findings of its concept, one per sentence and status, in every
    # sentence the phrase's words did not already claim.
    verdicts_ok = []
    claimed: dict[str, list[str]] = {}
    concept_of: dict[str, set[str]] = {}
    for p, truth in phrases:
        claims = claims_of[p]
        verdicts_ok += [report_supports(p, status, truth, report) for _, status in claims]
        names = {n for c in lookup_concepts(p)[:1] for n in (c.name, c.finding_name)}
        concept_of[p] = names
        for name in names:
            claimed.setdefault(name, []).extend(sentence for sentence, _ in claims)
    counted: set[tuple[str, str, str]] = set()
    for p, truth in phrases:
        names = concept_of[p]
        labeled = {(f.sentence, f.status, f.finding): f for found in step_findings
                   for f in found if f.finding in names}
        unclaimed = [f for key, f in labeled.items() if key not in counted and not any(
            _same_sentence(f.sentence, s) for n in names for s in claimed.get(n, ()))]
        counted.update(labeled)
        verdicts_ok += [supported_by_report(f, report)[0] for f in unclaimed]
        if not labeled and not claims_of[p] and said[p] is not None:
            verdicts_ok.append(report_supports(p, said[p], truth, report))
    verdicts_ok += [supported_by_report(f, report)[0] for f in extra.values()]
    # A finding put on the side the report does not give it: the option phrase's status may
    # be right, the claim is still wrong. An option's own finding ("a pneumothorax at the
    # left apex") is judged through its phrase, which has no side, so its side is checked
    # here, once per sentence.
    misplaced = list(dict.fromkeys(f.sentence for found in step_findings for f in found
                                   if f.finding in named and wrong_side(f, report)))
    verdicts_ok += [False] * len(misplaced)
    verdicts_ok += [False] * len(side_errors(steps, report_text, [
        f.sentence for f in extra.values() if wrong_side(f, report)] + misplaced))
    # A grade (or, over time, a change) the report gives the same finding otherwise.
    verdicts_ok += [False] * len(qualifier_errors(steps, report_text, temporal))
    factuality = sum(verdicts_ok) / len(verdicts_ok) if verdicts_ok else 0.0
    truth_of = dict(phrases)
    where = option_of_phrase(options)
    step_verdicts = []
    for index, members in group_steps(steps, options):
        unit = [steps[i] for i in members]
        unit_text = " ".join(unit)
        stated = [(p, phrase_status(p, unit_text)) for p, _ in phrases]
        if index is not None:
            settled = unit_status(unit)
            stated = [(p, st if st is not None or where.get(p) != index else settled)
                      for p, st in stated]
        stated = [(p, st) for p, st in stated if st is not None]
        wrong = [p for p, st in stated if not agrees(st, truth_of[p])]
        if wrong:
            verdict = {"text": unit_text, "verdict": "contradicted",
                       "evidence": f"{wrong[0]}: {truth_of[wrong[0]]}"}
        elif stated:
            verdict = {"text": unit_text, "verdict": "supported",
                       "evidence": f"{stated[0][0]}: {truth_of[stated[0][0]]}"}
        else:
            found = [f for i in members for f in step_findings[i]]
            verdict = step_verdict(unit_text, found, ref, report, has_reference)
        step_verdicts.append(verdict)
    effectiveness = None
    if has_reference:
        effectiveness = effectiveness_of(step_verdicts)
    pred = [{"finding": p, "status": st, "location": None} for p, st in said.items() if st]
    pred += [f.to_dict() for f in extra.values()]
    ref_out = [{"finding": p, "status": truth, "location": None} for p, truth in phrases]
    ref_out += [r.to_dict() for r in ref_extra]
    return Judgment(completeness, factuality, effectiveness, pred, ref_out, step_verdicts)
