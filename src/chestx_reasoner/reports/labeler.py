"""The report labeler: every finding mention with its status, location, evidence and section.

Pipeline (medspacy on spaCy): medspacy's clinical tokenizer, punctuation sentence splitting
(or PyRuSH), a TargetMatcher built from the vocabulary, and ConText with our radiology rules
(`context_rules.py`), applied sentence by sentence. Sections are split first (`sections.py`)
so each finding knows where it was read and labels can prefer the impression, as the CheXpert
labeler does.

>>> report = label_report("FINDINGS: No pleural effusion. IMPRESSION: Mild cardiomegaly.")
>>> [(f.name, f.status, f.section) for f in report.findings]
[('pleural effusion', 'absent', 'findings'), ('cardiomegaly', 'present', 'impression')]
"""

from __future__ import annotations

import bisect
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from functools import lru_cache

from spacy.attrs import IDX, LENGTH, LOWER
from spacy.language import Language
from spacy.strings import hash_string
from spacy.tokens import Doc

from chestx_reasoner.reports import context_rules as cr
from chestx_reasoner.reports import sentence_context  # noqa: F401  (registers its component)
from chestx_reasoner.reports.aggregate import CHEXPERT_LABEL_SCOPES, chexpert_labels, select_scope
from chestx_reasoner.reports.location import find_location
from chestx_reasoner.reports.records import Evidence, Finding, LabeledReport, Location
from chestx_reasoner.reports.sections import (
    CLINICAL_SECTIONS,
    ReportError,
    Section,
    check_report,
    parse_sections,
)
from chestx_reasoner.reports.sentences import OffsetMap, sentence_starts, unwrap
from chestx_reasoner.reports.vocabulary import Concept, concepts, concepts_by_key, pluralize

log = logging.getLogger(__name__)

# Tokens that end the window in which a mention's location is read.
_WINDOW_STOPS = frozenset({",", ";", ":", ".", "and", "or", "but", "with", "without", "which",
                           "no", "while", "whereas", "than"})
_STOP_HASHES = frozenset(hash_string(w) for w in _WINDOW_STOPS)
_LEFT_STOP_HASHES = frozenset(hash_string(w) for w in _WINDOW_STOPS - {"and", "or"})
_LEFT_WINDOW, _RIGHT_WINDOW = 4, 7
_STATUS_CATEGORIES = frozenset({cr.NEGATED, cr.UNCERTAIN, cr.OVERRIDE_UNCERTAIN, cr.NO_NEW,
                                cr.HYPOTHETICAL})
# Hedges built on a negation word ("cannot be excluded", "no new"): they outrank the negation.
_NEGATION_HEDGES = frozenset({cr.OVERRIDE_UNCERTAIN, cr.NO_NEW})
_CHANGE_BY_CATEGORY = {cr.CHANGE_PREFIX + c.upper(): c for c in cr.CHANGES}
# "Stable cardiomediastinal silhouette" is -1 for CheXpert; an unchanged cardiac silhouette
# says nothing of the heart's size, so it stays a bare structure.
_STABLE_MEANS_UNCERTAIN = frozenset({"Enlarged Cardiomediastinum"})
_CHANGE_UNCHANGED = cr.CHANGE_PREFIX + "UNCHANGED"
# Findings with no side or zone: "heart size at the upper limits of normal" is not "upper".
_NO_LOCATION_OBSERVATIONS = frozenset({"Cardiomegaly", "Enlarged Cardiomediastinum", "No Finding"})
_ENLARGED = re.compile(r"\b(enlarged|enlargement|large|widened|widening|increased|prominent)\b",
                       re.IGNORECASE)


def resolve_status(categories: Iterable[str], default: str = "present") -> str:
    """Status from ConText categories, CheXpert's precedence: hedged-negation > negation > hedge.

    >>> resolve_status({"NEGATED_EXISTENCE"}), resolve_status({"POSSIBLE_EXISTENCE"})
    ('absent', 'uncertain')
    >>> resolve_status({"NEGATED_EXISTENCE", "OVERRIDE_UNCERTAIN"})
    'uncertain'
    """
    categories = set(categories)
    if categories & _NEGATION_HEDGES:
        return "uncertain"
    if cr.NEGATED in categories:
        return "absent"
    if categories & {cr.UNCERTAIN, cr.HYPOTHETICAL}:
        return "uncertain"
    return default


