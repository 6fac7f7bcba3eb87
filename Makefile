# The two commands of the README: `make up` runs the engine, `make test` runs the tests.
# Both create .venv/ from requirements.lock on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: up test lint typecheck unit integration e2e bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TIKETI needs Python 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps -e .
	@touch $@

up: $(STAMP)
	exec $(BIN)/tiketi up

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit integration e2e: $(STAMP)
	$(BIN)/pytest -q tests/$@

bench: $(STAMP)
	$(BIN)/python -m benchmarks.engine_bench

lock: $(STAMP)
	$(PIP) install uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -q -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
