"""What the long commands (mine, predict, score) and the demo report while they run and when
they end: the bar's rate column and the one summary every resumable job returns.

The bar and the closing line show the same rate, items done this run over the seconds since the
work began, so a user never sees two speeds for one run (rich's own speed column is a moving
window, which reads thousands per second when a batch of 64 lands at once).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rich.progress import ProgressColumn, Task
from rich.text import Text


def format_rate(per_second: float) -> str:
    """`0.4`, `12.5`, `1,305`: a decimal only where it says something."""
    return f"{per_second:,.0f}" if per_second >= 100 else f"{per_second:.1f}"


@dataclass(slots=True)
class JobSummary:
    """What one resumable job did, for its closing line and for the code that called it.

    `done` items were written by this run and `already_done` were found from an earlier one;
    `outcomes` counts the done items by what became of them (mining: kept, repaired, dropped…);
    `skipped` counts items left out for good, by reason (a missing image); `failed` items were
    not written and a rerun retries them (a server down, a model that returned nothing), the
    first one's reason in `first_failure`; `malformed` holds the `file:line: why` of input
    lines that could not be read. `seconds` runs from the start of the work to its end.
    """

    done: int = 0
    already_done: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    first_failure: str = ""
    malformed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Items handled per second of this run (done, skipped or failed, as the progress bar
        counts them): what the bar showed at its end."""
        handled = self.done + self.failed + sum(self.skipped.values())
        return handled / self.seconds if self.seconds else 0.0

    def fail(self, why: str) -> None:
        """Count one item that was not written (a rerun retries it)."""
        self.failed += 1
        self.first_failure = self.first_failure or why

    def headline(self, verb: str) -> str:
        """`mined 120 items in 1.2 s (98.0 items/s)`."""
        return (f"{verb} {self.done} items in {self.seconds:.1f} s "
                f"({format_rate(self.rate)} items/s)")


class RateColumn(ProgressColumn):
    """Throughput per second since the row started (see the module docstring). With a `unit`
    every row counts that (reports, studies…); without one each row names its own in its task
    field `unit` (the demo's stages count items or steps), and a row with no unit or no total
    yet (a stage still loading) shows nothing."""

    def __init__(self, unit: str | None = None) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        unit = self.unit
        if unit is None:
            unit = task.fields.get("unit") or ""
            if not unit or task.total is None:
                return Text("")
        elapsed = task.finished_time if task.finished else task.elapsed
        done = task.completed - task.fields.get("resumed", 0)  # a resumed row's earlier work
        if done <= 0 or not elapsed:
            return Text(f"- {unit}/s", style="progress.data.speed")
        return Text(f"{format_rate(done / elapsed)} {unit}/s",
                    style="progress.data.speed")
