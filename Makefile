# The two commands are `make run` and `make test`; everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DOCS_OUT ?= var/docs/html
SPHINX_FLAGS := -n -W --keep-going -q
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test install install-dev docs docs-strict lint bench clean demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes; the stamp files record what was installed.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[docs]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

## make run: migrate (which loads the default queues and programme when absent), build the docs and the search index, and serve on http://$(HOST):$(PORT)
run: install
	@mkdir -p var
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(BIN)/helpdesk db upgrade
	$(BIN)/sphinx-build $(SPHINX_FLAGS) -b html . $(DOCS_OUT)
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(BIN)/helpdesk kb index --docs-dir $(DOCS_OUT)
	HELPDESK_ENV=$${HELPDESK_ENV:-development} exec $(BIN)/helpdesk serve --host $(HOST) --port $(PORT)

## make test: lint, the strict documentation build, and the whole pytest suite with its branch-coverage floor
# The floor (fail_under in pyproject.toml) is a property of the whole suite, so it applies only when
# PYTEST_ARGS is empty; `make test PYTEST_ARGS=tests/unit/test_db.py` still prints the coverage report
# but cannot fail on it, since one file never covers the whole package.
COVERAGE_ARGS := --cov --cov-report=term-missing:skip-covered $(if $(strip $(PYTEST_ARGS)),--cov-fail-under=0)
test: install-dev
	$(BIN)/ruff check .
	$(BIN)/sphinx-build $(SPHINX_FLAGS) -b html . $(DOCS_OUT)
	$(BIN)/pytest $(COVERAGE_ARGS) $(PYTEST_ARGS)

docs: install
	$(BIN)/sphinx-build $(SPHINX_FLAGS) -b html . $(DOCS_OUT)

lint: install-dev
	$(BIN)/ruff check .

bench: install-dev
	$(BIN)/python -m bench

demo: install
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(BIN)/helpdesk demo load

clean:
	rm -rf var/docs var/index .pytest_cache
