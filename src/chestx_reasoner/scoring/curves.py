"""Training curves as inline SVG: SFT loss and the GRPO rewards per step, from `log_history`.

Why hand-drawn SVG: the report is one static file with no JS or network (see `html_report`),
and a line chart is a few dozen lines, cheaper than shipping a plotting library's runtime.
Noisy per-step values are drawn thin and faded under a moving average, so a trend is readable
even at one prompt per GRPO step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from chestx_reasoner.scoring.html_report import esc

Series = tuple[str, str, list[tuple[float, float]]]  # (name, colour, [(step, value)])

REWARD_COLOURS = {"format": "#8250df", "outcome": "#3b6fb6", "process": "#d9822b"}


def read_log_history(path: Path) -> list[dict[str, Any]]:
    """The Trainer's log entries (`log_history.jsonl`, written by `chestx train`); [] if none."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def points(history: Iterable[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """(step, value) for every log entry that has `key` as a finite number.

    >>> points([{"step": 1, "loss": 2.0}, {"step": 2}, {"step": 3, "loss": 1.0}], "loss")
    [(1.0, 2.0), (3.0, 1.0)]
    """
    out = []
    for entry in history:
        value = entry.get(key)
        if isinstance(value, int | float) and math.isfinite(value) and "step" in entry:
            out.append((float(entry["step"]), float(value)))
    return out


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to `window` values (shorter at the start).

    >>> moving_average([1, 2, 3, 4], 2)
    [1.0, 1.5, 2.5, 3.5]
    """
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _path(xy: list[tuple[float, float]], sx: Any, sy: Any) -> str:
    return "M" + "L".join(f"{sx(x):.1f} {sy(y):.1f}" for x, y in xy)


def line_chart(title: str, series: Sequence[Series], y_label: str,
               y_range: tuple[float, float] | None = None, width: int = 400,
               height: int = 250) -> str:
    """One SVG chart: each series raw (faded) plus its moving average (solid), with a legend."""
    drawn = [(name, colour, xy) for name, colour, xy in series if xy]
    if not drawn:
        return (f'<div class="chart muted" style="width:{width}px;padding:20px">{esc(title)}: '
                "nothing logged</div>")
    left, right, top, bottom = 52, 12, 44, 34
    xs = [x for _, _, xy in drawn for x, _ in xy]
    ys = [y for _, _, xy in drawn for _, y in xy]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = y_range or (min(0.0, min(ys)), max(ys) if max(ys) > 0 else 1.0)
    sx = lambda x: left + (width - left - right) * (x - x0) / (x1 - x0)  # noqa: E731
    sy = lambda y: top + (height - top - bottom) * (1 - (y - y0) / ((y1 - y0) or 1))  # noqa: E731
    parts = [f'<text x="{left}" y="18" font-size="14" font-weight="600">{esc(title)}</text>']
    for i in range(5):
        value = y0 + (y1 - y0) * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{sy(value):.1f}" y2="{sy(value):.1f}" '
            f'stroke="{"#8c959f" if i == 0 else "#e4e7eb"}"/><text x="{left - 6}" '
            f'y="{sy(value) + 4:.1f}" font-size="11" text-anchor="end" fill="#656d76">'
            f"{value:.3g}</text>")
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" font-size="11" '
                 f'text-anchor="middle" fill="#656d76">step (1 to {x1:g})</text>'
                 f'<text x="12" y="{(top + height - bottom) / 2:.0f}" font-size="11" '
                 f'fill="#656d76" transform="rotate(-90 12 {(top + height - bottom) / 2:.0f})" '
                 f'text-anchor="middle">{esc(y_label)}</text>')
    legend_x = left
    for name, colour, xy in drawn:
        window = max(1, len(xy) // 20)
        smooth = list(zip([x for x, _ in xy], moving_average([y for _, y in xy], window),
                          strict=True))
        parts.append(f'<path d="{_path(xy, sx, sy)}" stroke="{colour}" stroke-opacity=".25" '
                     'fill="none" stroke-width="1"/>'
                     f'<path d="{_path(smooth, sx, sy)}" stroke="{colour}" fill="none" '
                     f'stroke-width="2"><title>{esc(name)} (mean of {window})</title></path>')
        parts.append(f'<rect x="{legend_x}" y="27" width="12" height="4" fill="{colour}"/>'
                     f'<text x="{legend_x + 16}" y="32" font-size="11">{esc(name)}'
                     f"<title>last {smooth[-1][1]:.3g}</title></text>")
        legend_x += 28 + 7 * len(name)
    return (f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
            f' role="img" aria-label="{esc(title)}">{"".join(parts)}</svg>')


def sft_loss_chart(history: list[dict[str, Any]]) -> str:
    """Training loss per SFT step."""
    return line_chart("SFT: training loss", [("loss", "#3b6fb6", points(history, "loss"))],
                      "loss")


def grpo_reward_chart(history: list[dict[str, Any]]) -> str:
    """The mean of each GRPO reward per step, on a 0-1 axis."""
    rewards = [(name, colour, points(history, f"rewards/{name}_reward/mean"))
               for name, colour in REWARD_COLOURS.items()]
    return line_chart("GRPO: mean reward per step", rewards, "reward", y_range=(0.0, 1.0))


CURVES_NOTE = ('<p class="muted">Curves: faded, each logged step; solid, a moving average. GRPO '
               "rewards: format (&lt;think&gt; then &lt;answer&gt;), outcome (the answer as "
               "scored), process (the reasoning's factuality against the report, paid only for a "
               "right answer).</p>")