SENTENCE_SPLITTERS = ("rules", "pyrush")


TARGETS = "chestx_targets"


class _TargetsAsGroup:
    """medspacy's TargetMatcher, its matches kept as the span group `TARGETS` (which ConText
    reads), not as `doc.ents`. medspacy's "ents" mode adds them one at a time (`doc.ents +=
    (span,)`), rebuilding the entity array per match, and even one assignment of `doc.ents`
    makes a Token object per token of the document. The first match of overlapping ones wins,
    as there; spans stay in document order."""

    def __init__(self, nlp: Language, name: str) -> None:
        from medspacy.target_matcher import TargetMatcher

        self.matcher = TargetMatcher(nlp, name=name, result_type=None)

    def add(self, rules) -> None:
        self.matcher.add(rules)

    def __call__(self, doc: Doc) -> Doc:
        kept, taken = [], bytearray(len(doc))
        for span in self.matcher(doc):
            if not any(taken[span.start:span.end]):
                kept.append(span)
                taken[span.start:span.end] = b"\x01" * len(span)
        kept.sort(key=lambda span: span.start)
        doc.spans[TARGETS] = kept
        return doc


@Language.factory("chestx_target_matcher")
def _targets_as_group(nlp: Language, name: str) -> _TargetsAsGroup:
    return _TargetsAsGroup(nlp, name)


def build_pipeline(sentence_splitter: str = "rules") -> Language:
    """A medspacy pipeline with our target rules and ConText rules (no default rules).

    Sentences: "rules" is spaCy's punctuation Sentencizer's rule plus paragraph breaks
    (`_sentences`); "pyrush" is medspacy's PyRuSH. Both give the same sentences on typical
    reports, but PyRuSH took 5.0 s of 5.5 s labelling the 1,045 dev reports
    (benchmarks/labeler.py), so it is opt-in. ConText runs per sentence (`sentence_context`).
    """
    import medspacy
    from medspacy.ner import TargetRule

    if sentence_splitter not in SENTENCE_SPLITTERS:
        raise ValueError(
            f"unknown sentence splitter {sentence_splitter!r}; choose one of {SENTENCE_SPLITTERS}")
    if sentence_splitter == "pyrush":
        nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer", "medspacy_pyrush"])
    else:
        nlp = medspacy.load(medspacy_enable=["medspacy_tokenizer"])
        nlp.add_pipe("chestx_sentences")
    matcher = nlp.add_pipe("chestx_target_matcher")
    rules = []
    for concept in concepts():
        phrases = dict.fromkeys(p.lower() for p in (concept.name, *concept.phrases))
        for phrase in list(phrases):
            phrases.setdefault(pluralize(phrase))
        rules.extend(TargetRule(phrase, concept.key) for phrase in phrases)
    matcher.add(rules)
    context = nlp.add_pipe("chestx_sentence_context", config={"span_group_name": TARGETS})
    anatomy = {c.key for c in concepts() if c.kind == "anatomy"}
    findings = {c.key for c in concepts() if c.kind != "anatomy"}
    context.add(cr.build_context_rules(anatomy, findings))
    return nlp


@lru_cache(maxsize=2)
def _shared_pipeline(sentence_splitter: str) -> Language:
    return build_pipeline(sentence_splitter)


