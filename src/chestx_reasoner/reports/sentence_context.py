"""medspacy's ConText, applied one sentence at a time.

ConText's graph compares every modifier with every other modifier and every target of the
whole document, though a modifier's scope never leaves its sentence (no rule of ours sets a
global window: `max_scope` only narrows a rule within its sentence). Model outputs and mined
chains run to dozens of sentences, so those document-wide pairs were most of ConText's time in
`chestx score`. Here each sentence gets its own `ConTextGraph` (medspacy's class: the same
scope-limiting and modifying rules), and the edges are collected in medspacy's order
(modifiers in match order, each with its targets), so every target gets the same modifiers in
the same order as under `medspacy_context`, with one exception on purpose: a negation that opens
a finding's own target ("absence of lung markings", a pneumothorax sign) is part of that target
and modifies nothing.

Each modifier's scope is computed from the sentence bounds indexed once per document, as
`ConTextModifier` would from `doc[start].sent` (which scans the tokens for every modifier).
Targets are read from the span group the target matcher writes; the `is_negated`-style span
attributes are not set (nothing here reads them), only `span._.modifiers`.
"""

from __future__ import annotations

import bisect

from medspacy.context import ConText, ConTextGraph, ConTextModifier
from spacy.language import Language
from spacy.tokens import Doc

from chestx_reasoner.reports.context_rules import NEGATED
from chestx_reasoner.reports.sentences import sentence_starts
from chestx_reasoner.reports.vocabulary import concepts

# "No acute abnormality" is a finding of its own whose "no" still denies what it lists.
NO_FINDING_KEY = next(c.key for c in concepts() if c.observation == "No Finding")


class SentenceContext:
    """A pipeline component holding medspacy's `ConText` (its rules and matcher)."""

    def __init__(self, nlp: Language, name: str, span_group_name: str) -> None:
        self.context = ConText(nlp, name=name, rules=None, span_attrs=None,
                               input_span_type="group", span_group_name=span_group_name)
        self.span_group_name = span_group_name
        self._vocab = nlp.vocab

    def add(self, rules) -> None:
        self.context.add(rules)

    def __call__(self, doc: Doc) -> Doc:
        targets = list(doc.spans[self.span_group_name])
        matcher = self.context._ConText__matcher  # medspacy keeps its matcher private
        # A finding named by a negation of its own ("absence of lung markings" beyond the
        # pleural line is a pneumothorax) owns that negation: it denies nothing else.
        # medspacy's prune_on_target_overlap would drop every overlapping modifier, the change
        # of "increased heart size" too.
        owned = {t.start: t.end for t in targets if t.label_ != NO_FINDING_KEY}
        starts = sentence_starts(doc)
        ends = [*starts[1:], len(doc)]
        by_sentence: dict[int, tuple[list, list]] = {}
        modifiers = []
        for match_id, start, end in matcher(doc):
            rule = matcher.rule_map[self._vocab[match_id].text]
            if rule.category == NEGATED and end <= owned.get(start, -1):
                continue
            number = bisect.bisect_right(starts, start) - 1
            scope = _scope(rule, start, end, starts[number], ends[number])
            modifier = ConTextModifier(rule, start, end, doc, *scope)
            modifiers.append(modifier)
            by_sentence.setdefault(number, ([], []))[1].append(modifier)
        for target in targets:
            number = bisect.bisect_right(starts, target.start) - 1
            if number in by_sentence:
                by_sentence[number][0].append(target)
        for sentence_targets, sentence_modifiers in by_sentence.values():
            graph = ConTextGraph(targets=sentence_targets, modifiers=sentence_modifiers,
                                 prune_on_modifier_overlap=self.context.prune_on_target_overlap)
            graph.update_scopes()
            graph.apply_modifiers()
        for modifier in modifiers:
            for target in modifier._targets:
                target._.modifiers += (modifier,)
        return doc


def _scope(rule, start: int, end: int, sent_start: int, sent_end: int) -> tuple[int, int]:
    """`ConTextModifier`'s scope for a match in the sentence [sent_start, sent_end): forward
    to the sentence's end, backward to its start, else both, each cut to the rule's
    `max_scope`."""
    direction = rule.direction.lower()
    limit = rule.max_scope
    if direction == "forward":
        scope_start, scope_end = end, sent_end
        if limit is not None and scope_end - scope_start > limit:
            scope_end = end + limit
    elif direction == "backward":
        scope_start, scope_end = sent_start, start
        if limit is not None and scope_end - scope_start > limit:
            scope_start = start - limit
    else:
        scope_start, scope_end = sent_start, sent_end
        if limit is not None and start - scope_start > limit:
            scope_start = start - limit
        if limit is not None and scope_end - end > limit:
            scope_end = end + limit
    return scope_start, scope_end


@Language.factory("chestx_sentence_context")  # span_group_name: the labeler's TARGETS
def make_sentence_context(nlp: Language, name: str, span_group_name: str) -> SentenceContext:
    return SentenceContext(nlp, name, span_group_name)
