"""Read answers, findings and reasoning steps out of raw model output.

Real outputs are messy: unclosed or repeated `<answer>` tags, prompts echoed in chat transcripts,
option text instead of the letter, long analyses that mention every option before concluding.
A parser that only accepts `<answer>B</answer>` scores formatting, not radiology, so these
functions read what a human grader would read, and return None rather than guess when the
output commits to nothing. All pure: no I/O, no model, same text -> same answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chestx_reasoner.bench.sample import LETTERS
from chestx_reasoner.reports.vocabulary import lookup_concepts, normalize_term
from chestx_reasoner.scoring.answer_text import SYNONYMS, AmbiguousAnswer, resolve_letter

I, M, S = re.IGNORECASE, re.MULTILINE, re.DOTALL  # noqa: E741

_MARKDOWN = re.compile(r"\*+|__+|`+|^[ \t]*#+[ \t]*", M)
_THINK = re.compile(r"<think>(.*?)(?:</think>|(?=<answer>)|\Z)", I | S)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", I | S)
_OPEN_TAG = re.compile(r"<answer>", I)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_ASSISTANT = re.compile(r"<\|im_start\|>\s*assistant\b|<\|assistant\|>|\[/INST\]"
                        r"|^[ \t#]*(?:assistant|gpt)[ \t]*:", I | M)
_USER = re.compile(r"<\|im_start\|>\s*user\b|<\|user\|>|\[INST\]|^[ \t#]*(?:user|human)[ \t]*:",
                   I | M)
_SPECIAL = re.compile(r"<\|[^|>]*\|>|</?s>|</?answer>|</?think>", I)
# Strong cues: what follows is the answer ("The answer is B", "Final answer: pleural effusion").
_CUE = re.compile(r"\b(?:(?:final|correct|best|right|most\s+likely|most\s+appropriate)\s+"
                  r"(?:answer|option|choice)|answer)\s*(?:is|(?:would|should|will)\s+be|=|:|-|–|"
                  r"(?:seems|appears)\s+to\s+be)\s*:?|\bI\s+(?:would\s+)?(?:choose|select|pick|"
                  r"go\s+with)\b", I)
# Weaker cues: a sentence that concludes ("Therefore…", "…is the most likely finding").
_CONCLUDE = re.compile(r"\b(?:answer|conclu\w*|therefore|thus|hence|overall|in summary|best|"
                       r"most \w+|correct|final|consistent with|impression|aligns? with|likely|"
                       r"correspond\w*|match(?:es|ed)?|fits?|line[sd]? up|describes?|suggest\w*|"
                       r"based on|plausible)\b", I)
_BARE = re.compile(r"[(\[]?\s*(?:(?:option|choice)\s*)?[(\[]?([A-Ha-h])\s*[)\]]?\s*[.:;,!]?", I)
_OPTION_WORD = r"(?i:\b(?:option|choice)\s*)[(\[]?(?:([A-H])\b|([a-h])(?=[).:,;]|\s*$))"
_LEAD = re.compile(_OPTION_WORD + r"|[(\[]?([A-H])(?:[)\]]|[.:,\-–](?=\s|$))|([B-H])(?=\s|$)"
                   r"|(A)(?=\s+(?:because|since|as|given|due)\b)")
_REF = re.compile(_OPTION_WORD + r"|\(([A-H])\)|^[ \t]*(?:[-*•][ \t]*)?[(\[]?([A-H])[).:](?=\s)"
                  r"|[\"“]([A-H])[\"”]", M)
_MARKER = re.compile(r"\b[A-H]\)")
_INTRO = re.compile(r"\b(?:is|are|be|as|answer|choice|option)\s*:\s*$", I)
_REJECTED = re.compile(r"\W*(?:is|are|was|seems|appears|would be)\s+(?:\w+\s+)?(?:unlikely|"
                       r"incorrect|wrong|not|ruled|excluded|less)\b", I)
_NEGATION = re.compile(r"\b(?:no|not|without|rule out|ruling out|ruled out|rules out|absence of|"
                       r"negative for|exclude[sd]?|excluding|rather than|instead of|unlikely|"
                       r"less likely|eliminat\w+|incorrect|wrong)\b")
_YES_NO = re.compile(r"\s*(yes|no)\b", I)
_SPLIT = re.compile(r"[,;\n]+|\band\b", I)
_ITEM_PREFIX = re.compile(r"^(?:[-*•·+]+|\(?\d+[.)]|(?:the\s+)?(?:final\s+)?(?:answer|findings?|"
                          r"impression|conclusion)\s*(?:is|are|include)?\s*:)\s*", I)
_NEG_ITEM = re.compile(r"^(?:no|not|without|negative for|absent|free of|none of)\b|\b(?:absent|"
                       r"not seen|not present|not identified|ruled out|excluded|negative)$")
_NORMAL_WORDS = re.compile(r"\b(?:normal|unremarkable|clear|intact|within normal limits)\b")
_NO_FINDING = {"normal", "no finding", "no findings", "none", "no abnormality",
               "no abnormalities", "normal study", "no acute findings"}
_ABNORMAL_CUE = re.compile(r"\b(?:enlarg\w*|widen\w*|blunt\w*|abnormal\w*|prominen\w*|increas\w*|"
                           r"obscur\w*|large|elevat\w*|shift\w*|deviat\w*|congest\w*)\b")
_PROSE_NEG = re.compile(r"\b(?:no|not|without|negative|absent|free of|rule out|ruled out|"
                        r"unremarkable|normal|clear|intact|unlikely)\b")
_SCOPE = re.compile(r"[.;!?\n]+|\b(?:but|however|although|though|except|whereas|while)\b|"
                    r"\bthere (?:is|are|appears?|seems?)\b", I)
_NORMAL_STUDY = re.compile(
    r"\bnormal (?:chest|study|radiograph|x-?ray|exam)|within normal limits|"
    r"\b(?:appears?|looks?|is) (?:to be )?(?:essentially |overall )?normal\b|"
    r"\b(?:no|without|not \w+ any) (?:\w+ ){0,2}(?:abnormal|patholog|findings)", I)
_HEADER = re.compile(r"(?:^|\n)[ \t]*(?:conclusion|impression|summary|overall(?: findings| "
                     r"impression)?|final answer|findings(?: in the chest x-ray)?)\s*:", I)
_ITEM = re.compile(r"^[ \t]*(?:[-*•·+]|\(?\d+[.)]|step\s+\d+\s*[:.)]?)[ \t]+", I)
_ABBREV = re.compile(r"\b(e\.g|i\.e|etc|vs|approx|cf|dr|fig|resp)\.", I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n+")


def _clean(text: str) -> str:
    return _MARKDOWN.sub("", text)


def _assistant_turn(text: str) -> str:
    """Only the model's own final turn counts: a transcript also holds the prompt."""
    marks = list(_ASSISTANT.finditer(text))
    if marks:
        text = text[marks[-1].end():]
        nxt = _USER.search(text)
        text = text[: nxt.start()] if nxt else text
    return text


