# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need.
.PHONY: demo test lint venv clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Lint, type-check, then every test, the real-engine ones included (they build the CLI if needed).
test: lint
	scripts/ensure-pulumi.sh >/dev/null
	$(BIN)/python -m pytest

demo: venv
	scripts/demo.sh

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
