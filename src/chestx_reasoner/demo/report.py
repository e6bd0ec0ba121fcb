"""DIR/report.html of a demo run: the scoring report plus what only the demo knows.

On top of `chestx score`'s page (table with CIs, per-task bar charts, judged reasoning) it adds
the training curves, the pipeline (each stage's command, result and time) and, on every item
card, the X-ray(s) the model saw.
"""

from __future__ import annotations

import json
import random
from typing import Any

from chestx_reasoner.demo.plan import DemoPlan
from chestx_reasoner.demo.stages import STAGES, TRAINED, DemoPaths
from chestx_reasoner.scoring.html_report import (
    bar_chart,
    charts,
    esc,
    fmt_ci,
    item_card,
    metric_note,
    page,
    summary_table,
    verdict_legend,
    write_page,
)
from chestx_reasoner.scoring.stats import task_sort_key

CARDS_PER_TASK = 2


def read_stage_records(paths: DemoPaths) -> dict[str, dict[str, Any]]:
    """What each finished stage recorded (result line, seconds), by stage name."""
    from chestx_reasoner.demo.run import record_path

    records = {}
    for stage in STAGES:
        path = record_path(paths, stage)
        if path.is_file():
            records[stage.name] = json.loads(path.read_text(encoding="utf-8"))
    return records


def pick_cards(items: list[dict[str, Any]], model: str, seed: int,
               per_task: int = CARDS_PER_TASK) -> list[dict[str, Any]]:
    """`per_task` seeded items of `model` per task, those with a reference chain first.

    >>> rows = [{"model": "m", "task": t, "id": f"{t}{i}", "reference_steps": ["x"] if i else []}
    ...         for t in ("single", "binary") for i in range(3)]
    >>> [r["id"] for r in pick_cards(rows, "m", 0, per_task=1)]
    ['binary2', 'single2']
    """
    rng = random.Random(seed)
    by_task: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if item.get("model") == model:
            by_task.setdefault(str(item.get("task")), []).append(item)
    picked = []
    for task in sorted(by_task, key=task_sort_key):
        pool = sorted(by_task[task], key=lambda i: str(i.get("id")))
        rng.shuffle(pool)
        pool.sort(key=lambda i: not i.get("reference_steps"))  # stable: chains first
        picked.extend(pool[:per_task])
    return picked


def pipeline_table(paths: DemoPaths, plan: DemoPlan) -> str:
    """Each stage: the `chestx` command it stands for, what it did, how long it took."""
    records = read_stage_records(paths)
    rows = []
    for stage in STAGES:
        record = records.get(stage.name, {})
        seconds = record.get("seconds")
        took = f"{seconds:.0f} s" if isinstance(seconds, int | float) else "—"
        command = " ".join(stage.command(paths, plan))
        rows.append(f'<tr><td class="l"><b>{esc(stage.name)}</b></td><td class="l">'
                    f'<code>{esc(command)}</code></td><td class="l">'
                    f"{esc(record.get('result', 'not run'))}</td><td>{took}</td></tr>")
    return ('<div class="wide"><table class="summary pipeline"><colgroup><col class="stage">'
            '<col><col class="result"><col class="time"></colgroup><thead><tr><th>Stage</th>'
            "<th>Command</th><th>Result</th><th>Time</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table></div>")