def _drop_listing(text: str, options: list[str]) -> str:
    """Remove an echoed "A) x B) y …" listing of all options: a list is not an answer."""
    if len(options) < 2:
        return text
    flat = " ".join(text.lower().split())
    if not all(" ".join(opt.lower().split()) in flat for opt in options):
        return text  # some option is never written out: no listing (and no pattern to build)
    return _listing(tuple(options)).sub("\n", text)


@lru_cache(maxsize=1024)
def _listing(options: tuple[str, ...]) -> re.Pattern[str]:
    """The listing pattern of one question's options, compiled once (a question is asked of
    every model scored)."""
    parts = [rf"[(\[]?{ch}[)\].:]\s*" + r"\s+".join(map(re.escape, opt.split())) + r"\s*[,;.]?\s*"
             for ch, opt in zip(LETTERS, options, strict=False)]
    return re.compile("".join(parts), I)


def _letter(match: re.Match, options: list[str], text: str) -> str | None:
    """The letter matched, as the option words after it make it (`answer_text`)."""
    ch = next(g for g in match.groups() if g).upper()
    if ch not in LETTERS[: len(options)]:
        return None
    if (ch := resolve_letter(ch, text[match.end():], options)) is None:
        raise AmbiguousAnswer(text)
    return ch


def _negated(text: str, pos: int) -> bool:
    """A negation among the five words before `pos` in its sentence ("not B", "rules out C")."""
    before = re.split(r"[.;:!?\n]", text[max(0, pos - 80): pos])[-1]
    words = normalize_term(before).split()[-5:]
    return bool(_NEGATION.search(" ".join(words)))


