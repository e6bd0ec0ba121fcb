"""Findings outside the 13 CheXpert columns that an answer or an option names.

Reports are full of them ("degenerative changes of the spine", "calcified granuloma",
"hyperexpanded lungs") and open questions ask for them, so a miner that knows only the columns
refuses every such item, or ends with a summary that leaves them out and no longer matches
the answer. The labeler reads them by their vocabulary concept; a chain states each one in the
report's own sentence, hedge included, and its summary names it as the answer does. A name the
vocabulary does not know, or one the report does not state, is a refusal: the chain could only
copy it from the answer. Options put findings on a side ("granuloma in lower lobe of left
lung"): the report's mention counts only where its side fits, which is how two options naming
one concept on two sides are told apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from chestx_reasoner.bench.sample import FINDING_NAMES, answer_option
from chestx_reasoner.mining.columns import NO_FINDING_OPTION, option_columns
from chestx_reasoner.mining.evidence import Evidence, clean_sentence, usable
from chestx_reasoner.mining.wording import is_plural, join_words
from chestx_reasoner.reports.location import find_location
from chestx_reasoner.reports.records import Finding, LabeledReport
from chestx_reasoner.reports.vocabulary import concepts_by_name
from chestx_reasoner.scoring.parse import parse_findings
from chestx_reasoner.scoring.phrases import head_word

_POSITIVE = ("present", "uncertain")


@dataclass(frozen=True, slots=True)
class OtherFinding:
    """One answer finding outside the columns, as the report states it."""

    name: str  # the vocabulary's name, as the summary writes it
    status: str  # present | uncertain
    sentence: str  # the report's sentence, cleaned to stand alone in a chain


@dataclass(frozen=True, slots=True)
class NamedFinding:
    """A finding an answer or option names outside the columns, where it puts it."""

    name: str  # the vocabulary's name, else the option's own words
    side: str | None = None  # left | right | bilateral, as the option says
    phrase: str = ""  # the option's words for it

    @property
    def known(self) -> bool:
        return self.name in concepts_by_name()


def answer_names(answer: str) -> list[str]:
    """The findings an open answer lists, by their vocabulary names ("mild right middle lobe
    pulmonary atelectasis, degenerative changes in spine" -> atelectasis, spinal degeneration).

    >>> answer_names("hyperdistention of lungs, granulomatous disease")
    ['emphysema', 'granuloma']
    """
    return parse_findings(answer)


@lru_cache(maxsize=8192)
def option_findings(option: str) -> tuple[NamedFinding, ...]:
    """The findings outside the columns that one option (or open answer) names, part by
    part, each with the side its part gives it (cached: benchmarks repeat their options)."""
    out = []
    for part in (p.strip() for p in option.split(",")):
        if not part or NO_FINDING_OPTION.match(part):
            continue  # "no finding" is the absence of the others, not a finding to find
        where = find_location(part)
        names = answer_names(part) or ([part] if not option_columns(part) else [])
        out += [NamedFinding(name, where.side if where else None, part)
                for name in names if not option_columns(name)]
    return tuple(dict.fromkeys(out))


def _side_fits(finding: Finding, side: str | None) -> bool:
    found = finding.location.side if finding.location else None
    return side is None or found is None or found == side or "bilateral" in (found, side)


def _mention(named: NamedFinding, labeled: LabeledReport) -> Finding | None:
    """The report's positive mention of a concept on the named side, one with a quotable
    sentence first."""
    found = [f for f in labeled.findings if named.name in (f.concept, f.name)
             and f.status in _POSITIVE and _side_fits(f, named.side)]
    return min(found, key=lambda f: (not usable(clean_sentence(f.evidence.sentence)),
                                     f.status != "present"), default=None)


def state_others(names: Sequence[NamedFinding], labeled: LabeledReport
                 ) -> tuple[list[OtherFinding], str | None]:
    """(findings, None) for the names outside the columns, each as the report states it, or
    ([], why) when one is unknown to the vocabulary, unstated, or has no quotable sentence."""
    out = []
    for named in names:
        if not named.known:
            return [], f"the answer names {named.name!r}, which the vocabulary does not know"
        mention = _mention(named, labeled)
        if mention is None:
            where = f" on the {named.side}" if named.side else ""
            return [], f"the answer names {named.name}{where}, absent in the report"
        sentence = clean_sentence(mention.evidence.sentence)
        if not usable(sentence):
            return [], f"the report's sentence for {named.name} cannot stand in a chain"
        out.append(OtherFinding(named.name, mention.status, sentence))
    return out, None


def distractor_status(named: NamedFinding, labeled: LabeledReport, report: str
                      ) -> tuple[OtherFinding | None, str | None]:
    """How the report states a distractor's finding: (its statement, None) where stated on
    the option's side, (None, None) where it is not (the chain may call it absent), or
    (None, why) where that cannot be told: a name the vocabulary does not know whose head
    word the report uses ("deformity of posterior ribs" beside "rib deformity")."""
    if not named.known:
        head = head_word(named.phrase or named.name)
        if head is None or head in report.lower():
            return None, f"an option names {named.name!r}, which the vocabulary does not know"
        return None, None
    mention = _mention(named, labeled)
    if mention is None:
        return None, None
    sentence = clean_sentence(mention.evidence.sentence)
    if not usable(sentence):  # a reporting sentence or a run-on: the status in plain words
        words = named.phrase or named.name
        said = "possible" if mention.status == "uncertain" else "present"
        sentence = f"{words[0].upper()}{words[1:]} {'are' if is_plural(words) else 'is'} {said}."
    return OtherFinding(named.name, mention.status, sentence), None


@dataclass(slots=True)
class OptionOthers:
    """What the report says of the findings outside the columns that a `single` or `multi`
    item's options name."""

    answer: list[OtherFinding]  # the answer's, as the report states them
    status: list[dict[str, str | None]]  # per option: name -> report status, None: unstated
    stated: list[OtherFinding]  # distractors' findings the report states
    denied: list[NamedFinding]  # distractors' findings it does not


def option_statements(options: list[str], answer: int, labeled: LabeledReport, report: str
                      ) -> tuple[OptionOthers | None, str | None]:
    """Each option's findings outside the columns against the report, or (None, why) when
    the answer's are not all stated or a distractor's cannot be told (`distractor_status`)."""
    named = [option_findings(o) for o in options]
    stated_answer, why = state_others(named[answer], labeled)
    if why:
        return None, why
    out = OptionOthers(stated_answer, [], [], [])
    for index, names in enumerate(named):
        if index == answer:
            out.status.append({o.name: o.status for o in stated_answer})
            continue
        row: dict[str, str | None] = {}
        for finding in names:
            said, why = distractor_status(finding, labeled, report)
            if why:
                return None, why
            row[finding.name] = said.status if said else None
            if said:
                out.stated.append(said)
            else:
                out.denied.append(finding)
        out.status.append(row)
    return out, None


def other_steps(steps: list[str], optional: OptionOthers,
                also_denied: Sequence[str] = ()) -> list[str]:
    """The options' findings outside the columns, stated as the report states them (its
    sentence) or, where it does not, denied in the option's words."""
    shown = " ".join(steps)
    out = list(dict.fromkeys(o.sentence for o in [*optional.answer, *optional.stated]
                             if o.sentence not in shown))
    denied = list(dict.fromkeys([*(n.phrase for n in optional.denied), *also_denied]))
    if denied:
        out.append(f"There {'are' if is_plural(denied[0]) else 'is'} no "
                   f"{join_words(denied, 'or')}.")
    return out


def denied_in_own_words(item: dict, walk: list[str], evidence: dict[str, Evidence],
                        optional: OptionOthers) -> tuple[list[str], list[str]]:
    """(walk, distractor phrases) with a column the report leaves unmentioned, but whose kind
    a stated finding outside the columns is (a granuloma is a lung lesion), denied in the
    distractors' own words: "No lung lesion is seen" beside "calcified granulomas" would
    contradict the chain's own quote."""
    known = concepts_by_name()
    kinds = {known[o.name].observation for o in [*optional.answer, *optional.stated]
             if o.name in known}
    wanted = option_columns(answer_option(item) or "")
    shadowed = [c for c in walk if c in kinds and c not in wanted
                and not evidence[c].mentioned and evidence[c].status == "absent"]
    phrases = [p.strip() for o in item["options"] for p in o.split(",")
               if set(option_columns(p)) & set(shadowed)]
    return [c for c in walk if c not in shadowed], list(dict.fromkeys(phrases))


def open_summary(answer: str, evidence: dict[str, Evidence], others: list[OtherFinding]
                 ) -> list[str]:
    """The findings an open answer lists, as the summary writes them: a column's name, or the
    answer's own names where two of them share a column ("mass, nodule" is not one "lung
    lesion"), and the vocabulary's name for the others; a hedged finding stays hedged."""
    names = answer_names(answer)
    columns = {n: (option_columns(n) or [None])[0] for n in names}
    shared = {c for c in columns.values() if c and list(columns.values()).count(c) > 1}
    status = {o.name: o.status for o in others}
    out = []
    for name in names:
        column = columns[name]
        said = FINDING_NAMES[column] if column and column not in shared else name
        hedged = (evidence[column].status if column else status.get(name)) == "uncertain"
        out.append(said + (" (possible)" if hedged else ""))
    return sorted(dict.fromkeys(out))
