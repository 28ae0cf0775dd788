# Two commands set up everything on a fresh machine with Python 3.11+, pip and make:
#   make demo   run the example catalog sync against the local emulator
#   make test   install, lint, type-check, test, build and check the package
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
MIN_VENV := .venv-airflow-min
export AWS_EC2_METADATA_DISABLED := true

.PHONY: demo test lint unit test-min package bench stack-up stack-down test-distributed lock clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "make needs Python 3.11 or newer (the pinned amazon provider requires it); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install -q uv

$(VENV)/.installed: pyproject.toml constraints/dev.txt requirements/dev.in | $(UV)
	$(UV) pip install -q -p $(BIN)/python -c constraints/dev.txt -r requirements/dev.in -e '.[emulator,amazon,openlineage]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python scripts/demo.py

test: $(VENV)/.installed lint unit package test-min

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

unit: $(VENV)/.installed
	$(BIN)/python -m pytest --ignore=tests/distributed

package: $(VENV)/.installed
	rm -rf dist
	$(BIN)/python -m build -q --outdir dist . >/dev/null
	$(BIN)/twine check --strict dist/*

$(MIN_VENV)/.installed: constraints/airflow-min.txt requirements/airflow-min.in | $(UV)
	$(UV) venv -q --allow-existing -p $(BIN)/python $(MIN_VENV)
	$(UV) pip install -q -p $(MIN_VENV)/bin/python -c constraints/airflow-min.txt -r requirements/airflow-min.in -e '.[emulator]'
	touch $@

# The unit tests once more on the lowest Airflow release the package claims (3.1.x).
test-min: $(MIN_VENV)/.installed
	MIRCATE_TEST_AIRFLOW_HOME=$(CURDIR)/.airflow/test-min $(MIN_VENV)/bin/python -m pytest \
		-m "not s3 and not dagrun and not reliability" -k "not openlineage" \
		tests/hooks tests/testing tests/utils tests/operators tests/sensors tests/triggers

stack-up: $(VENV)/.installed
	bash scripts/stack.sh up

stack-down:
	bash scripts/stack.sh down

# PostgreSQL, Redis, api-server, scheduler, dag-processor, triggerer and two Celery workers on
# 127.0.0.1; installs redis-server with apt-get when it is missing (needs root), about 5 minutes.
test-distributed: $(VENV)/.installed
	bash scripts/stack.sh venv
	MIRCATE_DISTRIBUTED=1 .venv-distributed/bin/python -m pytest tests/distributed

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run_all.py

lock: $(UV)
	$(UV) pip compile -q --universal -p 3.11 requirements/dev.in -o constraints/dev.txt
	$(UV) pip compile -q --universal -p 3.10 requirements/airflow-min.in -o constraints/airflow-min.txt

clean:
	rm -rf dist build .airflow .demo .pytest_cache .mypy_cache .ruff_cache
