"""The offline judge's scores on GPT-4o's scale: an explicit, shipped linear calibration.

Our judge counts the key findings a reasoning must establish (the options' findings, the
chain's findings, normal anatomy); GPT-4o, the paper's judge, extracts every observation of
a chain (devices, signs, each normal structure) and so gives lower completeness on some
tasks and higher on others. Item-level agreement does not depend on that scale, but a
number put beside the paper's tables does. So besides the raw components (always written,
and the ones our tests and comparisons use) `chestx score` writes `calibrated` values: per
task and component, `a + b * raw` clipped to [0, 1], with `a, b` fitted by least squares on
the calib half of real model outputs judged by GPT-4o (`benchmarks/judge_agreement.py
--fit-calibration`), and checked on the other half. RadRScore calibrated is the mean of the
calibrated components. Answer correctness is not an input: only the raw component is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

COMPONENTS = ("completeness", "factuality", "effectiveness")
RESOURCE = "judge_calibration.json"


@dataclass(frozen=True)
class Calibration:
    """Per task and component, (a, b) of `a + b * raw`; tasks it has no map for stay raw."""

    maps: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    source: str = ""

    def apply(self, task: str, scores: dict[str, Any]) -> dict[str, float | None]:
        """Calibrated components and RadRScore of one item (None where the raw one is)."""
        out: dict[str, float | None] = {}
        for component in COMPONENTS:
            raw = scores.get(component)
            a, b = self.maps.get(task, {}).get(component, (0.0, 1.0))
            out[component] = None if raw is None else round(min(1.0, max(0.0, a + b * raw)), 4)
        parts = [v for v in out.values() if v is not None]
        out["radrscore"] = round(sum(parts) / len(parts), 4) if len(parts) == 3 else None
        return out

    def to_json(self) -> str:
        return json.dumps({"source": self.source, "maps": {
            task: {c: list(ab) for c, ab in comps.items()} for task, comps in self.maps.items()
        }}, indent=2) + "\n"


def fit(pairs: dict[str, dict[str, list[tuple[float, float]]]], source: str) -> Calibration:
    """Least-squares `a + b * ours` per task and component from (ours, reference) pairs; a
    task with under 10 pairs keeps the identity (too few to fit)."""
    import numpy as np

    maps: dict[str, dict[str, tuple[float, float]]] = {}
    for task, by_component in sorted(pairs.items()):
        for component, xy in by_component.items():
            if len(xy) < 10:
                continue
            x, y = np.asarray(xy, float).T
            if x.std() == 0:
                continue
            b, a = np.polyfit(x, y, 1)
            maps.setdefault(task, {})[component] = (round(float(a), 4), round(float(b), 4))
    return Calibration(maps, source)


def read(path: Path | str) -> Calibration:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Calibration({task: {c: (float(a), float(b)) for c, (a, b) in comps.items()}
                        for task, comps in data.get("maps", {}).items()},
                       str(data.get("source", "")))


@lru_cache(maxsize=1)
def shipped() -> Calibration:
    """The calibration shipped with the package (identity if the resource is missing)."""
    resource = resources.files("chestx_reasoner") / "resources" / RESOURCE
    if not resource.is_file():
        return Calibration()
    return read(str(resource))
