"""One self-contained HTML page for a scored run: summary table, bar charts, judged reasoning.

Why a single static file: reports get mailed, attached to issues and opened on air-gapped
hospital machines, so the page carries its own CSS and hand-drawn SVG (no JS, no network).
Why the per-item view: a RadRScore is only trustworthy when a reader can see, step by step,
which predicted statements the judge called supported or contradicted, next to the reference.
"""

from __future__ import annotations

import html
import random
from pathlib import Path
from typing import Any

from chestx_reasoner.jsonl import write_atomic
from chestx_reasoner.scoring.stats import METRICS, task_sort_key

VERDICTS = ("supported", "contradicted", "unsupported")
_LABELS = {
    "accuracy": "Accuracy",
    "completeness": "Rc",
    "factuality": "Rf",
    "effectiveness": "Re",
    "radrscore": "RadRScore",
}
_BARS = (("accuracy", "#3b6fb6"), ("radrscore", "#d9822b"))

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","DejaVu Sans",sans-serif;color:#1f2328;
margin:0 auto;padding:20px 28px;max-width:1500px;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;
border-bottom:1px solid #d0d7de;padding-bottom:4px}h3{font-size:14px;margin:0 0 6px}
.muted{color:#656d76}.ci{color:#656d76;font-size:12px}
table.summary{border-collapse:collapse;font-variant-numeric:tabular-nums}
.summary th,.summary td{border-bottom:1px solid #e4e7eb;padding:5px 12px;text-align:right;
white-space:nowrap}.summary th{background:#f6f8fa;text-align:center}
.summary td.l{text-align:left}.summary tr.overall td{font-weight:600;background:#fbfbfc;
border-bottom:2px solid #c7ccd1}
table.pipeline{table-layout:fixed;width:100%}.pipeline td{white-space:normal;
overflow-wrap:anywhere;vertical-align:top}.pipeline col.stage{width:150px}
.pipeline col.result{width:30%}.pipeline col.time{width:70px}
.charts{display:flex;flex-wrap:wrap;gap:14px}.chart{border:1px solid #d0d7de;border-radius:6px;
padding:8px;background:#fff}
.legend{display:flex;gap:16px;align-items:center;margin:6px 0 12px;flex-wrap:wrap}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;
vertical-align:-1px}
.card{border:1px solid #d0d7de;border-radius:8px;margin:0 0 18px;overflow:hidden}
.head{background:#f6f8fa;padding:8px 12px;display:flex;gap:10px;align-items:center;
flex-wrap:wrap;border-bottom:1px solid #d0d7de}.head .id{font-family:ui-monospace,monospace;
font-weight:600}.tag{font-size:12px;padding:1px 8px;border-radius:10px;background:#e7ecf2}
.ok{background:#dafbe1;color:#1a7f37;font-weight:600}.bad{background:#ffebe9;color:#cf222e;
font-weight:600}.scores{margin-left:auto;font-size:12px;color:#444c56;
font-variant-numeric:tabular-nums}
.qa{padding:8px 12px}.q{white-space:pre-wrap;margin:0 0 6px}
.opts{margin:0 0 6px;padding-left:0;list-style:none}.opts li{padding:1px 6px;border-radius:4px}
.opts li.gold{background:#dafbe1}.opts li.wrong{background:#ffebe9}
.cols{display:grid;grid-template-columns:1.15fr 1fr 1fr;border-top:1px solid #e4e7eb}
.cols>div{padding:8px 12px;min-width:0}.cols>div+div{border-left:1px solid #e4e7eb}
ol{margin:0;padding-left:22px}ol li{margin:0 0 5px}
li.step{border-left:4px solid;padding:3px 7px;border-radius:3px;margin-bottom:6px}
.step.supported{border-color:#1a7f37;background:#e9f7ec}.step.contradicted{border-color:#cf222e;
background:#fdecea}.step.unsupported,.step.unknown{border-color:#8c959f;background:#f1f2f4}
.sw.supported{background:#1a7f37}.sw.contradicted{background:#cf222e}.sw.unsupported{
background:#8c959f}
.v{font-size:11px;font-weight:700;text-transform:uppercase;letter-spacing:.03em;margin-right:4px}
.supported .v{color:#1a7f37}.contradicted .v{color:#cf222e}.unsupported .v,.unknown .v{
color:#57606a}.ev{font-size:12px;color:#57606a;margin-top:2px}
.report{white-space:pre-wrap;font-size:13px}
.kf{padding:6px 12px 10px;border-top:1px solid #e4e7eb;font-size:12px}
.chip{display:inline-block;border:1px solid #d0d7de;border-radius:10px;padding:0 7px;margin:2px}
details{padding:0 12px 8px}summary{cursor:pointer;color:#656d76;font-size:12px}
pre{white-space:pre-wrap;font-size:12px;background:#f6f8fa;padding:6px;border-radius:4px}
.wide{overflow-x:auto}.qa.img{display:flex;gap:14px;align-items:flex-start}
.thumbs{display:flex;gap:6px;flex:none}.thumbs figure{margin:0;text-align:center;font-size:11px;
color:#656d76}.thumbs img{width:168px;height:168px;object-fit:cover;border-radius:4px;
display:block;background:#000}@media (max-width:1150px){.summary .ci{display:block}}
@media (max-width:900px){.cols{grid-template-columns:1fr}.cols>div+div{border-left:0;
border-top:1px solid #e4e7eb}}
"""


def esc(value: Any) -> str:
    """HTML-escape any value; every piece of record text goes through here."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def fmt_ci(cell: dict[str, Any], metric: str) -> str:
    """'0.62 [0.55–0.68]' as HTML; '—' where the metric is undefined."""
    mean, ci = cell.get(metric), cell.get(f"{metric}_ci")
    if mean is None:
        return '<span class="muted">—</span>'
    if not ci:
        return _num(mean)
    return f'{_num(mean)} <span class="ci">[{_num(ci[0])}–{_num(ci[1])}]</span>'


def _tasks(summary: dict[str, Any]) -> list[str]:
    seen = {t for m in summary.get("models", {}).values() for t in m.get("by_task", {})}
    return sorted(seen, key=task_sort_key)


def summary_table(summary: dict[str, Any]) -> str:
    """Model × task rows (each model's overall last, emphasised), every metric with its CI."""
    head = "".join(f"<th>{_LABELS[m]}</th>" for m in METRICS)
    rows = []
    for model, data in summary.get("models", {}).items():
        cells = [*data.get("by_task", {}).items(), ("overall", data.get("overall", {}))]
        for i, (task, cell) in enumerate(cells):
            n_r = cell.get("n_radrscore")
            n = esc(cell.get("n", 0))
            if n_r is not None and n_r != cell.get("n"):
                n += f' <span class="ci">({esc(n_r)} w/ chain)</span>'
            span = f'<td class="l" rowspan="{len(cells)}"><b>{esc(model)}</b></td>'
            lead = span if i == 0 else ""
            metrics = "".join(f"<td>{fmt_ci(cell, m)}</td>" for m in METRICS)
            cls = ' class="overall"' if task == "overall" else ""
            rows.append(f'<tr{cls}>{lead}<td class="l">{esc(task)}</td><td>{n}</td>{metrics}</tr>')
    return (
        '<div class="wide"><table class="summary"><thead><tr><th>Model</th><th>Task</th><th>n</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def bar_chart(title: str, cells: list[tuple[str, dict[str, Any]]]) -> str:
    """Grouped bars (accuracy, RadRScore) per model on a 0–1 axis, with CI whiskers."""
    group_w, bar_w, left, top, plot_h = 112, 30, 40, 42, 170
    width = max(300, left + 16 + group_w * len(cells))
    height = top + plot_h + 44
    y = lambda v: top + plot_h * (1 - max(0.0, min(1.0, v)))  # noqa: E731
    parts = [f'<text x="{left}" y="18" font-size="14" font-weight="600">{esc(title)}</text>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="{"#8c959f" if tick == 0 else "#e4e7eb"}"/>'
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end" '
            f'fill="#656d76">{tick:g}</text>'
        )
    for g, (model, cell) in enumerate(cells):
        x0 = left + 16 + g * group_w
        for b, (metric, colour) in enumerate(_BARS):
            x = x0 + b * (bar_w + 4)
            mean, ci = cell.get(metric), cell.get(f"{metric}_ci")
            label = f"{esc(model)} · {_LABELS[metric]} {_num(mean)}"
            if mean is None:
                parts.append(
                    f'<text x="{x + bar_w / 2}" y="{y(0) - 4}" font-size="10" '
                    f'text-anchor="middle" fill="#8c959f">n/a</text>'
                )
                continue
            if ci:
                label += f" [{_num(ci[0])}–{_num(ci[1])}]"
            parts.append(
                f'<rect x="{x}" y="{y(mean):.1f}" width="{bar_w}" '
                f'height="{y(0) - y(mean):.1f}" fill="{colour}"><title>{label}</title></rect>'
            )
            top_y = y(mean)
            if ci:
                cx, lo, hi = x + bar_w / 2, y(ci[0]), y(ci[1])
                top_y = min(top_y, hi)
                parts.append(
                    f'<path d="M{cx} {lo:.1f}V{hi:.1f}M{cx - 5} {lo:.1f}h10M{cx - 5} {hi:.1f}h10" '
                    'stroke="#1f2328" stroke-width="1.3" fill="none"/>'
                )
            parts.append(
                f'<text x="{x + bar_w / 2}" y="{top_y - 4:.1f}" font-size="10" '
                f'text-anchor="middle" fill="#1f2328">{_num(mean)}</text>'
            )
        short = model if len(model) <= 18 else model[:17] + "…"
        parts.append(
            f'<text x="{x0 + bar_w + 2}" y="{y(0) + 16:.1f}" font-size="11" '
            f'text-anchor="middle"><title>{esc(model)}</title>{esc(short)}</text>'
            f'<text x="{x0 + bar_w + 2}" y="{y(0) + 30:.1f}" font-size="10" '
            f'text-anchor="middle" fill="#656d76">n={esc(cell.get("n", 0))}</text>'
        )
    return (
        f'<svg class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{esc(title)}">{"".join(parts)}</svg>'
    )


def charts(summary: dict[str, Any]) -> str:
    """Overall first, then one chart per task, each with a bar group per model."""
    models = summary.get("models", {})
    out = [bar_chart("overall", [(m, d.get("overall", {})) for m, d in models.items()])]
    for task in _tasks(summary):
        cells = [(m, d["by_task"][task]) for m, d in models.items() if task in d.get("by_task", {})]
        out.append(bar_chart(task, cells))
    legend = "".join(
        f'<span><span class="sw" style="background:{c}"></span>{_LABELS[m]}</span>'
        for m, c in _BARS
    )
    whisker = "<span>│ 95% bootstrap CI</span>"
    return f'<div class="legend">{legend}{whisker}</div><div class="charts">{"".join(out)}</div>'


def _text_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value]


def _answer_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def _question(item: dict[str, Any]) -> str:
    """The question without an embedded 'Options:' list (some dumps repeat the options there)."""
    question = str(item.get("question") or "")
    options = _text_list(item.get("options"))
    head, sep, tail = question.rpartition("Options:")
    if options and sep and head.strip() and all(o in tail for o in options):
        return head.rstrip()
    return question


def _options(item: dict[str, Any]) -> str:
    gold = str(item.get("answer") or "").strip().upper()
    parsed = _answer_text(item.get("parsed_answer")).strip().upper()
    rows = []
    for i, option in enumerate(_text_list(item.get("options"))):
        letter = chr(ord("A") + i)
        cls = "gold" if letter == gold else "wrong" if letter == parsed else ""
        mark = " ✓ answer" if letter == gold else " ← parsed" if letter == parsed else ""
        if letter == gold and letter == parsed:
            mark = " ✓ answer = parsed"
        rows.append(f'<li class="{cls}"><b>{letter})</b> {esc(option)}<b>{mark}</b></li>')
    return f'<ul class="opts">{"".join(rows)}</ul>' if rows else ""


def _steps(item: dict[str, Any]) -> str:
    steps = item.get("steps") or []
    if not steps:
        return '<p class="muted">No reasoning steps were parsed from the output.</p>'
    rows = []
    for step in steps:
        step = step if isinstance(step, dict) else {"text": step}
        verdict = str(step.get("verdict") or "")
        cls = verdict if verdict in VERDICTS else "unknown"
        ev = step.get("evidence")
        tip = f' title="{esc(ev)}"' if ev else ""
        ev_html = f'<div class="ev">↳ {esc(ev)}</div>' if ev else ""
        rows.append(
            f'<li class="step {cls}"{tip}><span class="v">{esc(verdict or "no verdict")}</span>'
            f"{esc(step.get('text'))}{ev_html}</li>"
        )
    return f"<ol>{''.join(rows)}</ol>"


def _findings(value: Any) -> str:
    chips = []
    for kf in value or []:
        if not isinstance(kf, dict):
            chips.append(f'<span class="chip">{esc(kf)}</span>')
            continue
        loc = f" · {esc(kf['location'])}" if kf.get("location") else ""
        chips.append(
            f'<span class="chip">{esc(kf.get("finding"))}: <i>{esc(kf.get("status"))}</i>'
            f"{loc}</span>"
        )
    return "".join(chips) or '<span class="muted">none</span>'


def thumbnail(path: Path, side: int = 336) -> str | None:
    """An image as a small inline JPEG data URL (the page stays one file); None if unreadable."""
    import base64
    import io

    from chestx_reasoner.models.images import ImageReadError, load_image

    try:
        image = load_image(path).convert("L")
    except (ImageReadError, OSError):
        return None
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbs(item: dict[str, Any], image_root: Path | None) -> str:
    """The item's images (temporal: prior, current), or '' when not asked for or not found."""
    paths = _text_list(item.get("images"))
    if image_root is None or not paths:
        return ""
    captions = ["prior", "current"] if len(paths) == 2 else [""] * len(paths)
    figures = []
    for path, caption in zip(paths, captions, strict=True):
        url = thumbnail(Path(image_root) / path)
        if url:
            figures.append(f'<figure><img src="{url}" alt="{esc(path)}" title="{esc(path)}">'
                           f"{esc(caption)}</figure>")
    return f'<div class="thumbs">{"".join(figures)}</div>' if figures else ""


def item_card(item: dict[str, Any], image_root: Path | None = None) -> str:
    """Question and answers on top (with the images when `image_root` is given); predicted steps
    | reference chain | report side by side."""
    correct, score = item.get("correct"), item.get("answer_score")
    if correct is True:
        badge = '<span class="tag ok">✓ correct</span>'
    elif correct is False:
        badge = '<span class="tag bad">✗ wrong</span>'
    elif isinstance(score, int | float):  # multi_open: a finding-set F1, not right/wrong
        badge = f'<span class="tag">answer score {score:.2f}</span>'
    else:
        badge = '<span class="tag">unscored</span>'

    scores = " · ".join(
        f"{_LABELS[m]} {_num(item.get('answer_score' if m == 'accuracy' else m))}"
        for m in METRICS
    )
    ref = "".join(f"<li>{esc(s)}</li>" for s in _text_list(item.get("reference_steps")))
    ref = f"<ol>{ref}</ol>" if ref else '<p class="muted">No reference chain for this item.</p>'
    kf = ""
    if item.get("pred_key_findings") or item.get("ref_key_findings"):
        pred, gold = item.get("pred_key_findings"), item.get("ref_key_findings")
        kf = (
            f'<div class="kf"><b>Predicted key findings:</b> {_findings(pred)}'
            f"<br><b>Reference key findings:</b> {_findings(gold)}</div>"
        )
    thumbs = _thumbs(item, image_root)
    raw = item.get("prediction")
    if raw:
        raw = f"<details><summary>raw model output</summary><pre>{esc(raw)}</pre></details>"
    return (
        f'<div class="card"><div class="head"><span class="id">{esc(item.get("id"))}</span>'
        f'<span class="tag">{esc(item.get("model") or "default")}</span>'
        f'<span class="tag">{esc(item.get("task"))}</span>{badge}'
        f'<span class="scores">{esc(scores)}</span></div>'
        f'<div class="qa{" img" if thumbs else ""}">{thumbs}<div>'
        f'<p class="q"><b>Q:</b> {esc(_question(item))}</p>{_options(item)}'
        f"<div><b>Answer:</b> {esc(_answer_text(item.get('answer')))} · <b>Parsed:</b> "
        f"{esc(_answer_text(item.get('parsed_answer')))}</div></div></div>"
        f'<div class="cols"><div><h3>Model reasoning (judged)</h3>{_steps(item)}</div>'
        f"<div><h3>Reference chain</h3>{ref}</div>"
        f'<div><h3>Report</h3><div class="report">{esc(item.get("report"))}</div></div></div>'
        f"{kf}{raw}</div>"
    )


def sample_items(items: list[dict[str, Any]], sample: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample, ordered by task, id, model so the same item's models sit together."""
    picked = random.Random(seed).sample(items, min(max(sample, 0), len(items)))
    return sorted(
        picked, key=lambda i: (task_sort_key(i.get("task")), str(i.get("id")), str(i.get("model")))
    )


def page(title: str, body: str) -> str:
    """A whole self-contained HTML page around `body`."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def verdict_legend() -> str:
    """The colour key of judged steps."""
    legend = "".join(f'<span><span class="sw {v}"></span>{v}</span>' for v in VERDICTS)
    return (f'<div class="legend"><b>Step verdicts:</b>{legend}<span class="muted">evidence '
            "shown under each step and as its tooltip; an unsupported step names no finding of "
            "the reference and counts in Re with its reasoning: fully for a right answer, for a "
            "wrong one (or a right letter after reasoning that denies the answer) by the share "
            "of its findings the reference confirms</span></div>")


def metric_note(summary: dict[str, Any], n_items: int) -> str:
    """What the page scores and how its intervals were made."""
    models = list(summary.get("models", {}))
    return (
        f'<p class="muted">{n_items} items · {len(models)} model(s): {esc(", ".join(models))}'
        f" · tasks: {esc(', '.join(_tasks(summary)))}. Rc completeness, Rf factuality, "
        "Re effectiveness; RadRScore = (Rc + Rf + Re) / 3, defined only for items with a "
        "reference chain. Intervals: seeded 95% percentile bootstrap.</p>")


def render(summary: dict[str, Any], items: list[dict[str, Any]], sample: int, seed: int) -> str:
    """The whole page as one string."""
    picked = sample_items(items, sample, seed)
    return page("ChestX-Reasoner scores", (
        "<h1>ChestX-Reasoner scoring report</h1>"
        f"{metric_note(summary, len(items))}"
        f"<h2>Summary</h2>{summary_table(summary)}<h2>Accuracy and RadRScore by task</h2>"
        f"{charts(summary)}<h2>Judged reasoning: {len(picked)} sampled items (seed {seed})</h2>"
        f"{verdict_legend()}{''.join(map(item_card, picked))}"))


def write_page(path: Path, html_text: str) -> Path:
    """Write a page atomically (a reader never sees half of it); return its path."""
    write_atomic(path, html_text)
    return Path(path)


def write_report(
    out_dir: Path, summary: dict[str, Any], items: list[dict[str, Any]], sample: int = 40,
    seed: int = 0,
) -> Path:
    """Write out_dir/report.html; return its path."""
    return write_page(Path(out_dir) / "report.html", render(summary, list(items), sample, seed))
