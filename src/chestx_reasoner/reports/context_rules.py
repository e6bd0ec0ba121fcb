"""ConText rules for chest X-ray reports (medspacy's ConText runs them).

medspacy's default rules are written for clinical notes; radiology needs its own: normality
statements ("heart size is normal"), resolution ("effusion has resolved"), hedges that contain a
negation word ("cannot be excluded", "no new"), and change words. Precedence (applied by the
labeler, following the CheXpert labeler): OVERRIDE_UNCERTAIN > NEGATED_EXISTENCE >
POSSIBLE_EXISTENCE / HYPOTHETICAL > the concept's default.
"""

from __future__ import annotations

from medspacy.context import ConTextRule

NEGATED = "NEGATED_EXISTENCE"
UNCERTAIN = "POSSIBLE_EXISTENCE"
OVERRIDE_UNCERTAIN = "OVERRIDE_UNCERTAIN"  # hedges built on a negation word: win over negation
# "No new consolidation": uncertain for CheXpert's labels (an old one may persist), with its own
# category so that a reader of this film alone (the judge) can take it as "none now".
NO_NEW = "NO_NEW_EXISTENCE"
HYPOTHETICAL = "HYPOTHETICAL"
CHANGE_PREFIX = "CHANGE_"

_FWD, _BWD, _BI = "FORWARD", "BACKWARD", "BIDIRECTIONAL"

