"""`chestx mine`: verified reasoning chains for benchmark items, by rules or an LLM."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chestx_reasoner.cli.common import (
    EXIT_INCOMPLETE,
    Engine,
    LLMRetriesOption,
    OverwriteOption,
    app,
    fail,
    job_errors,
    job_progress,
    require_llm,
)
from chestx_reasoner.jsonl import RecordError
from chestx_reasoner.mining import ChainStyle


@app.command("mine")
def mine_command(
    bench: Annotated[Path, typer.Option("--bench", help="Benchmark items (train.jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Output JSONL; a rerun resumes it.")],
    backend: Annotated[Engine, typer.Option(help="rules (offline) or llm.")] = Engine.rules,
    seed: Annotated[int, typer.Option(help="Seed of the wording choices.")] = 0,
    style: Annotated[ChainStyle, typer.Option(
        help="Rules chains: full (plan, where to look, what the report shows, the answer) or "
        "brief (what the report shows and the answer: for models of a few million "
        "parameters).")] = ChainStyle.full,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    llm_url: Annotated[str | None, typer.Option(
        help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (llm backend).")] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name on that server.")] = None,
    llm_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the API key (never logged).")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(min=1, help="LLM requests in flight.")] = 8,
    cache: Annotated[Path | None, typer.Option(
        help="SQLite cache of LLM responses (default: OUT.cache.sqlite).")] = None,
    price_in: Annotated[float | None, typer.Option(
        help="Price per million prompt tokens, for the cost summary.")] = None,
    price_out: Annotated[float | None, typer.Option(
        help="Price per million completion tokens, for the cost summary.")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes for the rules backend (same output as one); the llm backend "
        "overlaps requests with --concurrency instead.")] = 1,
    llm_retries: LLMRetriesOption = 4,
    overwrite: OverwriteOption = False,
) -> None:
    """Mine a reasoning chain for every item that has a report: plan, evidence, refine.

    Each output line is the item plus `reasoning` (steps), `key_findings` and `mining`
    (backend, status kept | repaired | dropped | no report). Chains are verified before they
    are kept: the last step must give the item's answer and no step may contradict the report.
    """
    from chestx_reasoner.mining.run import RulesBackend, check_items, mine_file, mine_settings

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if bench.resolve() == out.resolve():
        fail("--out must be a different file from --bench")
    if style is not ChainStyle.full and backend is Engine.llm:
        fail("--style is for the rules backend; an LLM writes its chains in its own words")
    if workers > 1 and backend is Engine.llm:
        fail("--workers is for the rules backend; the llm backend overlaps requests with "
              "--concurrency")
    with job_errors(console, out, (RecordError,)):
        check_items(bench, limit)
        if backend is Engine.llm:
            require_llm("--backend", llm_url, llm_model)
            from chestx_reasoner.llm.client import LLMSettings
            from chestx_reasoner.mining.llm_miner import LLMBackend

            settings = LLMSettings(url=llm_url, model=llm_model, api_key_env=llm_key_env,
                                   concurrency=concurrency, max_retries=llm_retries,
                                   cache_path=cache or out.with_suffix(".cache.sqlite"),
                                   price_in_per_mtok=price_in, price_out_per_mtok=price_out)
            miner = LLMBackend(settings, seed=seed)
        elif workers > 1:
            from functools import partial

            from chestx_reasoner.parallel import Pooled

            miner = Pooled(partial(RulesBackend, seed=seed, style=style.value), workers,
                           RulesBackend.name)
        else:
            miner = RulesBackend(seed=seed, style=style.value)
        with job_progress(console, f"mining ({backend.value})", "items", out) as (
                started, advance):
            try:
                made_by = mine_settings(backend.value, seed,
                                        llm_model if backend is Engine.llm else None,
                                        style.value)
                summary = mine_file(bench, out, miner, limit=limit, on_start=started,
                                    progress=advance, settings=made_by, overwrite=overwrite)
            finally:
                getattr(miner, "close", lambda: None)()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.outcomes.items())) or "nothing new"
    console.print(f"{summary.headline('mined')}: {counts}")
    usage = getattr(miner, "usage_summary", None)
    if usage:
        console.print(usage())
    if backend is Engine.llm:
        found = "read from" if os.environ.get(llm_key_env) else "not set:"
        console.print(f"API key {found} ${llm_key_env}")
    if summary.failed:
        typer.echo(f"{summary.failed} items failed (not written: rerun the same command to "
                   f"retry them); first: {summary.first_failure}", err=True)
        raise typer.Exit(EXIT_INCOMPLETE)
