# gpuplane developer commands. `make test` installs everything it needs from scratch.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ORACLE := .cache/oracle/oracle

.PHONY: run test bench venv oracle clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

oracle:
	@bash hack/oracle/build.sh

# The main job: the simulator on its built-in default scenario (report in ./gpuplane-report).
run: $(STAMP)
	$(VENV)/bin/gpuplane sim

test: $(STAMP) oracle
	$(PY) -m pytest

bench: $(STAMP) oracle
	$(PY) benchmarks/bench_allocate.py
	$(PY) benchmarks/bench_decode.py
	$(PY) benchmarks/bench_openb.py
	$(PY) benchmarks/bench_schedule.py
	$(PY) benchmarks/bench_subgroups.py
	$(PY) benchmarks/bench_running_account.py
	$(VENV)/bin/gpuplane bench philly --policy all   # ~4 min: the whole trace through the scheduler

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
