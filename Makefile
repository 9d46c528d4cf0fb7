# One entry point for people and CI. Everything installs from pyproject.toml into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA := data/demo
AS_OF := 2025-06-30

.PHONY: venv demo test lint bench bench-features clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[dev]'
	touch $@

demo: venv
	$(BIN)/churn generate --customers 2000 --seed 7 --out $(DATA)
	$(BIN)/churn features --data $(DATA) --as-of $(AS_OF)

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: bench-features

bench-features: venv
	$(BIN)/python -m benchmarks.features

clean:
	rm -rf $(VENV) data/demo
