# The two commands a newcomer needs: `make demo` and `make test`. Both install what they need.
.PHONY: demo lab test unit lint tools venv policy lock audit clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Engine tests mostly wait on CLI processes and retries: a worker more than the cores keeps them busy.
WORKERS ?= 4

venv: $(VENV)/.installed

# locked_venv DIR LOCK: a virtualenv of $(PYTHON) (the one on PATH, as `python3 -m venv` would take; with pip,
# as `python -m venv` seeds it) holding exactly LOCK's pins, every file checked against its hash (make lock
# writes the locks). uv makes it in about 10 s where pip took a minute; it is installed once per machine
# (scripts/ensure-tools.sh uv). The bytecode is compiled now, not by each process. Behind a package
# mirror, set UV_DEFAULT_INDEX as you set PIP_INDEX_URL: uv reads no pip configuration.
define locked_venv
python="$$(command -v $(PYTHON))" || { echo "make: $(PYTHON) is not on PATH: install Python >= 3.11, or give PYTHON=..." >&2; exit 1; }; \
uv="$$(scripts/ensure-tools.sh uv)/uv" \
	&& "$$uv" venv --quiet --clear --seed --no-python-downloads --python "$$python" $(1) \
	&& "$$uv" pip install --quiet --no-python-downloads --python $(1)/bin/python --require-hashes --no-deps --compile-bytecode -r $(2)
endef

$(VENV)/.installed: requirements-dev.lock
	$(call locked_venv,$(VENV),requirements-dev.lock)
	touch $@

# The policy pack's own virtualenv, for `pulumi preview --policy-pack policy` (policy/PulumiPolicy.yaml).
policy: policy/venv/.installed

policy/venv/.installed: policy/requirements.lock
	$(call locked_venv,policy/venv,policy/requirements.lock)
	touch $@

# The locks, from the requirement lists: pinned versions with every file's hash (pip-tools).
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: venv
	$(LOCK) -o requirements.lock requirements.txt
	$(LOCK) -o requirements-dev.lock requirements-dev.txt
	$(LOCK) -o policy/requirements.lock policy/requirements.txt
	$(LOCK) -o requirements-uv.lock requirements-uv.txt

# Known vulnerabilities in every locked package (PyPI's advisory data, through pip-audit).
# --strict: a package it cannot look up fails the audit instead of passing unaudited.
audit: venv
	$(BIN)/pip-audit --strict --progress-spinner off --disable-pip -r requirements-dev.lock
	$(BIN)/pip-audit --strict --progress-spinner off --disable-pip -r policy/requirements.lock  # its own venv: other pins
	$(BIN)/pip-audit --strict --progress-spinner off --disable-pip -r requirements-uv.lock  # the tool that makes the venvs

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy policy/__main__.py  # a second __main__: type-checked on its own

# The fast loop: every test that needs neither the Pulumi CLI nor Azurite nor another tool (seconds).
# tests/e2e holds engine tests only (tests/conftest.py refuses one without the mark): not even imported.
# Three workers on two cores: a dozen tests wait on a deadline or a child process, and a third worker
# costs 0.5 s of CPU; an idle worker takes tests queued for a busy one (worksteal), so none ends late.
unit: venv
	$(BIN)/python -m pytest -n 3 --dist worksteal -m "not engine and not azurite and not tools" --ignore=tests/e2e

# The Pulumi CLI (built once when absent) and the pinned test tools, before any test runs,
# so that no test carries an install; all of them are built or installed side by side, and
# it says how long that took (minutes the first time on a machine, about a second after).
tools: venv
	@set -e; start=$$(date +%s); scripts/ensure-pulumi.sh >/dev/null & pids=$$!; \
	for tool in actionlint gitlab-ci-local azurite chromium report-schemas ms-sdks policy-venv azure-cli; do \
		scripts/ensure-tools.sh $$tool >/dev/null & pids="$$pids $$!"; \
	done; \
	for pid in $$pids; do wait $$pid; done; \
	echo "make tools: the Pulumi CLI and the test tools are ready in $$(( $$(date +%s) - start )) s (built or installed once, then cached)"

# Lint, type-check, then every test, the real-engine ones included, on $(WORKERS) workers.
test: lint tools
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

# A fleet to try: 6 customer tenants behind one app (drifted, read-only, throttled, converged), their
# stacks and a local backend in .lab/; it prints the fleet commands to run in another terminal.
# A lab still running in .lab is never replaced: the command refuses, naming its pid.
lab: venv
	$(BIN)/python -m emulator --lab 6 --dir .lab --port 0

demo: venv
	scripts/demo.sh

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
