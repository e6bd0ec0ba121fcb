"""The LLM judge: the paper's three judgments in two structured calls per item.

The paper spends five GPT-4o calls per item. Here one call extracts the key findings of both
sides and decides recall (completeness) and report support (factuality); a second gives a
verdict per predicted step against the reference chain (effectiveness). Both go through the
shared OpenAI-compatible client (`llm.client`: retries, cache, concurrency), so any vLLM,
Ollama or hosted model can judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chestx_reasoner.llm.client import (
    ChatClient,
    LLMError,
    LLMOutputError,
    LLMSettings,
    Usage,
    run,
)
from chestx_reasoner.logging_setup import redact
from chestx_reasoner.scoring.judge_rules import Judgment

SYSTEM = ("You are a senior radiologist grading a model's chest X-ray reasoning. Answer with "
          "JSON only, exactly in the requested schema.")
_STATUS = {"enum": ["present", "absent", "uncertain"]}
FINDINGS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["reference_findings", "prediction_findings"],
    "properties": {
        "reference_findings": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["finding", "status", "recalled"],
            "properties": {"finding": {"type": "string"}, "status": _STATUS,
                           "recalled": {"type": "boolean"}}}},
        "prediction_findings": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["finding", "status", "supported_by_report"],
            "properties": {"finding": {"type": "string"}, "status": _STATUS,
                           "supported_by_report": {"type": "boolean"}}}},
    },
}
STEPS_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["verdicts"],
    "properties": {"verdicts": {"type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["step", "verdict", "evidence"],
        "properties": {"step": {"type": "integer"},
                       "verdict": {"enum": ["supported", "contradicted", "unsupported"]},
                       "evidence": {"type": ["string", "null"]}}}}},
}


def findings_messages(item: dict[str, Any], steps: Sequence[str]) -> list[dict[str, str]]:
    reference = "\n".join(f"- {s}" for s in item.get("reasoning") or [])
    prediction = "\n".join(f"- {s}" for s in steps) or "(no reasoning)"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": (
        f"Report:\n{item.get('report') or ''}\n\nReference reasoning:\n{reference}\n\n"
        f"Model reasoning:\n{prediction}\n\n"
        "1. List the key findings of the reference reasoning (finding + status present / "
        "absent / uncertain); for each, recalled = the model's reasoning states the same "
        "finding with the same status (synonyms and coarser/finer terms count).\n"
        "2. List the key findings of the model's reasoning; for each, supported_by_report = "
        "the report agrees (a finding the report does not mention is normal: calling it "
        "absent is supported, present is not).")}]


def steps_messages(item: dict[str, Any], steps: Sequence[str]) -> list[dict[str, str]]:
    reference = "\n".join(f"- {s}" for s in item.get("reasoning") or [])
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": (
        f"Reference reasoning:\n{reference}\n\nModel steps:\n{numbered}\n\n"
        "For every model step (by its number) give a verdict: supported (the reference "
        "reasoning supports it), contradicted (the reference says otherwise) or unsupported "
        "(neither), with the reference sentence as evidence or null.")}]


@dataclass(frozen=True, slots=True)
class JudgeFailed:
    """The judge could not be asked (connection refused, auth, retries spent): the item gets
    no verdict and is left for a rerun, rather than written with null scores."""

    failure: str


class LLMJudge:
    """Judges with any OpenAI-compatible model; same `judge_many` as the offline judge."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.usage = Usage()

    def usage_summary(self) -> str:
        return self.usage.summary(self.settings)

    def judge_many(self, items: Sequence[dict[str, Any]], steps: Sequence[list[str]],
                   correct: Sequence[bool | None] | None = None,
                   ) -> list[Judgment | JudgeFailed]:
        return run(self._judge_all(items, steps))

    async def _judge_all(self, items: Sequence[dict[str, Any]],
                         steps: Sequence[list[str]]) -> list[Judgment | JudgeFailed]:
        async with ChatClient(self.settings) as client:
            try:
                return list(await asyncio.gather(*(
                    self._judge_one(client, item, item_steps)
                    for item, item_steps in zip(items, steps, strict=True))))
            finally:
                self.usage.add(client.usage)

    async def _judge_one(self, client: ChatClient, item: dict[str, Any],
                         steps: list[str]) -> Judgment | JudgeFailed:
        has_reference = bool(item.get("reasoning"))
        try:
            found = await client.complete_json(findings_messages(item, steps),
                                               FINDINGS_SCHEMA, "key_findings")
            verdicts: list[dict[str, Any]] = []
            if has_reference and steps:
                reply = await client.complete_json(steps_messages(item, steps), STEPS_SCHEMA,
                                                   "step_verdicts")
                by_step = {v["step"]: v for v in reply["verdicts"]}
                verdicts = [{"text": s, "verdict": by_step.get(i, {}).get("verdict",
                                                                          "unsupported"),
                             "evidence": by_step.get(i, {}).get("evidence")}
                            for i, s in enumerate(steps)]
        except LLMOutputError as error:  # the judge answered, unusably: a (null) verdict
            return Judgment(None, None, None, steps=[{"text": s, "verdict": "unsupported",
                                                      "evidence": f"judge error: {error}"}
                                                     for s in steps])
        except LLMError as error:  # no answer at all (server down): not a verdict, retried
            return JudgeFailed(redact(str(error)))
        ref, pred = found["reference_findings"], found["prediction_findings"]
        completeness = (sum(r["recalled"] for r in ref) / len(ref) if ref else None) \
            if has_reference else None
        factuality = sum(p["supported_by_report"] for p in pred) / len(pred) if pred else 0.0
        effectiveness = None
        if has_reference:
            effectiveness = (sum(v["verdict"] == "supported" for v in verdicts) / len(verdicts)
                             if verdicts else 0.0)
        return Judgment(
            completeness, factuality, effectiveness,
            [{"finding": p["finding"], "status": p["status"], "location": None} for p in pred],
            [{"finding": r["finding"], "status": r["status"], "location": None} for r in ref],
            verdicts)


