"""report.html: self-contained, shows the summary numbers and judged steps, escapes record text."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from chestx_reasoner.scoring.html_report import write_report
from chestx_reasoner.scoring.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
EVIL = "<script>alert('x')</script>"


def _items() -> list[dict]:
    items = []
    verdicts = ("supported", "contradicted", "unsupported")
    for i in range(12):
        for model in ("tiny", "gpt-4o"):
            task = ("binary", "single", "multi_open")[i % 3]
            right = (i + len(model)) % 3 != 0
            items.append(
                {
                    "id": f"{task}/{i}",
                    "model": model,
                    "task": task,
                    "question": f"Does this chest X-ray show finding {i}?",
                    "options": [] if task == "multi_open" else ["Yes", "No"],
                    "answer": "pleural effusion" if task == "multi_open" else "A",
                    "parsed_answer": "A" if right else "B",
                    "prediction": "<think>…</think><answer>A</answer>",
                    "correct": None if task == "multi_open" else right,
                    "answer_score": 0.5 if task == "multi_open" else float(right),
                    "completeness": 0.5,
                    "factuality": 0.25 * (i % 4),
                    "effectiveness": 1.0,
                    "radrscore": None if i == 0 else (1.5 + 0.25 * (i % 4)) / 3,
                    "steps": [
                        {"text": f"Step {k} about the lungs.", "verdict": verdicts[k % 3],
                         "evidence": f"reference step {k}" if k else None}
                        for k in range(3)
                    ],
                    "reference_steps": ["The lungs are clear.", "So the answer is A."],
                    "report": "FINDINGS: Clear lungs. IMPRESSION: Normal.",
                    "pred_key_findings": [{"finding": "effusion", "status": "absent",
                                           "location": None}],
                    "ref_key_findings": [{"finding": "effusion", "status": "absent",
                                          "location": "left"}],
                }
            )
    items[5]["report"] = EVIL
    items[5]["steps"][0]["text"] = EVIL
    return items


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[dict]]:
    items = _items()
    summary = summarize(items, n_boot=200)
    out = tmp_path_factory.mktemp("scored")
    path = write_report(out, summary, items, sample=len(items))
    return path, summary, items


def test_report_is_one_self_contained_file(page: tuple[Path, dict, list[dict]]) -> None:
    path, _, _ = page
    assert path == path.parent / "report.html" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp file left
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower()  # no JS at all, and record text is escaped
    assert "<link" not in html.lower()
    assert "<style>" in html


def test_report_shows_every_summary_number(page: tuple[Path, dict, list[dict]]) -> None:
    path, summary, _ = page
    html = path.read_text(encoding="utf-8")
    for model, data in summary["models"].items():
        assert model in html
        for cell in [*data["by_task"].values(), data["overall"]]:
            for metric in ("accuracy", "completeness", "factuality", "effectiveness", "radrscore"):
                if cell[metric] is None:
                    continue
                low, high = cell[f"{metric}_ci"]
                assert f"{cell[metric]:.2f}" in html
                assert f"[{low:.2f}–{high:.2f}]" in html
    # one chart for overall plus one per task, each drawn as inline SVG
    assert html.count("<svg") == 1 + 3
    assert html.count("<rect") >= 2 * 2 * 4 - 1


def test_report_colours_step_verdicts_and_escapes(page: tuple[Path, dict, list[dict]]) -> None:
    path, _, items = page
    html = path.read_text(encoding="utf-8")
    for colour in ("#1a7f37", "#cf222e", "#8c959f"):  # supported, contradicted, unsupported
        assert colour in html
    for verdict in ("supported", "contradicted", "unsupported"):
        assert html.count(f'class="step {verdict}"') == len(items)
    assert 'title="reference step 1"' in html  # evidence as tooltip
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert html.count('class="card"') == len(items)
    assert "✓ correct" in html and "✗ wrong" in html


def test_report_sample_is_seeded(tmp_path: Path) -> None:
    items = _items()
    summary = summarize(items, n_boot=50)
    one = write_report(tmp_path / "a", summary, items, sample=5, seed=1).read_text()
    two = write_report(tmp_path / "b", summary, items, sample=5, seed=1).read_text()
    other = write_report(tmp_path / "c", summary, items, sample=5, seed=2).read_text()
    assert one == two and one != other
    assert one.count('class="card"') == 5


@pytest.mark.skipif(
    not any(shutil.which(name) for name in BROWSERS), reason="no chromium on PATH"
)
def test_screenshot_of_the_report(page: tuple[Path, dict, list[dict]], tmp_path: Path) -> None:
    path, _, _ = page
    png = tmp_path / "report.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), str(path), str(png),
         "--width", "1400"],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with Image.open(png) as image:
        assert image.width >= 800 and image.height >= 600
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50  # text, bars and verdict colours, not blank


def test_screenshot_script_says_when_no_browser(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    script = ROOT / "scripts" / "screenshot.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(page), str(tmp_path / "o.png")],
        capture_output=True, text=True, timeout=30, check=False, env={"PATH": str(tmp_path)},
    )
    assert proc.returncode == 1
    assert "no Chromium found on PATH" in proc.stderr


def test_demo_report_sums_up_before_the_item_cards_and_wraps_the_pipeline(
        tmp_path: Path) -> None:
    import json

    from chestx_reasoner.demo.plan import DemoSettings, plan_for
    from chestx_reasoner.demo.report import write_demo_report
    from chestx_reasoner.demo.stages import TRAINED, DemoPaths

    items = [{**item, "model": TRAINED[-1] if item["model"] == "tiny" else "random"}
             for item in _items()]
    paths = DemoPaths(tmp_path / "demo")
    paths.scored.mkdir(parents=True)
    (paths.scored / "summary.json").write_text(json.dumps(summarize(items, n_boot=50)))
    (paths.scored / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    write_demo_report(paths, plan_for(DemoSettings(1000, 3), 1.0))
    html = paths.report.read_text()
    first_card = html.index('class="card"')
    for section in ("<h2>By task</h2>", 'class="legend"', "<h2>Pipeline</h2>",
                    'class="summary pipeline"'):
        assert html.index(section) < first_card, section
    # The long stage commands wrap inside a fixed-layout table instead of widening the page.
    assert re.search(r"table\.pipeline\{table-layout:fixed;width:100%\}", html)
    assert re.search(r"\.pipeline td\{[^}]*overflow-wrap:anywhere", html)
