"""What a reasoning sentence asserts: an observation, a plan, or a textbook definition.

Model reasoning mixes three kinds of sentences that mention a finding:
- observations ("A small left effusion is seen", "The images do not show these features");
- plans ("First, we examine the lung bases for increased density", "Check for blunting");
- definitions and hypotheticals ("Atelectasis typically appears as increased opacity",
  "A pneumothorax would show as a visible pleural line").
Only observations say anything about this patient, so only they give a finding a status; a
grader who counted "atelectasis appears as increased opacity" as "atelectasis present" would
punish a model for explaining its method. How an option's discussion is read as one unit is
`option_units`. Pure functions, regular expressions only (no model), cached per text.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chestx_reasoner.scoring.phrases import content_words, fold_words, head_word

# Plans: an imperative or "we/I + examine/check…" with nothing seen yet.
_PLAN = re.compile(
    r"^\W*(?:(?:first(?:ly)?|next|then|finally|now|also|additionally|second(?:ly)?|third(?:ly)?"
    r"|lastly)\W+)?(?:(?:we|i|let's|let us)\s+(?:will\s+|should\s+|need\s+to\s+|must\s+|can\s+|"
    r"then\s+|also\s+|now\s+|first\s+)*)?(?:(?:carefully|closely)\s+)?(?:examine|examining|"
    r"assess|assessing|check|checking|scrutini[sz]e|scrutini[sz]ing|pay\s+attention|"
    r"explore|exploring|understand|understanding|recall|remember|"
    r"evaluate|evaluating|look|looking|inspect|inspecting|review|reviewing|"
    r"observe(?!\s+that\b)|consider|"  # "Observe that there is X" reports X
    r"determine|analy[sz]e|analy[sz]ing|verify|search|scan|focus|begin|start|"
    r"identify|compare|confirm\s+(?:whether|if|the\s+presence|the\s+absence|any)|ensure|"
    r"note\s+whether)\b", re.I)
# Openers that frame the task rather than observe: "To evaluate for X, examine …", "The
# question asks …", "A systematic survey covers the heart, lungs, …".
_FRAMING = re.compile(
    r"^\W*(?:to\s+(?:evaluate|assess|determine|check|look|rule\s+out|exclude|identify|answer|"
    r"decide|distinguish|differentiate)\b|(?:the|this)\s+(?:question|task)\s+(?:asks|is|"
    r"requires)\b|(?:a\s+|the\s+)?(?:systematic|whole|complete|full)\s+(?:\w+\s+)?"
    r"(?:survey|review|assessment|evaluation|search)\b|.*\b(?:is|are)\s+surveyed\b|"
    # A candidate named, not seen: "One of the potential findings is X", "The next option is X".
    r"(?:one\s+of\s+)?(?:the|a|an|another)\s+(?:potential|possible|candidate|proposed|"
    r"suggested)\s+(?:findings?|diagnos[ie]s|abnormalit(?:y|ies)|options?|answers?)\s+(?:is|are|"
    r"includes?|to\s+consider)\b|(?:one\s+of\s+the\s+options|the\s+(?:first|second|third|"
    r"fourth|next|last)\s+(?:option|choice))\s+(?:is|includes?)\b)", re.I)
_PLAN_ANYWHERE = re.compile(
    r"^(?:[^,.:]{0,80}[,:][\s*_]*){1,2}(?:(?:we|i)\s+(?:will|should|need to|must|can)\s+)?"
    r"(?:look|check|inspect|examine|review|scan|assess|evaluate|search|focus|note whether|confirm "
    r"(?:the presence|whether|if|any))\b|"
    r"\b(?:we|i)\s+(?:will|should|need to|must|can)\s+(?:\w+\s+)?(?:examine|assess|check|evaluate|"
    r"look|inspect|review|consider|determine|analy[sz]e)\b|\bto (?:determine|identify|evaluate|"
    r"assess|analy[sz]e)\b.*\b(?:we|let's|i)\b|\b(?:is|are) (?:evaluated|assessed|examined|"
    r"checked) for\b|"
    # "Considering pneumonia, it is crucial to determine whether …": the main clause plans. A
    # "Considering X, …" opener alone frames what its main clause observes.
    r"\b(?:determine|assess|evaluate|establish|check|see) (?:whether|if)\b|"
    # "It is important to identify signs of volume loss": what to do, not what was seen.
    r"\bit is (?:important|essential|crucial|necessary|vital|key|helpful|useful) to\b", re.I)
# Definitions and conditionals: what a finding would look like, not what this image shows.
_GENERIC = re.compile(
    r"\b(?:would|typically|usually|generally|classically|often|commonly|characteri[sz]ed|"
    r"refers? to|defined as|is a (?:condition|finding|term|sign)|are (?:conditions|findings)|"
    r"can (?:appear|present|show|be seen|cause|create|produce|mimic|indicate|suggest|result|"
    r"lead|be (?:identified|recogni[sz]ed|detected|diagnosed|spotted|visuali[sz]ed) by)|"
    r"may (?:appear|"
    r"present|show|be seen as|manifest)|might (?:appear|present|show)|appears? as|presents? as|"
    r"manifests? as|is seen as|involves?|requires?|calls? for|if (?:present|there)|if any|"
    r"occurs? (?:when|if|because)|there will be|in (?:the )?cases? (?:of (?:an?|the)|where)|"
    r"(?:might|may|could) be occurring|"
    r"if the|when present|in cases? of|(?:^|:\s*)seen as|will (?:be indicative|appear|show|be "
    r"seen|be (?:absent|present|visible|evident|lost|missing))|"
    r"should (?:show|appear|be seen|reveal|demonstrate|be (?:midline|normal|clear|sharp)|be "
    r"(?:evaluated|assessed|examined|checked|inspected|reviewed))|(?:(?:this|the|that) option|"
    r"option [a-h][*_]*) (?:mentions|lists|names|describes|includes|proposes|states|suggests))\b",
    re.I)
# An option restated after its letter ("C) Mild atelectasis at the left base.", "Option C:
# opacity …") names findings without saying what the image shows.
_OPTION_LEAD = re.compile(r"^\W*(?:(?:option|choice)\s+[A-H]\b|\(?[A-H]\))", re.I)
# Anchors of an observation: this image, this patient, something seen or not seen.
_OBSERVED = re.compile(
    r"\b(?:the (?:x-?ray|image|images|radiograph|film|films|study|frontal|lateral|pa|ap)|"
    r"(?:these|provided|given|this) (?:images?|x-?rays?|films?|radiographs?)|"
    r"(?:is|are|was|were|be) (?:seen|noted|observed|present|visible|evident|identified|"
    r"apparent|demonstrated|detected|appreciated|shown|found|confirmed)|there (?:is|are|was|"
    r"were|appears?|seems?)|(?:shows?|showed|reveals?|revealed|demonstrates?|displays?|"
    r"exhibits?|depicts?)\b|(?:appears?|appear|seems?|look|looks) (?:to be |to have )?"
    r"(?:clear|normal|intact|unremarkable|enlarged|sharp|within|blunted|widened|prominent|"
    r"elevated|straight|midline|symmetric|well|stable|unchanged|consistent)|no (?:evidence|"
    r"signs?|indication)|(?:absence|lack) of|we (?:do )?(?:see|observe|note|notice|find)|"
    r"(?:do|does|did) not (?:see|observe|note|notice|find|identify|show|reveal|demonstrate)|"
    r"(?:is|are|was|were) not (?:seen|noted|observed|present|visible|evident|identified|"
    r"apparent|demonstrated|detected|appreciated)|"
    r"confirm(?:s|ed|ing)? (?:the )?(?:presence|absence)|rul(?:es?|ed|ing) out|exclud(?:es|ed|"
    r"ing)|eliminat(?:es|ed|ing))\b", re.I)
_NEGATED = re.compile(
    r"\b(?:no|not|without|absence|absent|lack|lacks|lacking|negative|free of|none|nothing|nor|"
    r"neither|"
    r"rul(?:e|es|ed|ing) out|exclud\w*|eliminat\w*|unlikely|improbable|unsupported|dismiss\w*|"
    r"negat(?:e|es|ing)|incorrect|less likely|does not|do not|"
    r"(?:does|do|is|are|was|were|has|have|can|could)n[’']t)\b",
    re.I)
_NORMAL = re.compile(r"\b(?:normal|unremarkable|clear|intact|sharp|within normal limits)\b", re.I)
_HEDGED = re.compile(
    r"\b(?:may|might|could|possible|possibly|probable|probably|likely|suggest\w*|questionable|"
    r"suspicious|concern\w*|cannot (?:be )?(?:excluded|ruled out)|subtle|seems?|"
    r"appears? to)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_ANAPHOR = re.compile(r"\b(?:these|this|such|it|they|none|neither|which)\b", re.I)


@lru_cache(maxsize=65536)
def kind(sentence: str) -> str:
    """observation / plan / generic / neutral (a header): what a sentence does with a
    finding it names.

    >>> kind("First, we examine the lung fields for increased density.")
    'plan'
    >>> kind("Atelectasis typically appears as a linear opacity.")
    'generic'
    >>> kind("The images do not show such opacities.")
    'observation'
    >>> kind("To evaluate for consolidation, examine the lung zones for airspace opacity.")
    'plan'
    """
    bare = sentence.rstrip(" *_")  # markdown emphasis closes a header or a question too
    if _PLAN.search(sentence) or _PLAN_ANYWHERE.search(sentence) or _FRAMING.search(sentence) \
            or bare.endswith("?"):  # "Is there a nodule at the bases?"
        return "observation" if _strong_observation(sentence) else "plan"
    generic = _GENERIC.search(sentence)
    if generic:
        # "There are no streaks that would suggest calcification": the sentence observes
        # before its hypothetical, which only qualifies what was (not) seen.
        seen = _seen(sentence[: generic.start()])
        return "observation" if seen or _strong_observation(sentence) else "generic"
    # A header ("B) Mild scoliosis:") announces, as does an option restated after its letter;
    # any other plain statement asserts.
    if bare.endswith(":") or (_OPTION_LEAD.search(sentence) and not _OBSERVED.search(sentence)
                              and not _NEGATED.search(sentence)):
        return "neutral"
    return "observation"


def _seen(text: str) -> bool:
    """Whether `text` reports something seen or not seen (not merely names the image)."""
    return any(not m.group().lower().startswith(("the ", "these ", "provided ", "given ",
                                                  "this "))
               for m in _OBSERVED.finditer(text))


# "… on the X-ray" says where a thing would be, not that it was seen.
_WHERE = re.compile(r"\b(?:on|in|within)\s+(?:an?|the)\s+(?:x-?rays?|images?|radiographs?|"
                    r"films?)\b", re.I)


def _strong_observation(sentence: str) -> bool:
    """A plan or a definition can still report what was seen, after a comma or a colon
    ("Checking the spine, it appears straight"; "Atelectasis would show X; none is seen")."""
    parts = re.split(r"[,:;]|\b(?:and|but|however|which|while)\b", sentence)
    return any(_OBSERVED.search(_WHERE.sub("", p)) and not _PLAN.search(p)
               and not _GENERIC.search(p) and not _MODAL.search(p) for p in parts[1:])


# "In the case of a pneumothorax, a pleural line may be visible": what may be seen is the
# definition's, not this image's.
_MODAL = re.compile(r"\b(?:may|might|could|would|will)\s+(?:\w+\s+)?be\b", re.I)


@lru_cache(maxsize=4096)
def sentences(text: str) -> tuple[str, ...]:
    """Sentences and list lines of a reasoning text, in order, blanks dropped."""
    return tuple(s.strip() for s in _SENTENCE.split(text) if s.strip())


@lru_cache(maxsize=65536)
def words_of(sentence: str) -> frozenset[str]:
    """The sentence's folded words, cached: every finding test intersects with them."""
    return frozenset(fold_words(sentence))