def _phrases(options: list[str]) -> list[tuple[str, int]]:
    out = []
    for i, opt in enumerate(options):
        key = normalize_term(opt)
        forms = SYNONYMS.get(key, ()) + (() if key in ("yes", "no") else (key,))
        out += [(normalize_term(f), i) for f in forms if normalize_term(f)]
    return out


def _text_matches(text: str, options: list[str]) -> list[tuple[int, int, int]]:
    """(sentence, position, option) of option texts (or synonyms) named and not negated."""
    found, phrases = [], _phrases(options)
    for k, sentence in enumerate(re.split(r"[.;:!?\n]+", text)):
        norm = normalize_term(sentence)
        spans = sorted(((m.start(), m.end(), i) for p, i in phrases
                        for m in re.finditer(rf"(?<!\S){re.escape(p)}(?!\S)", norm)),
                       key=lambda span: (span[0], -span[1]))
        reach = (-1, -1)  # the match reaching furthest: a shorter one inside it is part of it
        for a, b, i in spans:
            if reach[1] >= b and reach != (a, b):
                continue
            reach = max(reach, (a, b), key=lambda span: span[1])
            if not _negated(norm, a):
                found.append((k, a, i))
    return sorted(found)


def _set_match(text: str, options: list[str]) -> str | None:
    """A `multi` answer written as its findings, in any order."""
    items = {normalize_term(t) for t in _SPLIT.split(text)} - {""}
    for i, opt in enumerate(options):
        if len(items) > 1 and items == {normalize_term(t) for t in _SPLIT.split(opt)} - {""}:
            return LETTERS[i]
    return None


def _lenient(segment: str, options: list[str]) -> str | None:
    """A short segment that should be the answer (tag content, the words after "answer is")."""
    s = _clean(segment).strip().strip("\"'“”‘’ ")
    if m := _BARE.fullmatch(s):
        return _letter(m, options, s)
    if found := _start_choice(s, options):
        return found
    if found := _set_match(s, options):
        return found
    matches = _text_matches(s, options)
    return LETTERS[matches[0][2]] if matches else None


def _unit_choice(unit: str, options: list[str]) -> str | None:
    """A concluding sentence: its first letter reference, else the one option it names."""
    listing = len(set(_MARKER.findall(unit))) > 1
    for m in _REF.finditer(unit):
        by_word = m.group(1) or m.group(2)
        if (listing and not by_word) or _negated(unit, m.start()) or _REJECTED.match(unit, m.end()):
            continue
        return _letter(m, options, unit)
    chosen = {i for _, _, i in _text_matches(unit, options)}
    return LETTERS[chosen.pop()] if len(chosen) == 1 else None


def _free_choice(text: str, options: list[str]) -> str | None:
    """Free text: strong cues, then concluding sentences from the end, then the first line."""
    text = _clean(text)
    for m in list(_CUE.finditer(text))[:-21:-1]:  # first: a short "answer is A) x" is its A
        if found := _lenient(_line_after(text, m.end()), options):
            return found
    if len(text.split()) <= 12 and (found := _lenient(text, options)):
        return found
    units = [u.strip() for line in text.split("\n") for u in _sentences(line) if u.strip()]
    for i in range(len(units) - 1, -1, -1):
        intro = i and units[i - 1].endswith(":") and (
            _INTRO.search(units[i - 1]) or _CONCLUDE.search(units[i - 1]))
        answer_like = _CONCLUDE.search(units[i]) or intro
        if answer_like and (found := _unit_choice(units[i], options)):
            return found
    for unit in units[-1:-4:-1]:  # no concluding sentence: the last few, whatever they say
        if found := _unit_choice(unit, options):
            return found
    first = units[0] if units else ""  # "B) effusion. Because …"; not an echoed listing
    return _start_choice(first, options) if len(set(_MARKER.findall(first))) < 2 else None


