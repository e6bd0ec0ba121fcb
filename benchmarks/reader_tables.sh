#!/usr/bin/env bash
# Every reader table of the dev files in one run: judge sensitivity, judge agreement and
# mining fidelity on each records file. Compare two revisions by running it in each tree:
#   benchmarks/reader_tables.sh OUTDIR [DATA ...]
# Writes OUTDIR/<data>.<benchmark>.txt; diff two OUTDIRs, ignoring the speed lines.
set -euo pipefail
out=${1:?usage: benchmarks/reader_tables.sh OUTDIR [DATA ...]}; shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
data=("$@")
[ ${#data[@]} -gt 0 ] || data=("$here/../shared/data/radrscore-mimic-dev.jsonl" \
                               "$here/../shared/data/radrscore-dev.jsonl")
mkdir -p "$out"
for file in "${data[@]}"; do
  name=$(basename "$file" .jsonl)
  for bench in judge_sensitivity judge_agreement mining_fidelity; do
    PYTHONPATH="$here/src" "$python" "$here/benchmarks/$bench.py" --data "$file" \
      > "$out/$name.$bench.txt" 2>&1
    echo "$out/$name.$bench.txt"
  done
done