def compact_table(summary: dict[str, Any]) -> str:
    """The final table as HTML: a row per task accuracy and RadRScore part, a column per
    model (the same layout as the terminal's)."""
    models = summary.get("models", {})
    head = "".join(f"<th>{esc(model)}</th>" for model in models)
    rows = []
    for label, metric, task in _table_rows(summary):
        cells = "".join(
            f"<td>{fmt_ci(data['by_task'].get(task, {}) if task else data['overall'], metric)}"
            "</td>" for data in models.values())
        cls = ' class="overall"' if label in ("accuracy, all", "RadRScore") else ""
        rows.append(f'<tr{cls}><td class="l">{esc(label)}</td>{cells}</tr>')
    return (f'<div class="wide"><table class="summary"><thead><tr><th>Metric</th>{head}</tr>'
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>")


def _table_rows(summary: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(label, metric, task or None for overall) of each row of the final table."""
    tasks = sorted({t for data in summary.get("models", {}).values()
                    for t in data.get("by_task", {})}, key=task_sort_key)
    rows: list[tuple[str, str, str | None]] = [
        (f"{task} (F1)" if task == "multi_open" else task, "accuracy", task) for task in tasks]
    rows.append(("accuracy, all", "accuracy", None))
    rows += [("Rc completeness", "completeness", None), ("Rf factuality", "factuality", None),
             ("Re effectiveness", "effectiveness", None), ("RadRScore", "radrscore", None)]
    return rows


def write_demo_report(paths: DemoPaths, plan: DemoPlan) -> None:
    """Write DIR/report.html from the scored run, the training logs and the stage records."""
    from chestx_reasoner.scoring.curves import (
        CURVES_NOTE,
        grpo_reward_chart,
        read_log_history,
        sft_loss_chart,
    )

    summary = json.loads((paths.scored / "summary.json").read_text(encoding="utf-8"))
    with open(paths.scored / "items.jsonl", encoding="utf-8") as handle:
        items = [json.loads(line) for line in handle if line.strip()]
    final = TRAINED[-1]
    cards = pick_cards(items, final, plan.settings.seed)
    overall = bar_chart("overall", [(m, d.get("overall", {}))
                                    for m, d in summary.get("models", {}).items()])
    sft = sft_loss_chart(read_log_history(paths.model(TRAINED[0]) / "log_history.jsonl"))
    grpo = grpo_reward_chart(read_log_history(paths.model(final) / "log_history.jsonl"))
    intro = (f"<p>The whole pipeline on a synthetic cohort: {esc(plan.describe())}. "
             "<b>random</b> guesses; <b>reference</b> replays the mined chain and the gold "
             "answer (the judge's ceiling); <b>tiny-base</b> is a 0.9 M-parameter Qwen2-VL "
             "made here from random weights: its vision tower pretrained on the training "
             "images' findings, then taught to answer without reasoning; <b>tiny-sft</b> "
             "and <b>tiny-sft-grpo</b> are that base after reasoning SFT and after GRPO. All "
             "are trained in minutes on a CPU, so expect them far below the ceiling.</p>")
    # Everything that sums the run up (tables, charts and their legend, the pipeline) comes
    # before the long list of item cards, so a reader sees it without scrolling past them.
    body = (
        f"<h1>ChestX-Reasoner demo</h1>{intro}"
        f"<h2>Test set: accuracy and RadRScore (95% CI)</h2>{compact_table(summary)}"
        f'<div class="charts" style="margin-top:14px">{overall}{sft}{grpo}</div>{CURVES_NOTE}'
        f"<h2>By task</h2>{metric_note(summary, len(items))}{charts(summary)}"
        f'<div style="margin-top:14px">{summary_table(summary)}</div>'
        f"<h2>Pipeline</h2>{pipeline_table(paths, plan)}"
        f"<h2>Judged reasoning of {esc(final)}: {len(cards)} items, {CARDS_PER_TASK} per "
        f"task</h2>{verdict_legend()}"
        + "".join(item_card(item, paths.bench) for item in cards))
    write_page(paths.report, page("ChestX-Reasoner demo", body))


def results_table(summary: dict[str, Any]) -> Any:
    """The final table for the terminal: a column per model, a row per task accuracy and per
    RadRScore part, each value with its bootstrap 95 % CI (fits 100 columns)."""
    from rich.table import Table

    models = summary.get("models", {})
    table = Table(title="test set: accuracy by task and RadRScore (95 % bootstrap CI)",
                  title_justify="left")
    table.add_column("metric")
    for model in models:
        table.add_column(model, justify="right")

    def cell(row: dict[str, Any], metric: str) -> str:
        value, ci = row.get(metric), row.get(f"{metric}_ci")
        if value is None:
            return "-"
        return f"{value:.2f}" + (f" [{ci[0]:.2f}-{ci[1]:.2f}]" if ci else "")

    for label, metric, task in _table_rows(summary):
        bold = label in ("accuracy, all", "RadRScore")
        table.add_row(f"[b]{label}[/]" if bold else label,
                      *(cell(d["by_task"].get(task, {}) if task else d["overall"], metric)
                        for d in models.values()),
                      end_section=label == "accuracy, all")
    table.caption = "items per model: " + ", ".join(
        f"{m} {d['overall'].get('n')}" for m, d in models.items())
    return table
