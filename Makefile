# One entry point for people and CI. Everything installs from pyproject.toml into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA := data/demo
CUSTOMERS := 20000
AS_OF := 2025-06-30
SCORE_AS_OF := 2025-12-31
BUDGET := 5000
# pytest-xdist: one worker per usable CPU; each file (or dear shared fixture) one group
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup
# Python keeps compiled modules (git-ignored __pycache__) even where the environment says
# not to (PYTHONDONTWRITEBYTECODE, common in containers): else every test worker, server,
# CLI run, notebook kernel and Spark worker compiles the same sources again (~5 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv demo test test-fast lint bench bench-features bench-train bench-serve bench-start bench-score bench-load bench-quality bench-uplift bench-engagement bench-scale report-check docs docs-build clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/churn generate --customers $(CUSTOMERS) --seed 7 --out $(DATA)
	$(BIN)/churn features --data $(DATA) --as-of $(AS_OF)
	$(BIN)/churn train --data $(DATA) --promote
	$(BIN)/churn train-uplift --data $(DATA) --promote
	$(BIN)/churn models
	$(BIN)/churn features --data $(DATA) --as-of $(SCORE_AS_OF)
	$(BIN)/churn score --data $(DATA) --as-of $(SCORE_AS_OF) --out $(DATA)/scores.parquet
	$(BIN)/churn campaign --scores $(DATA)/scores.parquet --budget $(BUDGET) --out $(DATA)/campaign.csv
	$(BIN)/churn report --data $(DATA) --scores $(DATA)/scores.parquet --out report.html
	@echo
	@echo "Demo done. Start the scoring API with:"
	@echo "  CHURN_SERVING__API_KEY=change-me $(BIN)/churn serve --data $(DATA)"
	@echo "then open http://127.0.0.1:3000 (Swagger) or see docs/serving.md for curl examples."

test: venv
	$(PYTEST)

# The inner loop: everything but the tests marked slow (servers, Spark, notebooks, end to end).
test-fast: venv
	$(PYTEST) -m "not slow"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: bench-features bench-train bench-serve bench-start bench-score bench-load bench-quality bench-uplift bench-engagement bench-scale

bench-scale: venv
	$(BIN)/python -m benchmarks.scale

bench-uplift: venv
	$(BIN)/python -m benchmarks.uplift

bench-features: venv
	$(BIN)/python -m benchmarks.features

bench-train: venv
	$(BIN)/python -m benchmarks.train

bench-serve: venv
	$(BIN)/python -m benchmarks.serve

bench-start: venv
	$(BIN)/python -m benchmarks.start

bench-score: venv
	$(BIN)/python -m benchmarks.score

bench-load: venv
	$(BIN)/python -m benchmarks.load

bench-quality: venv
	$(BIN)/python -m benchmarks.quality

bench-engagement: venv
	$(BIN)/python -m benchmarks.engagement

report-check: venv
	$(BIN)/python -m benchmarks.report_check

# The documentation site (docs/, mkdocs.yml): served with live reload, or built --strict
# into site/ so that a broken link, anchor or docstring reference fails (CI runs it).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

docs-build: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) data/demo report.html site
