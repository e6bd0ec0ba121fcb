"""The bar and the closing line of a long job show one rate for one run."""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console
from rich.progress import Progress

from chestx_reasoner.progress import JobSummary, RateColumn, format_rate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def rendered(progress: Progress, column: RateColumn, task_id: int) -> str:
    return column.render(progress.tasks[task_id]).plain


def test_bar_rate_is_the_runs_mean_not_a_window_over_one_batch() -> None:
    clock = Clock()
    column = RateColumn("items")
    progress = Progress(column, console=Console(file=io.StringIO()), get_time=clock)
    task = progress.add_task("score", total=None)
    clock.now += 5.0  # loading before the work starts is not counted
    progress.reset(task, total=128)
    clock.now += 2.0
    progress.advance(task, 64)
    clock.now += 0.001  # a second batch lands at once: rich's window would say 64,000/s
    progress.advance(task, 64)
    summary = JobSummary(done=128, seconds=2.001)
    assert rendered(progress, column, task) == f"{format_rate(summary.rate)} items/s" \
        == "64.0 items/s"


def test_a_resumed_rows_earlier_work_is_not_counted() -> None:
    clock = Clock()
    column = RateColumn()
    progress = Progress(column, console=Console(file=io.StringIO()), get_time=clock)
    task = progress.add_task("sft", total=None, unit="steps")
    progress.reset(task, total=100, completed=90)
    progress.update(task, resumed=90)  # as the demo's stage rows do
    assert rendered(progress, column, task) == "- steps/s"
    clock.now += 4.0
    progress.advance(task, 10)
    assert rendered(progress, column, task) == "2.5 steps/s"


def test_summary_rate_counts_what_the_bar_counts() -> None:
    summary = JobSummary(done=6, skipped=Counter({"missing image": 2}), seconds=2.0)
    summary.fail("server down")
    summary.fail("timeout")
    assert summary.rate == 5.0 and summary.first_failure == "server down"
    assert summary.headline("predicted") == "predicted 6 items in 2.0 s (5.0 items/s)"
    assert JobSummary().rate == 0.0
    assert [format_rate(r) for r in (0.44, 12.5, 1305.2)] == ["0.4", "12.5", "1,305"]