NEGATION_FORWARD = (
    "no", "not", "without", "no evidence of", "no evidence for", "no signs of", "no sign of",
    "negative for", "free of", "clear of", "absence of", "no definite", "no convincing",
    "no radiographic evidence of", "no findings of", "no findings to suggest", "nor", "neither",
    "without evidence of", "rather than", "no longer", "no acute", "no other",
    "no significant", "no large", "no visible", "no visualized", "no appreciable",
    "no suspicious", "no residual", "absent", "no discrete", "no obvious", "no frank",
    "no overt", "not seen", "not identified", "no gross",
    "unlikely to represent", "unlikely to reflect", "unlikely to be",
)
NEGATION_BACKWARD = (
    "is absent", "are absent", "not seen", "is not seen", "are not seen", "not identified",
    "not present", "not demonstrated", "not visualized", "not evident", "is not identified",
    "are not identified", "ruled out", "not detected", "is gone", "are gone",
    # "no definite X" is negative in CheXpert's reading, and so is its backward form.
    "not definitely appreciated", "not definitely seen", "not definitely identified",
    "not definitely visualized", "not definitely demonstrated",
    # A finding the radiologist judges improbable is called against ("pneumonia is unlikely").
    "is unlikely", "are unlikely", "considered unlikely", "thought unlikely", "felt unlikely",
    "seems unlikely", "appears unlikely", "is very unlikely",
)
# Normality words negate only structures ("heart size is normal"), never a nearby finding.
NORMALITY_BIDIRECTIONAL = (
    "normal", "within normal limits", "unremarkable", "not enlarged", "normal in size",
    "normal size", "normal sized", "normal-sized", "nonenlarged", "non-enlarged", "clear",
    "not widened", "stable and normal", "within normal range", "grossly normal",
    "are normal", "is normal", "appear normal", "appears normal", "preserved", "maintained",
    "sharp", "intact", "not dilated", "normal caliber", "normal in caliber",
)
OVERRIDE_UNCERTAIN_FORWARD = (
    "cannot exclude", "can not exclude", "can't exclude", "cannot rule out", "can not rule out",
    "cannot be excluded", "difficult to exclude", "cannot entirely exclude",
    "unable to exclude", "not excluded", "no evidence to rule out",
)
OVERRIDE_UNCERTAIN_BACKWARD = (
    "cannot be excluded", "can not be excluded", "can't be excluded", "not excluded",
    "not be excluded", "is not excluded", "are not excluded", "not entirely excluded",
    "cannot be entirely excluded", "cannot be ruled out", "can not be ruled out",
    "not ruled out", "not well seen", "not well visualized", "not well evaluated",
    "poorly evaluated", "incompletely evaluated", "not well assessed", "not clearly seen",
    "not appreciated", "is not appreciated", "are not appreciated", "could not be excluded",
    "could not be assessed", "not assessed",
)
UNCERTAIN_FORWARD = (
    "possible", "possibly", "probable", "questionable", "question of", "suspected",
    "suspect", "suspicious for", "suspicion for", "suspicion of", "concerning for",
    "concern for", "worrisome for", "may represent", "may reflect", "may be", "might be",
    "could be", "could represent", "could reflect", "may indicate", "may include",
    "may be due to", "may relate to", "might represent", "might reflect", "differential includes",
    "differential diagnosis includes", "differential considerations include", "equivocal",
    "indeterminate", "suggestion of",
    "presumed", "presumably", "cannot be distinguished from", "or possibly", "obscuring",
    "may have", "may also", "could also", "can be", "would be", "correlate clinically for",
    "questionably", "likely versus", "maybe",
    # A finding the radiologist asks the clinician to consider is raised, not found ("the
    # possibility of supervening pneumonia must be considered", "consider aspiration").
    "possibility of", "consider", "consideration of",
)
UNCERTAIN_BACKWARD = (
    "is possible", "are possible", "not excluded", "is suspected", "are suspected",
    "is questioned", "obscured", "is obscured", "are obscured",
    "may be present", "could be present", "might be present", "is equivocal",
    "in question", "cannot be distinguished", "is not well seen",
    "if any", "if present",  # "small effusion, if any": hedged, not asserted
    "be considered", "be seriously considered", "is a consideration", "is a possibility",
    "are a possibility", "remains a consideration", "remains a possibility", "less likely",
    "is less likely",
)
# "Top normal" and "at the upper limits of normal" are normal: a radiologist who writes them
# is saying the heart is not enlarged (so they fall to NORMALITY's "normal"); "borderline"
# is the hedge.
UNCERTAIN_BIDIRECTIONAL = ("borderline", "borderline enlarged", "mildly prominent")
HYPOTHETICAL_FORWARD = (
    "rule out", "r/o", "evaluate for", "evaluation for", "assess for", "to exclude",
    "if", "eval for", "to evaluate for", "to rule out", "assessment for", "ro",
    "clinical correlation for", "follow-up for",
    # A plan says where to look and for what; it sees nothing ("look for a pleural edge").
    "look for", "looking for", "check for", "checking for", "search for", "assessing for",
    "evaluating for",
)
# Words that contain a negation or hedge cue but set nothing ("no increase in the effusion").
# Change phrases such as "no change" are CHANGES["unchanged"] cues, which absorb their "no" too.
PSEUDO = (
    "no increase", "no decrease", "not only", "no further", "gram negative", "no worsening",
    "not increased", "not necessarily", "no other change",
    # "X or other complications" lists X with what else there may be: no differential.
    "or other", "or any other",
)
TERMINATE = (
    "but", "however", "although", "though", "aside from", "apart from", "except",
    "except for", "with the exception of", "which", "yet", "other than", ";", "there is",
    "there are", "there has been", "there have been", "there remains", "there remain",
    "otherwise", "whereas", "while", "though", "concerning", "also",
    # A colon opens a new statement: "without signs of pneumonia, ... option B: effusion,
    # opacity" does not deny the option's list.
    ":",
    # A device's placement after a denied complication is a statement of its own ("no
    # pneumothorax following placement of the chest tube", "no pneumothorax, confirming the
    # catheter's position"); without the comma "no pleural line indicating a pneumothorax"
    # still denies what it would indicate.
    "following", ", indicating", ", confirming",
    # So does a reasoning clause that draws its own conclusion: "no effusion or edema,
    # suggesting emphysema" does not deny the emphysema it argues for.
    ", suggesting", ", emphasizing", ", supporting", ", favoring", ", favouring",
)
CHANGES: dict[str, tuple[str, ...]] = {
    "new": ("new", "newly", "new since", "developing", "development of", "interval development of",
            "interval appearance of", "appearance of", "newly developed"),
    "increased": ("increased", "increasing", "increase in", "interval increase", "worsened",
                  "worsening", "worse", "enlarging", "larger", "progression", "progressed",
                  "progressive", "more prominent", "slightly larger", "mildly increased",
                  "enlarged since", "grown"),
    "decreased": ("decreased", "decreasing", "decrease in", "interval decrease", "improved",
                  "improving", "improvement", "improvement in", "smaller", "less prominent",
                  "resolving", "regression", "diminished", "diminishing", "reduced",
                  "partially resolved",
                  "nearly resolved", "near complete resolution", "partial resolution of",
                  "decreased in size", "slightly smaller"),
    "unchanged": ("unchanged", "stable", "stably", "persistent", "persistently", "persists",
                  "persist", "again seen", "again noted", "again demonstrated", "similar",
                  "similar to prior", "no change", "no significant change", "no interval change",
                  "not changed", "without change", "not significantly changed", "grossly stable",
                  "without interval change", "no significant interval change",
                  "without significant change", "no substantial change", "no appreciable change",
                  "not significantly different", "no definite change", "without substantial change",
                  "not substantially changed", "no relevant change", "no gross change",
                  "not appreciably changed", "no evidence of change", "no marked change",
                  "not markedly changed",
                  "essentially unchanged", "redemonstrated", "re-demonstrated", "remains", "remain",
                  "chronic", "unchanged in appearance", "previously seen", "known",
                  # A finding that has not cleared persists: the negation is of the change.
                  "not cleared", "has not cleared", "have not cleared", "not resolved",
                  "has not resolved", "have not resolved", "not yet resolved",
                  "not completely resolved", "not fully resolved", "incompletely resolved",
                  "not entirely resolved", "has not changed", "have not changed"),
    # A resolved or removed finding is absent now (the labeler sets status "absent").
    "resolved": ("resolved", "has resolved", "have resolved", "resolution of",
                 "interval resolution",
                 "interval resolution of", "no longer seen", "no longer present",
                 "no longer visualized", "no longer identified", "has cleared", "have cleared",
                 "no longer visible", "no longer appreciated", "no longer evident",
                 "no longer apparent", "no longer demonstrated",
                 "cleared", "removed", "has been removed", "have been removed", "were removed",
                 "was removed", "removal of", "interval removal of"),
}
# When several change words reach one mention, the most decisive one is kept.
CHANGE_PRIORITY = ("resolved", "new", "increased", "decreased", "unchanged")


