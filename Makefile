# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need.
.PHONY: demo test unit lint tools venv policy clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Engine tests mostly wait on CLI processes and retries: a worker more than the cores keeps them busy.
WORKERS ?= 4

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# The policy pack's own virtualenv, for `pulumi preview --policy-pack policy` (policy/PulumiPolicy.yaml).
policy: policy/venv/.installed

policy/venv/.installed: policy/requirements.txt
	$(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install --quiet -r policy/requirements.txt
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy policy/__main__.py  # a second __main__: type-checked on its own

# The fast loop: every test that needs neither the Pulumi CLI nor Azurite nor another tool (seconds).
unit: venv
	$(BIN)/python -m pytest -n 2 -m "not engine and not azurite and not tools"

# The Pulumi CLI (built once when absent) and the pinned test tools, before any test runs,
# so that no test carries an install; all of them are built or installed side by side.
tools: venv
	@set -e; scripts/ensure-pulumi.sh >/dev/null & pids=$$!; \
	for tool in actionlint gitlab-ci-local azurite chromium report-schemas ms-sdks policy-venv azure-cli; do \
		scripts/ensure-tools.sh $$tool >/dev/null & pids="$$pids $$!"; \
	done; \
	for pid in $$pids; do wait $$pid; done

# Lint, type-check, then every test, the real-engine ones included, on $(WORKERS) workers.
test: lint tools
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

demo: venv
	scripts/demo.sh

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
