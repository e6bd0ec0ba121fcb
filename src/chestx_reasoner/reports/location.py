"""Read where a finding is (side, zone, lobe) from the words around its mention. Pure functions."""

from __future__ import annotations

import re
from functools import lru_cache

from chestx_reasoner.reports.records import Location

_LOBE_ABBREVIATIONS = {
    "rul": "right upper lobe", "rml": "right middle lobe", "rll": "right lower lobe",
    "lul": "left upper lobe", "lll": "left lower lobe",
}
_LOBE_RE = re.compile(
    r"\b(?P<side>right|left)\s+(?P<level>upper|middle|lower)\s+lobes?\b"
    r"|\b(?P<abbr>rul|rml|rll|lul|lll)\b|\b(?P<lingula>lingula|lingular)\b"
)
# Zone words in the order they are tested; the first found wins.
_ZONES: tuple[tuple[str, str], ...] = (
    ("retrocardiac", r"retrocardiac"),
    ("perihilar", r"perihilar|parahilar|infrahilar|suprahilar|hilar|hila|hilum"),
    ("base", r"bases?|basilar|basal|bibasilar|bibasal|bibasally|costophrenic|subpulmonic|"
             r"lung\s+bases?|infrahilar"),
    ("apex", r"apex|apices|apical|biapical"),
    ("upper", r"upper(?:\s+(?:lung|zone|zones|lobe|lobes|lungs))?"),
    ("middle", r"mid(?:dle)?(?:\s+(?:lung|zone|zones))|midlung|mid-lung"),
    ("lower", r"lower(?:\s+(?:lung|zone|zones|lobe|lobes|lungs))?"),
)
_ZONE_RES = tuple((name, re.compile(rf"\b(?:{pattern})\b")) for name, pattern in _ZONES)
_BILATERAL_RE = re.compile(
    r"\b(bilateral(?:ly)?|both|bibasilar|bibasal|bibasally|biapical|b/l)\b")
# "at the lung bases" / "apices": a plural zone names both sides, unless a side is written
# with it ("the right lung bases" is one side's base, in the plural).
_PLURAL_ZONE_RE = re.compile(r"\b(bases|apices)\b")
_SIDE_RE = re.compile(r"\b(left|right)(?:[- ]sided)?\b")


@lru_cache(maxsize=65536)  # mention windows repeat ("left pleural effusion"); Location is frozen
def find_location(text: str) -> Location | None:
    """Side, zone and lobe named in a short window of text around a mention.

    >>> find_location("small left pleural effusion")
    Location(side='left', zone=None, lobe=None)
    >>> find_location("opacity in the right lower lobe").text
    'right lower lobe'
    >>> find_location("bibasilar atelectasis").text
    'bilateral base'
    >>> find_location("atelectasis at the lung bases").text
    'bilateral base'
    >>> find_location("consolidation at the right lung bases").text
    'right base'
    """
    lowered = text.lower()
    lobe = side = zone = None
    if match := _LOBE_RE.search(lowered):
        if match.group("abbr"):
            lobe = _LOBE_ABBREVIATIONS[match.group("abbr")]
        elif match.group("lingula"):
            lobe = "lingula"
        else:
            lobe = f"{match.group('side')} {match.group('level')} lobe"
        side = lobe.split()[0] if lobe != "lingula" else "left"
    # Remove the lobe phrase so "lower lobe" is not read again as a zone.
    rest = _LOBE_RE.sub(" ", lowered)
    if _BILATERAL_RE.search(rest):
        side = "bilateral"
    elif side is None:
        sides = {m.group(1) for m in _SIDE_RE.finditer(rest)}
        side = sides.pop() if len(sides) == 1 else ("bilateral" if sides else None)
        if side is None and _PLURAL_ZONE_RE.search(rest):
            side = "bilateral"
    for name, pattern in _ZONE_RES:
        if pattern.search(rest):
            zone = name
            break
    location = Location(side=side, zone=zone, lobe=lobe)
    return None if location.is_empty() else location