def _line_after(text: str, pos: int, limit: int | None = 400) -> str:
    """The rest of the line from `pos`, or the next non-empty line ("The answer is:\n\nB) …")."""
    rest = text[pos: pos + limit if limit else None]
    line = rest.split("\n", 1)[0]
    return line if line.strip() else next((x for x in rest.split("\n") if x.strip()), "")


def _start_choice(line: str, options: list[str]) -> str | None:
    """A letter or Yes/No that opens a line ("B) …", "No, there is no effusion.")."""
    if m := _LEAD.match(line):
        return _letter(m, options, line)
    keys = [normalize_term(o) for o in options]
    if (m := _YES_NO.match(line)) and m.group(1).lower() in keys:
        return LETTERS[keys.index(m.group(1).lower())]
    return None


def _tagged(text: str) -> str | None:
    """The answer tag's content outside <think>: the last complete one, else the last opened."""
    outside = _THINK.sub(" ", text)
    for body in (outside, text):
        if tags := _ANSWER_TAG.findall(body):
            return tags[-1]
        if opened := list(_OPEN_TAG.finditer(body)):
            return body[opened[-1].end():]
        if boxed := _BOXED.findall(body):
            return boxed[-1]
    return None


def parse_answer(prediction: str | None, options: list[str], task: str) -> str | None:
    """The option letter a prediction commits to (multi_open: its findings), else None.

    >>> parse_answer("<think>B looks wrong.</think><answer> C </answer>", ["x", "y", "z"], "single")
    'C'
    >>> parse_answer("Yes, there is a small effusion.", ["Yes", "No"], "binary")
    'A'
    >>> parse_answer("A large effusion is seen.", ["cardiomegaly", "edema"], "single") is None
    True
    >>> parse_answer("<answer>Enlarged heart; pleural effusions</answer>", [], "multi_open")
    'cardiomegaly, pleural effusion'
    """
    if not prediction or not prediction.strip():
        return None
    text = _assistant_turn(prediction)
    if task == "multi_open" or not options:
        return _parse_open(text)
    try:  # a letter given with words of no single option is no answer (answer_text)
        return _choose(_drop_listing(text, options), options)
    except AmbiguousAnswer:
        return None


def _choose(text: str, options: list[str]) -> str | None:
    tagged = _tagged(text)
    if tagged is not None and tagged.strip():
        return _lenient(tagged, options) or _free_choice(tagged, options)
    parts = re.split(r"</think>", text, flags=I)
    after = _SPECIAL.sub(" ", parts[-1]) if len(parts) > 1 else ""
    text = _SPECIAL.sub(" ", text)
    return (_free_choice(after, options) if after.strip() else None) or _free_choice(text, options)


def _parse_open(text: str) -> str | None:
    tagged = _tagged(text)
    if tagged is not None and tagged.strip():
        found = parse_findings(tagged)
    else:
        body = _SPECIAL.sub(" ", _THINK.sub(" ", text)).strip() or _SPECIAL.sub(" ", text)
        found = _prose_findings(_clean(body))
    return ", ".join(found) if found else None


_LEAD_IN = re.compile(r"^[^:\n]*:\s*")


def _prose_findings(text: str) -> list[str]:
    """Findings a free-text answer asserts: its final answer, conclusion, or last paragraph."""
    cues = list(_CUE.finditer(text))
    if cues and (line := _line_after(text, cues[-1].end(), limit=None)).strip():
        return parse_findings(line)
    headers = list(_HEADER.finditer(text))
    region = text[headers[-1].end():] if headers else re.split(r"\n\s*\n", text.strip())[-1]
    if not headers and all(len(line.split()) <= 8 for line in text.split("\n")):
        # A list, not prose; a lead-in ("In summary, the findings are: …") is not a finding.
        return parse_findings("\n".join(_LEAD_IN.sub("", line) for line in text.split("\n")))
    names: set[str] = set()
    for part in _SCOPE.split(region):  # a negation reaches to the end of its sentence or clause
        part = normalize_term(part)
        if neg := _PROSE_NEG.search(part):
            part = part[: neg.start()]
        for item in _SPLIT.split(part):
            names.update(_item_findings(item, keep_unknown=False))
    if not names and _NORMAL_STUDY.search(region):
        return ["no finding"]
    return sorted(names)