class ReportLabeler:
    """Labels reports; build once, reuse (building the pipeline takes about a second).

    Args:
        scope: which sections study labels are read from: "impression" (CheXpert's rule on
            MIMIC-CXR: impression, else findings) or "report" (all clinical sections, impression
            mentions winning per column). Findings are always read from every clinical section.
        sentence_splitter: "rules" (fast, default) or "pyrush" (medspacy's PyRuSH).
    """

    def __init__(self, scope: str = "impression", sentence_splitter: str = "rules") -> None:
        if scope not in CHEXPERT_LABEL_SCOPES:
            raise ValueError(f"unknown scope {scope!r}; choose one of {CHEXPERT_LABEL_SCOPES}")
        self.scope = scope
        self.nlp = _shared_pipeline(sentence_splitter)

    def label(self, report: str) -> LabeledReport:
        """Findings and labels of one report; raises ReportError for an unusable report."""
        result = next(self.label_many([report]))
        if isinstance(result, ReportError):
            raise result
        return result

    def label_many(
        self, reports: Iterable[object], batch_size: int = 64
    ) -> Iterator[LabeledReport | ReportError]:
        """Label reports in input order; an unusable report yields its ReportError instead."""
        batch: list[object] = []
        for report in reports:
            batch.append(report)
            if len(batch) >= batch_size:
                yield from self._label_batch(batch)
                batch = []
        if batch:
            yield from self._label_batch(batch)

    def _label_batch(self, reports: list[object]) -> Iterator[LabeledReport | ReportError]:
        parsed: list[list[Section] | ReportError] = []
        texts: list[str] = []
        offsets: list[OffsetMap] = []
        for report in reports:
            try:
                sections = parse_sections(check_report(report))
            except ReportError as error:
                parsed.append(error)
                continue
            clinical = [s for s in sections if s.name in CLINICAL_SECTIONS]
            parsed.append(sections)
            for section in clinical:
                text, where = unwrap(section.text)
                texts.append(text)
                offsets.append(where)
        with warnings.catch_warnings():
            # ConText keeps an empty token-pattern matcher when every rule is a phrase, and
            # spaCy warns about it (W036) on every document.
            warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
            docs = iter(list(zip(self.nlp.pipe(texts), texts, offsets, strict=True)))
        for report, sections in zip(reports, parsed, strict=True):
            if isinstance(sections, ReportError):
                yield sections
                continue
            findings: list[Finding] = []
            for section in sections:
                if section.name in CLINICAL_SECTIONS:
                    doc, text, where = next(docs)
                    findings.extend(_doc_findings(doc, text, where, section, str(report)))
            scoped = select_scope(findings, (s.name for s in sections), self.scope)
            yield LabeledReport(findings=findings, labels=chexpert_labels(scoped))


def label_report(report: str, scope: str = "impression") -> LabeledReport:
    """Label one report with a shared labeler: the convenient entry point for a single text."""
    return ReportLabeler(scope=scope).label(report)


class _DocIndex:
    """What every mention of a document looks up, built once per document: its sentences,
    the entity covering each token, the tokens' lower-case text and character offsets. spaCy's
    `ent.sent` scans the tokens on every access, and `span.text` makes a Token object per
    token."""

    __slots__ = ("ends", "ents", "idx", "lower", "owner", "sents", "starts", "text")

    def __init__(self, doc, text: str) -> None:
        self.ents = tuple(doc.spans[TARGETS])
        self.starts = sentence_starts(doc)
        ends = [*self.starts[1:], len(doc)]
        self.sents = [doc[a:b] for a, b in zip(self.starts, ends, strict=True)]
        self.owner = [-1] * len(doc)
        for i, ent in enumerate(self.ents):
            self.owner[ent.start:ent.end] = [i] * (ent.end - ent.start)
        self.lower = doc.to_array(LOWER).tolist()  # hashes: no Token object per token
        self.text = text  # `doc.text`, which would join the text of a Token per token
        offsets = doc.to_array([IDX, LENGTH]).tolist()
        self.idx = [start for start, _ in offsets]
        self.ends = [start + length for start, length in offsets]

    def text_of(self, start: int, end: int) -> str:
        """`doc[start:end].text`, sliced from the document's text."""
        return self.text[self.idx[start]:self.ends[end - 1]] if end > start else ""

    def sentence(self, ent):
        return self.sents[bisect.bisect_right(self.starts, ent.start) - 1]


def _doc_findings(doc, text: str, where: OffsetMap, section: Section,
                  report: str) -> list[Finding]:
    registry = concepts_by_key()
    index = _DocIndex(doc, text)
    findings = []
    for number, ent in enumerate(index.ents):
        concept = registry[ent.label_]
        categories = [m.category for m in ent._.modifiers]
        if concept.needs_cue and not any(c in _STATUS_CATEGORIES for c in categories):
            continue
        sentence = index.sentence(ent)
        bounds = _window_bounds(index, number, sentence)
        window = index.text_of(*bounds)
        if (concept.kind == "anatomy" and concept.chexpert_label == "Cardiomegaly"
                and not any(c in _STATUS_CATEGORIES for c in categories)
                and not _ENLARGED.search(window)):
            continue  # "unchanged cardiac silhouette" says nothing of the heart's size
        if (concept.kind == "anatomy" and concept.chexpert_label in _STABLE_MEANS_UNCERTAIN
                and not any(c in _STATUS_CATEGORIES for c in categories)
                and _CHANGE_UNCHANGED not in categories
                and not _ENLARGED.search(window)):
            continue  # "the mediastinum returns to the midline" says nothing of its width
        findings.append(_make_finding(index, ent, concept, categories, where, section, report,
                                      sentence, bounds))
    return findings


