"""Reasoning-chain mining: plan, evidence, refine; offline rules and LLM backends (issue 6)."""
