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
$(STAMP): $(BIN)/python pyproject.toml requirements/constraints.txt requirements/medspacy-nodeps.txt \
          requirements/frameworks-nodeps.txt
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -c requirements/constraints.txt -e '.[dev]'
	$(PIP) install --no-deps -r requirements/medspacy-nodeps.txt
	$(PIP) install --no-deps -r requirements/frameworks-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

# The whole pipeline end to end on the embedded synthetic cohort (`chestx demo --help`):
# interrupt it at any point and run `make demo` again to resume.
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/chestx demo --out demo-out $(DEMO_ARGS)

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
	  | grep -v -iE '^(medspacy|verl==|lmms.eval==|tensordict==|torch==)'; } > requirements/constraints.new
	mv requirements/constraints.new requirements/constraints.txt

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
