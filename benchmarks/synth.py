"""Synthetic cohort speed: studies/s on one core (target >= 50 at 256 px), and with workers.

    python benchmarks/synth.py [--n 400] [--sizes 256,512] [--workers 1,2]

Measures the whole `synthesize` call into a fresh temporary folder (plan, reports, rendering,
JPEG encoding, tables), plus planning alone (reports without images).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

from rich.console import Console
from rich.table import Table

from chestx_reasoner.data.synth import SynthConfig, synthesize
from chestx_reasoner.data.synth.writer import plan_reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="studies per run")
    parser.add_argument("--sizes", default="256,512", help="image sizes, comma-separated")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    args = parser.parse_args()
    table = Table(title=f"chestx synth, {args.n} studies, {os.cpu_count()} CPUs")
    for column in ("stage", "size", "workers", "seconds", "studies/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    start = time.perf_counter()
    list(plan_reports(SynthConfig(n=args.n)))
    elapsed = time.perf_counter() - start
    table.add_row("plan + reports", "-", "1", f"{elapsed:.2f}", f"{args.n / elapsed:.0f}")
    for size in (int(s) for s in args.sizes.split(",")):
        for workers in (int(w) for w in args.workers.split(",")):
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                synthesize(folder, SynthConfig(n=args.n, size=size), workers=workers)
                elapsed = time.perf_counter() - start
            table.add_row("synthesize (all)", str(size), str(workers), f"{elapsed:.2f}",
                          f"{args.n / elapsed:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
