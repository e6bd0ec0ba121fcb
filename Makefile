# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip --disable-pip-version-check -q

.PHONY: demo test install lint bench freeze clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency files change.
$(STAMP): $(BIN)/python pyproject.toml requirements/constraints.txt requirements/medspacy-nodeps.txt
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -c requirements/constraints.txt -e '.[dev]'
	$(PIP) install --no-deps -r requirements/medspacy-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

# Until the end-to-end demo exists (issue 10), the demo runs the stages built so far on a small
# synthetic cohort: cohort + contact sheet, benchmark, mined chains, an untrained tiny model's
# predictions scored beside the reference and random lines; and labels the examples.
DEMO_PRED := demo-out/predictions
demo: $(STAMP)
	@echo "chestx demo (the full pipeline) is not implemented yet: running the stages built so far."
	$(BIN)/chestx synth --out demo-out/cohort --n 200 --seed 0 --preview 24
	$(BIN)/chestx build --source synthetic --root demo-out/cohort --out demo-out/bench
	$(BIN)/chestx mine --bench demo-out/bench/train.jsonl --out demo-out/bench/mined.jsonl
	$(BIN)/chestx model init --out demo-out/tiny --data demo-out/bench/train.jsonl --overwrite
	$(BIN)/chestx predict --bench demo-out/bench/test.jsonl --model hf:demo-out/tiny \
	  --out $(DEMO_PRED)/tiny.jsonl --max-new-tokens 64 --device cpu
	$(BIN)/chestx predict --bench demo-out/bench/test.jsonl --model reference \
	  --out $(DEMO_PRED)/reference.jsonl
	$(BIN)/chestx predict --bench demo-out/bench/test.jsonl --model random \
	  --out $(DEMO_PRED)/random.jsonl
	cat $(DEMO_PRED)/tiny.jsonl $(DEMO_PRED)/reference.jsonl $(DEMO_PRED)/random.jsonl \
	  > $(DEMO_PRED)/all.jsonl
	$(BIN)/chestx score --predictions $(DEMO_PRED)/all.jsonl --out demo-out/scored
	$(BIN)/chestx label --reports examples/reports.jsonl --out demo-out/labels.jsonl
	@echo "Cohort in demo-out/cohort (contact sheet: demo-out/cohort/preview.png),"
	@echo "benchmark and mined chains in demo-out/bench, tiny model in demo-out/tiny,"
	@echo "scores in demo-out/scored (report.html), labels in demo-out/labels.jsonl"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

bench: $(STAMP)
	$(BIN)/python benchmarks/labeler.py
	$(BIN)/python benchmarks/synth.py
	$(BIN)/python benchmarks/mining.py
	$(BIN)/python benchmarks/llm_concurrency.py
	$(BIN)/python benchmarks/predict_throughput.py
	@if [ -f ../shared/data/radrscore-dev.jsonl ]; then $(BIN)/python benchmarks/judge_agreement.py; \
	else echo "judge_agreement: ../shared/data/radrscore-dev.jsonl not here, skipped"; fi

freeze: $(STAMP)
	{ sed -n '1,2p' requirements/constraints.txt; $(BIN)/pip freeze --exclude-editable \
	  | grep -v -iE '^(medspacy|torch==)'; } > requirements/constraints.new
	mv requirements/constraints.new requirements/constraints.txt

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
