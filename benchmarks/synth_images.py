"""Synthetic radiograph rendering speed (images/s on one core), by size and finding load.

    python benchmarks/synth_images.py [--sizes 256 512] [--seconds 2] [--jpeg]

Targets at 256 x 256: 150 images/s (hard floor 60/s). "none" is a normal study, "typical"
three findings plus a device, "all" every renderable finding at once (a worst case).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

import numpy as np

try:
    import chestx_reasoner  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from chestx_reasoner.data.synth.images import encode_jpeg, render_radiograph
from chestx_reasoner.data.synth.spec import RENDERABLE, Anatomy, VisibleFinding

LOADS = {
    "none": [],
    "typical": [
        VisibleFinding("pleural effusion", "right", None, 2),
        VisibleFinding("atelectasis", "right", "lower", 1),
        VisibleFinding("cardiomegaly", None, None, 1),
        VisibleFinding("central venous catheter", "right"),
    ],
    "all": [VisibleFinding(name, "left", "lower", 2) for name in RENDERABLE],
}


def measure(size: int, findings: list[VisibleFinding], seconds: float, jpeg: bool) -> float:
    """Images per second over a fresh patient per image (as a cohort renders them)."""
    rng = np.random.default_rng(0)
    anatomies = [Anatomy.sample(rng, view="AP" if i % 3 == 0 else "PA") for i in range(64)]
    render_radiograph(anatomies[0], findings, size, rng)  # warm the per-size caches
    count, start = 0, time.perf_counter()
    while True:
        image = render_radiograph(anatomies[count % len(anatomies)], findings, size, rng)
        if jpeg:
            encode_jpeg(image)
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= 5:
            return count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--loads", nargs="+", choices=list(LOADS), default=list(LOADS))
    parser.add_argument("--seconds", type=float, default=2.0, help="time per configuration")
    parser.add_argument("--jpeg", action="store_true", help="include JPEG encoding")
    args = parser.parse_args(argv)
    print(f"{'size':>5}  {'findings':<8} {'n':>3}  {'images/s':>9}  {'ms/image':>9}")
    for size in args.sizes:
        for load in args.loads:
            findings = LOADS[load]
            rate = measure(size, findings, args.seconds, args.jpeg)
            print(f"{size:>5}  {load:<8} {len(findings):>3}  {rate:>9.1f}  {1000 / rate:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