@lru_cache(maxsize=65536)
def sentence_status(sentence: str, words: frozenset[str] | None = None) -> str | None:
    """present / absent / uncertain as an observation sentence states it, None for plans,
    definitions and sentences that neither observe nor deny anything.

    With `words` (a finding's content words), only the clause naming the finding counts:
    negation reaches from its cue to the end of its clause.
    """
    if words and not words & words_of(sentence):
        return None
    if kind(sentence) != "observation":
        return None
    clause = _clause(sentence, words) if words else sentence
    if clause is None:
        return None
    if words:
        clause = _before_own_object(clause, words)
    if _NEGATED.search(clause):
        return "absent"
    if _NORMAL.search(clause) and not re.search(r"\babnormal", clause, re.I) and (
            words is None or not words <= words_of(clause)):
        # "The aorta appears normal" denies "tortuous aorta": the clause names the structure,
        # not the abnormality, and calls it normal.
        return "absent"
    if _HEDGED.search(clause):
        return "uncertain"
    return "present" if _OBSERVED.search(clause) or words else None


# Clause breaks; the connector stays with the clause it opens ("…, ruling out cardiomegaly"
# keeps its negation).
_CLAUSE = re.compile(r";|,\s*(?=(?:and|but|with|while|whereas|although|though|however|instead|"
                     r"which|indicating|suggesting|consistent|likely|possibly|raising|confirming|"
                     r"supporting|ruling|making|thus|thereby|since|because|given|"
                     r"as(?!\s+(?:well|seen|noted|expected|described)\b))\b)|"
                     r"\b(?=(?:but|however|although|though|whereas|instead|except)\b)|—|\s-\s",
                     re.I)