def build_context_rules(anatomy_keys: set[str], finding_keys: set[str]) -> list[ConTextRule]:
    """All rules; normality words are limited to structures so they never negate a finding.

    A phrase listed both forward and backward in one category becomes one bidirectional rule;
    a phrase listed under two categories keeps the first (the lists are added by precedence).
    ConText would otherwise keep one of two rules with the same words unpredictably.
    """
    specs: dict[str, tuple[str, str, dict]] = {}

    def add(phrases, category, direction, **kwargs):
        for phrase in phrases:
            if phrase not in specs:
                specs[phrase] = (category, direction, kwargs)
            elif specs[phrase][0] == category and specs[phrase][1] != direction:
                specs[phrase] = (category, _BI, {**specs[phrase][2], **kwargs})

    add(OVERRIDE_UNCERTAIN_FORWARD, OVERRIDE_UNCERTAIN, _FWD)
    add(("no new",), NO_NEW, _FWD)
    add(OVERRIDE_UNCERTAIN_BACKWARD, OVERRIDE_UNCERTAIN, _BWD, max_scope=10)
    add(PSEUDO, "PSEUDO_NEGATION", "PSEUDO")
    for change, phrases in CHANGES.items():
        # "removal of", "development of": the change is of what follows ("a pneumothorax
        # after removal of the chest tube" has not been removed).
        add([p for p in phrases if p.endswith(" of")], CHANGE_PREFIX + change.upper(), _FWD,
            max_scope=8)
        add([p for p in phrases if not p.endswith(" of")], CHANGE_PREFIX + change.upper(), _BI,
            max_scope=8)
    # "more compatible with atelectasis than pneumonia": the alternative after "than" is the
    # one the radiologist argues against; a short scope keeps "larger than on the prior" inert.
    add(("than",), NEGATED, _FWD, max_scope=3, allowed_types=finding_keys)
    add(NEGATION_FORWARD, NEGATED, _FWD)
    add(NEGATION_BACKWARD, NEGATED, _BWD, max_scope=8)
    add(NORMALITY_BIDIRECTIONAL, NEGATED, _BI, allowed_types=anatomy_keys, max_scope=12)
    add(UNCERTAIN_FORWARD, UNCERTAIN, _FWD, max_scope=12)
    add(UNCERTAIN_BACKWARD, UNCERTAIN, _BWD, max_scope=10)
    add(UNCERTAIN_BIDIRECTIONAL, UNCERTAIN, _BI, max_scope=10)
    # max_targets=2: only the two alternatives, not the finding they are offered to explain.
    add(("or", "and/or", "versus", "vs", "vs."), UNCERTAIN, _BI, max_scope=4, max_targets=2,
        allowed_types=finding_keys)
    add(HYPOTHETICAL_FORWARD, HYPOTHETICAL, _FWD, max_scope=10)
    # max_scope=1: medspacy 1.3.1 only lets a terminator cut a modifier whose scope overlaps the
    # terminator's own scope by its edges (`util.tuple_overlaps` misses containment), so a
    # sentence-wide terminator scope never cut "... atelectasis but infection is not excluded".
    add(TERMINATE, "TERMINATE", "TERMINATE", max_scope=1)
    return [ConTextRule(phrase, category, direction=direction, **kwargs)
            for phrase, (category, direction, kwargs) in specs.items()]
