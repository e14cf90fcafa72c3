# Quick start: `make run` then `make test`. Both create .venv with the pinned dependencies when it is missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench live lock clean-venv

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(STAMP)

# The optional extra npe (sbi, torch) for python -m calibration.npe and its tests; make run does not need it.
$(VENV)/.installed-npe: $(STAMP) requirements-npe.lock
	$(PY) -m pip install --quiet -r requirements-npe.lock
	touch $@

run: $(STAMP)
	$(PY) -m experiments.forecast

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# The live view: one run, year by year, in the browser at http://localhost:8765/ (experiments/live.py).
live: $(STAMP)
	$(PY) -m experiments.live

bench: $(STAMP)
	$(PY) benchmarks/bench_run.py

# Refresh the locks from pyproject's bounds (needs the package index); commit the result.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet ".[dev]"
	.venv-lock/bin/pip freeze --exclude china-lac-defence-abm > requirements.lock
	.venv-lock/bin/pip install --quiet ".[npe]"
	{ grep '^#' requirements-npe.lock; .venv-lock/bin/pip freeze --exclude china-lac-defence-abm \
	  | grep -vxFf requirements.lock | sed 's/+cpu$$//'; } > requirements-npe.lock.new
	mv requirements-npe.lock.new requirements-npe.lock
	rm -rf .venv-lock

clean-venv:
	rm -rf $(VENV)