# A negation cue that takes the words after it as its object: it denies them, not the list
# before it.
_OWN_OBJECT = re.compile(r"\b(?:without|free of|absence of|lack of|negative for|no (?:signs?|"
                         r"evidence|indications?) of)\s+\w", re.I)


# The cues of `_OWN_OBJECT` that qualify the finding named before them rather than describe a
# structure: "lung opacity without signs of pneumonia" keeps the opacity, where "the lungs
# are free of consolidation" calls the lungs normal.
_QUALIFYING_NEGATION = re.compile(r"\b(?:without|with no|no (?:signs?|evidence|indications?) of|"
                                  r"(?:in the )?absence of|lack of)\s+\w", re.I)


# A topic named ahead of its clause ("For atelectasis, …", "Regarding edema: …", "Atelectasis:
# …"): what follows is said of the topic, so a negation there is its predicate, not a
# qualifier of something seen.
_TOPIC = re.compile(r"^\W*(?:(?:for|regarding|concerning|as for|as to|as regards|with regard "
                    r"to|with respect to|in terms of|turning to)\b[^,:;]*[,:]|[^,:;]{1,60}:)",
                    re.I)
_SEEN_WORD = re.compile(r"\b(?:present|seen|noted|visible|evident|identified|observed|"
                        r"confirmed|yes)\b", re.I)


