"""Progress-display pieces shared by the long commands (mine, predict, score) and the demo."""

from __future__ import annotations

from rich.progress import ProgressColumn, Task
from rich.text import Text


class RateColumn(ProgressColumn):
    """Throughput per second. With a `unit` every row counts that (reports, studies…);
    without one each row names its own in its task field `unit` (the demo's stages count items
    or steps), and a row with no unit or no total yet (a stage still loading) shows nothing."""

    def __init__(self, unit: str | None = None) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        unit = self.unit
        if unit is None:
            unit = task.fields.get("unit") or ""
            if not unit or task.total is None:
                return Text("")
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} {unit}/s" if speed else f"- {unit}/s",
                    style="progress.data.speed")
