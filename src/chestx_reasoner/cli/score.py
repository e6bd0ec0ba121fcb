"""`chestx score` (accuracy and RadRScore of predictions) and `chestx compare` (paired
differences of two scored runs)."""

from __future__ import annotations

import json
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
    table_width,
)
from chestx_reasoner.jsonl import RecordError


@app.command("score")
def score_command(
    predictions: Annotated[list[Path], typer.Option(
        "--predictions", help="Prediction JSONL; repeat to score several models together.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder; a rerun resumes it.")],
    judge: Annotated[Engine, typer.Option(help="rules (offline) or llm.")] = Engine.rules,
    llm_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server (llm).")
                       ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Judge model name (llm).")] = None,
    llm_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the API key (never logged).")] = "OPENAI_API_KEY",
    concurrency: Annotated[int, typer.Option(min=1, help="LLM requests in flight.")] = 8,
    html: Annotated[bool, typer.Option(help="Write OUT/report.html.")] = True,
    workers: Annotated[int, typer.Option(
        min=1, help="Processes for the rules judge (same output as one); the llm judge "
        "overlaps requests with --concurrency instead.")] = 1,
    llm_retries: LLMRetriesOption = 4,
    overwrite: OverwriteOption = False,
) -> None:
    """Score predictions: parsed answer, accuracy and RadRScore (Rc, Rf, Re) per item, with
    per-model, per-task summaries and bootstrap 95 % CIs (items.jsonl, summary.json,
    report.html)."""
    from chestx_reasoner.scoring.score import score_file, score_settings

    console = Console(stderr=True, highlight=False, soft_wrap=True, width=table_width())
    for path in predictions:
        if not path.is_file():
            fail(f"{path}: no such file (--predictions)")
    if workers > 1 and judge is Engine.llm:
        fail("--workers is for the rules judge; the llm judge overlaps requests with "
              "--concurrency")
    if judge is Engine.llm:
        require_llm("--judge", llm_url, llm_model)
        from chestx_reasoner.llm.client import LLMSettings
        from chestx_reasoner.scoring.judge_llm import LLMJudge

        judge_impl = LLMJudge(LLMSettings(url=llm_url, model=llm_model, api_key_env=llm_key_env,
                                          concurrency=concurrency, max_retries=llm_retries,
                                          cache_path=out / "judge-cache.sqlite"))
    elif workers > 1:
        from chestx_reasoner.parallel import Pooled
        from chestx_reasoner.scoring.judge_rules import RulesJudge

        judge_impl = Pooled(RulesJudge, workers, "rules")
    else:
        from chestx_reasoner.scoring.judge_rules import RulesJudge

        judge_impl = RulesJudge()
    kept = f"interrupted; scored items are kept in {out}: rerun to resume"
    made_by = score_settings(judge.value, llm_model if judge is Engine.llm else None)
    with job_errors(console, out, (RecordError,), interrupted=kept), job_progress(
            console, f"scoring ({judge.value} judge)", "items", out / "items.jsonl") as (
            started, advance):
        try:
            run, summary = score_file(predictions, out, judge_impl, on_start=started,
                                      progress=advance, html=html, settings=made_by,
                                      overwrite=overwrite)
        finally:
            getattr(judge_impl, "close", lambda: None)()
    for line in run.malformed:
        console.print(f"skipped {line}")
    if run.malformed and not run.done and not run.already_done and not run.failed:
        fail(f"no usable prediction in {', '.join(map(str, predictions))} "
              f"({len(run.malformed)} malformed lines; first: {run.malformed[0]})")
    console.print(f"{run.headline('scored')}; {run.already_done} already done, "
                  f"{len(run.malformed)} malformed lines")
    _print_summary(console, summary)
    usage = getattr(judge_impl, "usage_summary", None)
    if usage:
        console.print(usage())
    console.print(f"wrote {out}/items.jsonl, {out}/summary.json"
                  + (f", {out}/report.html" if html else ""))
    if run.failed:
        typer.echo(f"{run.failed} items not scored (not written: the judge could not be asked; "
                   f"rerun the same command to retry them); first: {run.first_failure}",
                   err=True)
        raise typer.Exit(EXIT_INCOMPLETE)


def _print_summary(console: Console, summary: dict) -> None:
    from rich.table import Table

    table = Table(title="accuracy and RadRScore (95 % CI)", title_justify="left")
    for column in ("model", "task", "n", "accuracy", "Rc", "Rf", "Re", "RadRScore"):
        table.add_column(column, justify="left" if column in ("model", "task") else "right")

    def cell(row: dict, metric: str) -> str:
        value, ci = row.get(metric), row.get(f"{metric}_ci")
        if value is None:
            return "-"
        return f"{value:.3f}" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "")

    for model, data in summary["models"].items():
        rows = [*data["by_task"].items(), ("overall", data["overall"])]
        for task, row in rows:
            table.add_row(model, task, str(row.get("n", "")),
                          *(cell(row, m) for m in ("accuracy", "completeness", "factuality",
                                                   "effectiveness", "radrscore")))
    console.print(table)


@app.command("compare")
def compare_command(
    dir_a: Annotated[Path, typer.Argument(help="Scored run A (a `chestx score` folder).")],
    dir_b: Annotated[Path, typer.Argument(help="Scored run B.")],
    model_a: Annotated[str | None, typer.Option(
        help="Only this model's items of run A (needed when A holds several models).")] = None,
    model_b: Annotated[str | None, typer.Option(help="Only this model's items of run B.")
                       ] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the full result as JSON (for scripts) instead of the table.")
                       ] = False,
) -> None:
    """Paired differences B - A per task with bootstrap 95 % CIs, over the items both share."""
    from chestx_reasoner.jsonl import RecordError
    from chestx_reasoner.scoring.stats import compare_dirs, format_compare_table

    for folder in (dir_a, dir_b):
        if not (folder / "items.jsonl").is_file():
            fail(f"{folder}: no items.jsonl (run `chestx score --out {folder}` first)")
    try:
        result = compare_dirs(dir_a, dir_b, model_a=model_a, model_b=model_b)
    except (RecordError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    Console(highlight=False, width=table_width()).print(format_compare_table(result))
