"""`--workers` speed-up of `chestx mine` and `chestx score` (rules engines) on this machine.

    python benchmarks/workers.py [--studies 400] [--workers 1,2]

A synthetic cohort of --studies studies is built into a benchmark in a temporary folder; each
row runs the command as a user would (a fresh process, `python -m chestx_reasoner`, so worker
start-up and spaCy loading are counted) and reports wall seconds, items/s and the speed-up over
one worker, checking that the output bytes match one worker's (under PYTHONHASHSEED=0, see
`chestx_reasoner.parallel`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def run(args: list[str]) -> float:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chestx_reasoner", *args], env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=400)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    root = Path(tempfile.mkdtemp(prefix="chestx-workers-"))
    run(["synth", "--out", str(root / "cohort"), "--n", str(args.studies), "--seed", "0"])
    run(["build", "--source", "synthetic", "--root", str(root / "cohort"), "--out",
         str(root / "bench")])
    items = len((root / "bench" / "train.jsonl").read_text().splitlines())
    table = Table(title=f"--workers on {os.cpu_count()} CPUs, {items} items "
                        f"({args.studies}-study synthetic cohort), wall time incl. start-up")
    for column in ("command", "workers", "seconds", "items/s", "speed-up", "same bytes"):
        table.add_column(column, justify="right")
    for command in ("mine", "score"):
        base = None
        reference = None
        for workers in counts:
            out = root / f"{command}-{workers}"
            if command == "mine":
                seconds = run(["mine", "--bench", str(root / "bench" / "train.jsonl"), "--out",
                               str(out) + ".jsonl", "--workers", str(workers)])
                data = Path(str(out) + ".jsonl").read_bytes()
            else:
                predictions = root / "predictions.jsonl"
                if not predictions.exists():
                    lines = (root / "mine-1.jsonl").read_text().splitlines()
                    predictions.write_text("".join(json.dumps(
                        {**json.loads(line), "prediction": "<answer>A</answer>"}) + "\n"
                        for line in lines))
                seconds = run(["score", "--predictions", str(predictions), "--out", str(out),
                               "--no-html", "--workers", str(workers)])
                data = (out / "items.jsonl").read_bytes()
            base = base or seconds
            reference = reference or data
            table.add_row(command, str(workers), f"{seconds:.1f}", f"{items / seconds:.0f}",
                          f"{base / seconds:.2f}x", "yes" if data == reference else "NO")
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
