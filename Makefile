# The two commands the README opens with: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
JARS_DIR ?= build/jars
BIN := $(VENV)/bin

.PHONY: install run test test-unit clean distclean

install: $(VENV)/.installed $(JARS_DIR)/.fetched

# The venv is rebuilt only when the pins change. pip caches wheels in ~/.cache/pip.
$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

# Delta's JVM jars, resolved from Maven Central once (cached in ~/.m2), then used from disk.
$(JARS_DIR)/.fetched: spark/pom.xml spark/fetch-jars.sh
	spark/fetch-jars.sh $(JARS_DIR)
	@touch $@

run: install
	$(BIN)/lakehouse run

test: install
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

clean:
	rm -rf .lakehouse .pytest_cache

distclean: clean
	rm -rf $(VENV) build
