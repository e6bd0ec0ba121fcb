"""Reasoning-chain mining: plan, evidence, refine; offline rules and LLM backends."""

from enum import StrEnum


class ChainStyle(StrEnum):
    """How much a rules-mined chain says. `full`: the paper's chain (a plan, then for each
    finding where to look and what the report shows, then the answer). `brief`: what the report
    shows and the answer alone, the same words less the plan and where-to-look sentences, for
    models of a few million parameters, which cannot learn the knowledge base's wording in
    minutes (docs/training.md)."""

    full = "full"
    brief = "brief"