def _before_own_object(clause: str, words: frozenset[str]) -> str:
    """The part of `clause` that speaks for a finding named before a negation with its own
    object ("there is lung opacity without signs of pneumonia": the opacity is present); the
    whole clause otherwise."""
    cue = _QUALIFYING_NEGATION.search(clause)
    if cue is None:
        return clause
    head = clause[: cue.start()]
    topic = _TOPIC.match(head)
    if topic is not None and words <= words_of(topic.group()) \
            and not _SEEN_WORD.search(head[topic.end():]):
        # "For atelectasis, there is no evidence of collapse": the negation is what is said
        # of the topic ("Opacity: seen, without signs of pneumonia" says it first).
        return clause
    # The cue's object ends at the next comma: "…opacity without signs of pneumonia, matching
    # option B: lung opacity" names the opacity again outside what "without" denies.
    denied = re.split(r"[,;:]", clause[cue.start():], maxsplit=1)[0]
    if words <= words_of(head) and not words & words_of(denied) and not _NEGATED.search(head):
        return head
    return clause


# A search told in the past ("I checked for irregular linear opacities, but none were noted"):
# what it found is said after it, as for a plan.
_SEARCHED = re.compile(r"\b(?:i|we)\s+(?:\w+\s+)?(?:checked|looked|searched|evaluated|examined|"
                       r"assessed|inspected|scanned|reviewed|investigated|explored)\s+"
                       r"(?:[\w-]+\s+){0,4}?for\b", re.I)


