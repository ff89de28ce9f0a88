# The two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
# uv from PATH, or bootstrapped into .uv/ on a fresh machine.
UV := $(shell command -v uv 2>/dev/null || echo .uv/bin/uv)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean demo-inputs airflow help

$(UV):
	$(PY) -m venv .uv && .uv/bin/pip install -q uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PY)
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m demo

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q --junitxml=test-output/junit.xml  # per-test times, e.g. the share of the service tests

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run.py

demo-inputs: install
	$(BIN)/python -m demo.make_inputs

# The real Airflow services (api-server, scheduler, dag-processor) without Docker; prints the URL and the login.
# SQLite metadata by default; PostgreSQL: TSUNAGU_AIRFLOW_DB=postgresql+psycopg://postgres@127.0.0.1:5432/airflow
# Celery worker on Redis: make airflow EXECUTOR=celery (broker: TSUNAGU_AIRFLOW_BROKER).
EXECUTOR ?= local
airflow: install
	$(BIN)/tsunagu airflow --executor $(EXECUTOR)

help:
	@echo "make install      create .venv from uv.lock"
	@echo "make demo         run the demo (both DAGs with dag.test())"
	@echo "make test         ruff + the test suite"
	@echo "make airflow      start the real Airflow services locally (URL and login printed); EXECUTOR=celery,"
	@echo "                  TSUNAGU_AIRFLOW_DB=postgresql+psycopg://... for PostgreSQL metadata"
	@echo "make bench        benchmarks"
	@echo "make clean        remove var/ and caches"

clean:
	rm -rf var .pytest_cache