def _make_finding(index: _DocIndex, ent, concept: Concept, categories: list[str],
                  where: OffsetMap, section: Section, report: str, sentence,
                  bounds: tuple[int, int]) -> Finding:
    status = resolve_status(categories, concept.default_status)
    changes = {_CHANGE_BY_CATEGORY[c] for c in categories if c in _CHANGE_BY_CATEGORY}
    change = next((c for c in cr.CHANGE_PRIORITY if c in changes), None)
    if change == "resolved" and (status == "present" or (
            status == "uncertain" and _only_alternatives(index, ent))):
        # "Resolved atelectasis or pneumonia": whichever it was, it is gone.
        status = "absent"
    if (concept.kind == "anatomy" and change == "unchanged" and status == "present"
            and concept.chexpert_label in _STABLE_MEANS_UNCERTAIN
            and not _ENLARGED.search(index.text_of(*bounds))):
        status = "uncertain"  # "stable cardiomediastinal silhouette": CheXpert reads it as -1
    start = section.start + where[ent.start_char]
    end = section.start + where[ent.end_char - 1] + 1
    return Finding(
        name=concept.finding_name,
        observation=concept.observation,
        status=status,  # type: ignore[arg-type]
        mention=report[start:end],
        location=None if _has_no_location(concept) else _mention_location(index, ent, bounds),
        evidence=Evidence(sentence=index.text_of(sentence.start, sentence.end).strip(),
                          start=start, end=end),
        section=section.name,
        change=change,
        chexpert_label=concept.chexpert_label,
        cues=tuple(sorted({c for c in categories if not c.startswith(cr.CHANGE_PREFIX)})),
        concept=concept.name,
    )


_ALTERNATIVES = frozenset({"or", "and/or", "versus", "vs", "vs."})


def _only_alternatives(index: _DocIndex, ent) -> bool:
    """Whether the hedges on a mention are all "or"/"versus" between two findings (a
    differential), not a doubt about the finding itself ("possible", "may")."""
    hedges = [m for m in ent._.modifiers if m.category == cr.UNCERTAIN]
    return bool(hedges) and all(
        index.text_of(*m.modifier_span).lower() in _ALTERNATIVES for m in hedges)


def _has_no_location(concept: Concept) -> bool:
    return concept.kind == "anatomy" or concept.observation in _NO_LOCATION_OBSERVATIONS


def _mention_location(index: _DocIndex, ent, bounds: tuple[int, int]) -> Location | None:
    """Where the mention is: read from its window, except that a side written before the
    mention is its own ("a left apical pneumothorax after removal of the right chest tube":
    the side after it belongs to the next phrase)."""
    left, right = bounds
    whole = find_location(index.text_of(left, right))
    if whole is None or right == ent.end:
        return whole
    before = find_location(index.text_of(left, ent.end))
    if before is None or before.side is None or before.side == whole.side:
        return whole
    return before


def _window_bounds(index: _DocIndex, number: int, sent) -> tuple[int, int]:
    """The mention plus a few words each side (within its sentence `sent`), not crossing
    punctuation or another mention of that sentence."""
    ent = index.ents[number]

    def other_mention(i: int) -> bool:
        owner = index.owner[i]
        return owner not in (-1, number) and sent.start <= index.ents[owner].start < sent.end

    left = ent.start
    while left > max(sent.start, ent.start - _LEFT_WINDOW):
        # "right and small left effusions": "and" joins sides of one mention, so the left scan
        # crosses it; stopping at another mention keeps "effusion and left pneumothorax" apart.
        if index.lower[left - 1] in _LEFT_STOP_HASHES or other_mention(left - 1):
            break
        left -= 1
    right = ent.end
    while right < min(sent.end, ent.end + _RIGHT_WINDOW):
        if index.lower[right] in _STOP_HASHES or other_mention(right):
            break
        right += 1
    return left, right
