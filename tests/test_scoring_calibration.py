"""The GPT-4o-scale calibration: fitted, shipped, and written beside the raw scores."""

from __future__ import annotations

import json
from pathlib import Path

from chestx_reasoner.scoring import calibration
from chestx_reasoner.scoring.judge_rules import RulesJudge
from chestx_reasoner.scoring.score import score_file


def test_fit_recovers_a_linear_map_and_apply_clips_to_the_unit_interval() -> None:
    xs = [i / 20 for i in range(21)]
    pairs = {"binary": {"completeness": [(x, 0.1 + 0.5 * x) for x in xs]},
             "temporal": {"completeness": [(0.5, 0.5)] * 3}}  # too few to fit
    fitted = calibration.fit(pairs, "test")
    a, b = fitted.maps["binary"]["completeness"]
    assert (round(a, 3), round(b, 3)) == (0.1, 0.5)
    assert "temporal" not in fitted.maps
    out = fitted.apply("binary", {"completeness": 1.0, "factuality": 1.4,
                                  "effectiveness": None})
    assert out["completeness"] == 0.6 and out["factuality"] == 1.0  # identity, clipped
    assert out["effectiveness"] is None and out["radrscore"] is None
    full = fitted.apply("binary", {"completeness": 0.0, "factuality": 0.5,
                                   "effectiveness": 0.8})
    assert full["radrscore"] == round((0.1 + 0.5 + 0.8) / 3, 4)


def test_the_shipped_calibration_round_trips_and_covers_every_judged_task(
        tmp_path: Path) -> None:
    shipped = calibration.shipped()
    assert {"binary", "single", "multi", "multi_open", "temporal"} <= set(shipped.maps)
    assert "calib" in shipped.source
    path = tmp_path / "c.json"
    path.write_text(shipped.to_json(), encoding="utf-8")
    assert calibration.read(path) == shipped


def test_chestx_score_writes_calibrated_values_beside_the_raw_ones(tmp_path: Path) -> None:
    record = {"id": "a", "task": "binary", "question": "Does this chest X-ray show "
              "pleural effusion?", "options": ["Yes", "No"], "answer": "A",
              "report": "Small right pleural effusion.",
              "reasoning": ["A small right pleural effusion is seen.", "The answer is A."],
              "prediction": "<think>A small right pleural effusion is seen.</think>"
                            "<answer>A</answer>"}
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    score_file(path, tmp_path / "out", RulesJudge(), html=False)
    item = json.loads((tmp_path / "out" / "items.jsonl").read_text().splitlines()[0])
    expected = calibration.shipped().apply("binary", item)
    assert item["calibrated"] == expected
    assert item["radrscore"] != item["calibrated"]["radrscore"]  # raw stays raw
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    cell = summary["models"]["default"]["by_task"]["binary"]
    assert cell["calibrated"]["radrscore"] == expected["radrscore"]