def _restated(clause: str) -> bool:
    """An option restated after its letter ("- **Option A**: cardiomegaly, pneumonia"), with
    no word of its own that observes: it names findings, the clause after it judges them."""
    return bool(_OPTION_LEAD.search(clause)) and not (
        _OBSERVED.search(clause) or _NEGATED.search(clause) or _HEDGED.search(clause))


def _clause(sentence: str, words: frozenset[str]) -> str | None:
    """The clause of `sentence` that speaks for the finding, or None: the one naming most of
    its words, passing over an option's bare restatement when a later clause names them too
    (None when only the restatement does); when that one is hypothetical or a plan ("X would
    show as Y, but these features are not observed"), a later clause that reports on it
    through an anaphor."""
    clauses = _CLAUSE.split(sentence)
    best, hits = 0, 0
    needed = max(1, round(len(words) * 0.6))
    for index, clause in enumerate(clauses):
        found = len(words_of(clause) & words)
        if found <= hits:
            continue
        if found >= needed and _restated(clause) and any(
                len(words_of(later) & words) >= needed for later in clauses[index + 1:]):
            continue  # the clause after the restatement judges what it names
        best, hits = index, found
    if hits < needed:
        return None
    if _restated(clauses[best]):
        return None  # only the option's own restatement names it: no claim
    clause = clauses[best]
    if best + 1 < len(clauses) and "," in clause and re.match(r"\W*(?:and|or)\b",
                                                              clauses[best + 1]) \
            and not (_NEGATED.search(clause) or _OBSERVED.search(clause)
                     or _HEDGED.search(clause)) \
            and not _OWN_OBJECT.search(clauses[best + 1]):
        # "X, Y, and Z are not present": a list's predicate comes after its last item. A
        # negation with its own object ("…, and Z without signs of pneumonia") is no predicate.
        clause = f"{clause} {clauses[best + 1]}"
    if _GENERIC.search(clause) or _PLAN.search(clause) or _PLAN_ANYWHERE.search(clause) \
            or _SEARCHED.search(clause):
        return next((c for c in clauses[best + 1:] if _ANAPHOR.search(c)
                     and not _GENERIC.search(c) and (_NEGATED.search(c) or _OBSERVED.search(c))),
                    clause)
    return clause


def phrase_status(phrase: str, text: str) -> str | None:
    """present / absent / uncertain as the observing sentences of `text` state a finding
    phrase (the last one wins: reasoning concludes after weighing), None if none does.

    >>> phrase_status("nipple shadow", "Nipple shadows would appear as round densities.")
    >>> phrase_status("nipple shadow", "Look for nipple shadows. None are seen here.")
    >>> phrase_status("pleural effusion", "The X-ray shows no pleural effusion.")
    'absent'
    >>> phrase_status("pleural effusion", "No visceral pleural edge is seen.")
    """
    claims = phrase_claims(phrase, text)
    return claims[-1] if claims else None


def phrase_claims(phrase: str, text: str) -> tuple[str, ...]:
    """Every status the observing sentences of `text` give a finding phrase, in order: each
    sentence is a claim of its own, so one that contradicts the rest is not outvoted."""
    return tuple(status for _, status in sentence_claims(phrase, text))


@lru_cache(maxsize=65536)
def sentence_claims(phrase: str, text: str) -> tuple[tuple[str, str], ...]:
    """(sentence, status) of each observing sentence of `text` that states a finding phrase
    in the phrase's own words (`phrase_claims` with the sentences that made them)."""
    words = content_words(phrase)
    if not words:
        return ()
    head = head_word(phrase) if len(words) == 2 else None  # "pleural" alone is no effusion
    out = []
    for sentence in sentences(text):
        if head is not None and head not in words_of(sentence):
            continue
        said = sentence_status(sentence, words)
        if said is not None:
            out.append((sentence, said))
    return tuple(out)