def _item_findings(item: str, keep_unknown: bool = True) -> list[str]:
    norm = _normalize_item(item)
    concepts = lookup_concepts(norm) if norm else []
    if norm in _NO_FINDING or any(c.name == "no finding" for c in concepts):
        return ["no finding"]
    if not norm or _NEG_ITEM.search(norm):
        return []
    names = [c.finding_name for c in concepts
             if c.kind != "anatomy" or _ABNORMAL_CUE.search(norm)]
    if concepts or _NORMAL_WORDS.search(norm):
        return names
    return [norm] if keep_unknown else []


def _normalize_item(item: str) -> str:
    """Lowercase, one space, no list marker or edge punctuation: a fixed point, so idempotent."""
    norm, previous = item.lower(), None
    while norm != previous:
        previous = norm
        norm = " ".join(_ITEM_PREFIX.sub("", _clean(norm)).split()).strip(" .,;:!?-*•#\"'()[]")
    return norm


def parse_findings(text: str) -> list[str]:
    """Canonical finding names of a findings list; unknown phrases kept, normalised.

    >>> parse_findings("1. Pleural effusions\\n2. enlarged heart and a calcified nodule")
    ['cardiomegaly', 'granuloma', 'pleural effusion']
    >>> parse_findings("small left apical pneumothorax; carina of trachea.")
    ['carina of trachea', 'pneumothorax']
    """
    return sorted({name for item in _SPLIT.split(text or "") for name in _item_findings(item)})


def extract_reasoning(prediction: str | None) -> str:
    """The reasoning: inside <think>, else the text before the final answer tag or sentence.

    >>> extract_reasoning("The heart is enlarged. Therefore the answer is B.")
    'The heart is enlarged.'
    """
    if not prediction:
        return ""
    text = _assistant_turn(prediction)
    thinks = [t.strip() for t in _THINK.findall(text) if t.strip()]
    if thinks:
        return "\n\n".join(thinks)
    if tag := _OPEN_TAG.search(text):
        return _SPECIAL.sub(" ", text[: tag.start()]).strip()
    cues = list(_CUE.finditer(text))
    end = len(text)
    if cues:  # cut at the start of the sentence that gives the answer
        end = max(text.rfind(c, 0, cues[-1].start()) for c in (". ", "\n", "? ")) + 1
    return _SPECIAL.sub(" ", text[:end]).strip()


def _sentences(text: str) -> list[str]:
    masked = _ABBREV.sub(lambda m: m.group(1) + "\x00", text)
    return [s.replace("\x00", ".") for s in _SENTENCE.split(masked)]


def _is_header(line: str) -> bool:
    line = line.strip()
    return not line or (line.endswith(":") and len(line.split()) <= 6)


def split_steps(reasoning: str | None) -> list[str]:
    """Reasoning steps: list items or paragraphs, else sentences; headers and scraps dropped.

    >>> split_steps("Findings:\\n1. The heart is enlarged.\\n2. No effusion is seen here.")
    ['The heart is enlarged.', 'No effusion is seen here.']
    """
    text = _clean(reasoning or "")
    lines = text.split("\n")
    if sum(bool(_ITEM.match(line)) for line in lines) >= 2:
        chunks: list[list[str]] = [[]]
        for line in lines:
            if _ITEM.match(line) or not line.strip():
                chunks.append([])
            chunks[-1].append(_ITEM.sub("", line))
    else:
        paragraphs = [p for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
        parts = paragraphs if len(paragraphs) > 1 else _sentences(text)
        chunks = [p.split("\n") for p in parts]
    steps = []
    for chunk in chunks:
        step = " ".join(" ".join(line for line in chunk if not _is_header(line)).split())
        if len(step.split()) >= 3:
            steps.append(step)
    return steps
