"""The LLM miner: the paper's three passes as prompts to any OpenAI-compatible server.

plan (the question alone: which findings must be checked, and why) -> evidence (the report:
each finding present / absent / uncertain, where; unmentioned = normal) -> refine (one chain
from the question to the given answer, without naming the report or the plan). Each pass asks
for JSON against a strict schema through the shared client (`llm.client`: retries, cache,
concurrency); a chain that fails verification gets one more refine round with the verifier's
complaint, then is dropped. An item whose report contradicts its gold answer is refused before
any call by the rules miner's reading, so the llm backend keeps the rules backend's refusals.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from chestx_reasoner.bench.sample import LETTERS, answer_option
from chestx_reasoner.llm.client import (
    ChatClient,
    LLMError,
    LLMOutputError,
    LLMSettings,
    Usage,
    run,
)
from chestx_reasoner.logging_setup import redact
from chestx_reasoner.mining.columns import UnknownFinding
from chestx_reasoner.mining.rules import Chain, mine_rules
from chestx_reasoner.mining.run import FAILED, failure_reason, result_record
from chestx_reasoner.mining.verify import ChainVerifier, Verdict
from chestx_reasoner.reports.sections import split_temporal

SYSTEM = ("You are a board-certified radiologist who teaches chest X-ray interpretation. "
          "Answer with JSON only, exactly in the requested schema.")
_STATUS = {"enum": ["present", "absent", "uncertain"]}
PLAN_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["analysis", "findings"],
    "properties": {
        "analysis": {"type": "string"},
        "findings": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["finding", "why"],
            "properties": {"finding": {"type": "string"}, "why": {"type": "string"}}}},
    },
}
EVIDENCE_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["evidence"],
    "properties": {"evidence": {"type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["finding", "status", "location", "quote"],
        "properties": {"finding": {"type": "string"}, "status": _STATUS,
                       "location": {"type": ["string", "null"]},
                       "quote": {"type": ["string", "null"]}}}}},
}
REFINE_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["steps"],
    "properties": {"steps": {"type": "array", "items": {"type": "string"}, "minItems": 3}},
}
_FORBIDDEN = re.compile(r"\b(report|the plan)\b", re.IGNORECASE)


def _question_block(item: dict[str, Any]) -> str:
    lines = [f"Question: {item['question']}"]
    lines += [f"{LETTERS[i]}) {o}" for i, o in enumerate(item.get("options") or [])]
    if item.get("task") == "temporal":
        lines.append("Two images are given: a prior and a current chest X-ray.")
    return "\n".join(lines)


def _answer_text(item: dict[str, Any]) -> str:
    chosen = answer_option(item)
    return f"{item['answer']}) {chosen}" if chosen is not None else item["answer"]


def plan_messages(item: dict[str, Any]) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": (
        f"{_question_block(item)}\n\nPlan how to answer this from the image: analyse the "
        "question, then list every finding that must be checked (for option questions, every "
        "finding any option names), each with why it matters and which radiographic signs "
        "decide it. Return {\"analysis\": str, \"findings\": [{\"finding\", \"why\"}]}.")}]


def _report_block(item: dict[str, Any]) -> str:
    """The report as the model should read it: a temporal item's two reports apart, in time
    order ("Previous Report: … Current Report: …" in the public dumps)."""
    prior, current = split_temporal(item["report"])
    if prior or item.get("task") == "temporal":
        return (f"Radiology report:\nPrior report (the earlier study):\n{prior or '(none)'}\n"
                f"Current report (the later study):\n{current or '(none)'}")
    return f"Radiology report:\n{current}"


def evidence_messages(item: dict[str, Any], plan: dict[str, Any]) -> list[dict[str, str]]:
    findings = ", ".join(f["finding"] for f in plan["findings"]) or "the findings asked about"
    change = (" For the current study also say how each finding changed since the prior one "
              "(new, worse, better, unchanged, resolved), as the reports state it."
              if item.get("task") == "temporal" else "")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": (
        f"{_report_block(item)}\n\nFor each of these findings: {findings}; and every other "
        "finding the report calls present or possible; say what the report states: present, "
        "absent or uncertain (a hedge such as 'may represent' or 'cannot be excluded' is "
        "uncertain), with location and the exact sentence quoted. A finding the report does "
        f"not mention is absent (normal), quote null.{change} Return {{\"evidence\": "
        "[{\"finding\", \"status\", \"location\", \"quote\"}]}.")}]


def refine_messages(item: dict[str, Any], plan: dict[str, Any], evidence: dict[str, Any],
                    complaint: str | None = None) -> list[dict[str, str]]:
    text = (
        f"{_question_block(item)}\nCorrect answer: {_answer_text(item)}\n\n"
        f"Plan: {json.dumps(plan)}\nEvidence: {json.dumps(evidence)}\n\n"
        "Write the reasoning a radiologist follows on the image, as a list of steps: start "
        "from the question, check each needed finding (where to look, then what is seen, in "
        "the evidence's own words: keep its hedges, side, size and change), walk every "
        "finding the evidence calls present or uncertain and the pertinent negatives, keep a "
        "differential the evidence argues, and end with a step that says "
        f"'the answer is {_answer_text(item)}'. State no sign the evidence does not give. "
        + ("Say what changed between the prior and the current image. "
           if item.get("task") == "temporal" else "")
        + "Describe what the image shows; never mention a report, a plan or evidence. Return "
        "{\"steps\": [str, ...]} with at least 3 steps.")
    if complaint:
        text += f"\n\nA previous attempt was rejected: {complaint}. Fix that."
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


class LLMBackend:
    """Mines with an OpenAI-compatible model; used by `mining.run.mine_file`."""

    name = "llm"

    def __init__(self, settings: LLMSettings, seed: int = 0,
                 verifier: ChainVerifier | None = None) -> None:
        self.settings = settings
        self.seed = seed
        self.verifier = verifier or ChainVerifier()
        self.usage = Usage()

    def usage_summary(self) -> str:
        return self.usage.summary(self.settings)

    def mine_batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return run(self._mine_all(items))

    async def _mine_all(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        async with ChatClient(self.settings) as client:
            try:
                return list(await asyncio.gather(*(self._mine_one(client, i) for i in items)))
            finally:
                self.usage.add(client.usage)

    def _refusal(self, item: dict[str, Any]) -> str | None:
        """The rules miner's reading of the report against the gold answer: an item whose
        report contradicts its answer is refused before any call, as the rules backend does
        (an LLM would bend the findings to fit)."""
        prior, current = split_temporal(item["report"])
        prior_read, current_read = self.verifier.label_cached([prior or ".", current or "."])
        if isinstance(current_read, Exception) or not current.strip():
            return None
        try:
            refusal = mine_rules(item, current_read, None if isinstance(prior_read, Exception)
                                 or not prior else prior_read).refusal
        except UnknownFinding as error:
            return str(error)
        if refusal and not refusal.startswith("the report states no change"):
            return refusal  # a change the reports do not word is for the model to judge
        return None

    async def _mine_one(self, client: ChatClient, item: dict[str, Any]) -> dict[str, Any]:
        if refusal := self._refusal(item):
            return result_record(item, Chain([], []), "dropped", refusal, self.name)
        try:
            plan = await client.complete_json(plan_messages(item), PLAN_SCHEMA, "plan")
            evidence = await client.complete_json(evidence_messages(item, plan),
                                                  EVIDENCE_SCHEMA, "evidence")
            prior, current = split_temporal(item["report"])
            prior_status, status = self.verifier.statuses([prior or ".", current])  # once
            complaint = None
            for attempt in range(2):
                refined = await client.complete_json(
                    refine_messages(item, plan, evidence, complaint), REFINE_SCHEMA, "chain")
                steps = [s.strip() for s in refined["steps"] if s.strip()]
                verdict = (self.verifier.verify(item, steps, status, prior_status)
                           if len(steps) >= 3 else Verdict(False))
                if verdict.ok and not any(_FORBIDDEN.search(s) for s in steps):
                    key_findings = [{"finding": e["finding"], "status": e["status"],
                                     "location": e["location"]} for e in evidence["evidence"]]
                    return result_record(item, Chain(steps, key_findings),
                                         "repaired" if attempt else "kept", None, self.name)
                complaint = (failure_reason(verdict) if not verdict.ok
                             else "a step mentions the report or the plan")
            return result_record(item, Chain([], []), "dropped", complaint, self.name)
        except LLMOutputError as error:  # the model answered, unusably: a result
            return result_record(item, Chain([], []), "dropped", f"LLM error: {redact(str(error))}",
                                 self.name)
        except LLMError as error:  # no answer (server down, auth): not a result, retried
            return result_record(item, Chain([], []), FAILED, redact(str(error)), self.name)
