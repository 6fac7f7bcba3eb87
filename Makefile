# The two commands of the README: `make up` runs the engine, `make test` runs the tests.
# Both create .venv/ from requirements.lock on first use; `make test` also creates
# .venv-checkov/ from requirements-checkov.lock (checkov pins packaging<24, Ray needs >=24.2).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
PYTHON_OK := $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "TIKETI needs Python 3.11 or newer")'

CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: up test lint typecheck unit integration e2e bench terraform-scan lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON_OK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps -e .
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.lock
	@$(PYTHON_OK)
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip --disable-pip-version-check -q install -r requirements-checkov.lock
	@touch $@

up: $(STAMP)
	exec $(BIN)/tiketi up

test: $(STAMP) $(CHECKOV_STAMP) lint typecheck
	TIKETI_CHECKOV=$(CURDIR)/$(CHECKOV) $(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit integration e2e: $(STAMP)
	$(BIN)/pytest -q tests/$@

bench: $(STAMP)
	$(BIN)/python -m benchmarks.engine_bench

terraform-scan: $(CHECKOV_STAMP)
	$(CHECKOV) -d terraform --framework terraform --skip-download --quiet

lock: $(STAMP)
	$(PIP) install uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -q -o requirements.lock
	echo 'checkov==$(CHECKOV_VERSION)' | $(BIN)/uv pip compile - --python-version 3.11 --no-header -q -o requirements-checkov.lock

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
