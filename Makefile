# The two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
# uv from PATH, or bootstrapped into .uv/ on a fresh machine.
UV := $(shell command -v uv 2>/dev/null || echo .uv/bin/uv)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean demo-inputs

$(UV):
	$(PY) -m venv .uv && .uv/bin/pip install -q uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PY)
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m demo

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/run.py

demo-inputs: install
	$(BIN)/python -m demo.make_inputs

clean:
	rm -rf var .pytest_cache
