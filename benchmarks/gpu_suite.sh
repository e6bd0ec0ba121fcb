#!/usr/bin/env bash
# The GPU suite (benchmarks/gpu_suite.py) on a GPU machine with Python 3.12, PyTorch,
# Transformers, accelerate and PEFT but no network: what else it imports travels as wheels.
#
#   benchmarks/gpu_suite.sh --fetch     # here, with PyPI: the wheels of gpu_wheels.txt -> .whl/
#   benchmarks/gpu_suite.sh [ARGS]      # there: install .whl/*.whl into /tmp/site, run the suite
#
# On this workplace's device tool: fetch here, then run `benchmarks/gpu_suite.sh` with carry
# [".whl"] and timeout_s 600 (sized for the issue's eight minutes on one H100/H200, but not yet
# run on a GPU: no timing here is measured). ARGS go to gpu_suite.py (e.g. --sections
# sft,generate). The carried set is TRL, datasets and Transformers 5.23 (our pin), about 15 MB.
# The judge's spaCy + medspacy stack is about 62 MB of wheels and medspacy/PyRuSH have no cp312
# wheels on PyPI, so it is not carried: there the judge row says so and GRPO's process reward
# is off (its cost is judge time, measured on CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.whl
if [ "${1:-}" = "--fetch" ]; then
  exclude=$(git rev-parse --git-path info/exclude)  # a worktree's .git is a file
  mkdir -p "$(dirname "$exclude")"
  grep -qxF "/$WHEELS/" "$exclude" 2>/dev/null || echo "/$WHEELS/" >> "$exclude"
  mkdir -p "$WHEELS"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$WHEELS" -r benchmarks/gpu_wheels.txt
  du -sh "$WHEELS"
  exit 0
fi
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 benchmarks/gpu_suite.py "$@"
