"""Mining speed: the rules backend in items/s on one core, and the llm backend's requests in
flight against a local chat-completions server with 200 ms latency.

    python benchmarks/mining.py --bench BENCH/train.jsonl [--limit 2000] [--llm-items 64]

Without --bench a 400-study synthetic cohort and its benchmark are made in a temporary folder.
The llm rows use tests/llm_server.py with a scripted model that answers each pass; no cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from rich.console import Console
from rich.table import Table

from chestx_reasoner.bench.build import BuildConfig, SourceSpec, build_benchmark
from chestx_reasoner.data.synth import SynthConfig, synthesize
from chestx_reasoner.llm.client import LLMSettings
from chestx_reasoner.mining.llm_miner import LLMBackend
from chestx_reasoner.mining.run import RulesBackend, mine_file

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import FakeChatServer  # noqa: E402


def scripted_model(request: dict) -> tuple[str, object]:
    text = next(m["content"] for m in request["messages"] if m["role"] == "user")
    if "Plan how to answer" in text:
        return ("json", {"analysis": "a", "findings": [{"finding": "x", "why": "y"}]})
    if "Radiology report:" in text:
        return ("json", {"evidence": []})
    answer = re.search(r"Correct answer: (.+)", text).group(1)
    return ("json", {"steps": ["The question is read.", "The image is examined.",
                               f"So the answer is {answer}."]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--llm-items", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        bench = args.bench
        if bench is None:
            synthesize(tmp / "cohort", SynthConfig(n=400, seed=0, size=64))
            build_benchmark([SourceSpec("synthetic", tmp / "cohort")], tmp / "bench",
                            BuildConfig())
            bench = tmp / "bench" / "train.jsonl"
        table = Table(title="chestx mine")
        for column in ("backend", "items", "concurrency", "seconds", "items/s",
                       "max in flight", "statuses"):
            table.add_column(column, justify="left" if column in ("backend", "statuses")
                             else "right")
        summary = mine_file(bench, tmp / "rules.jsonl", RulesBackend(), limit=args.limit)
        table.add_row("rules", str(summary.done), "-", f"{summary.seconds:.1f}",
                      f"{summary.rate:.0f}", "-", json.dumps(dict(summary.outcomes)))
        for concurrency in (1, 8, 32):
            with FakeChatServer(default=scripted_model, latency_s=0.2) as server:
                settings = LLMSettings(url=server.url, model="bench", concurrency=concurrency)
                start = time.perf_counter()
                result = mine_file(bench, tmp / f"llm{concurrency}.jsonl",
                                   LLMBackend(settings), limit=args.llm_items)
                seconds = time.perf_counter() - start
                table.add_row("llm (200 ms server)", str(result.items), str(concurrency),
                              f"{seconds:.1f}", f"{result.items / seconds:.1f}",
                              str(server.max_in_flight), json.dumps(dict(result.status)))
        Console().print(table)


if __name__ == "__main__":
    main()
