"""Which of the 13 CheXpert columns a finding name, an option or a question means.

Shared by the miner, its verifier and the vision labels, so the three read option text alike:
a column's own name in any case, its plain words, or a vocabulary phrase whose concept rolls
up into the column ("rib fractures" -> Fracture).
"""

from __future__ import annotations

import re

from chestx_reasoner.bench.sample import FINDING_NAMES
from chestx_reasoner.reports.vocabulary import lookup_concepts

# An option that names the absence of every finding rather than a finding.
NO_FINDING_OPTION = re.compile(r"^\s*(?:no finding|no findings|normal|none)\s*$", re.IGNORECASE)


class UnknownFinding(ValueError):
    """An item names a finding outside the 13 columns and the vocabulary."""


def resolve_column(name: str) -> str:
    """The column a finding name means, in any case or wording ("fracture", "Fracture",
    "rib fractures"); UnknownFinding names the valid ones.

    >>> resolve_column("fracture"), resolve_column("Pleural Effusion")
    ('Fracture', 'Pleural Effusion')
    """
    text = str(name).strip()
    for column, words in FINDING_NAMES.items():
        if text.lower() in (column.lower(), words):
            return column
    for concept in lookup_concepts(text):
        if concept.chexpert_label in FINDING_NAMES:
            return concept.chexpert_label
    raise UnknownFinding(f"unknown finding {name!r}; use one of: "
                         + ", ".join(FINDING_NAMES.values()))


def option_columns(option: str) -> list[str]:
    """The finding columns an option names ("pleural effusion, cardiomegaly")."""
    columns = []
    for part in option.split(","):
        try:
            columns.append(resolve_column(part)) if part.strip() else None
        except UnknownFinding:
            continue
    return list(dict.fromkeys(columns))


def asked_column(item: dict) -> str:
    """The finding a binary or temporal item asks about: its `finding`, else the question's."""
    if item.get("finding"):
        return resolve_column(item["finding"])
    question = re.split(r"\boptions\s*:", item["question"], flags=re.IGNORECASE)[0]
    question = re.sub(r"(?i)^.*\b(?:show|progression of|evidence of)\b", "", question)
    found = option_columns(question.replace(" or ", ",").replace(" and ", ","))
    return found[0] if found else "Lung Opacity"
