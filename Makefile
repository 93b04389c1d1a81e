# The two commands the README opens with: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
JARS_DIR ?= build/jars
BIN := $(VENV)/bin
SUPERSET_VENV ?= build/superset-venv
# The installs wait on different things (PyPI, Maven Central, the Go build, apt), so they run
# side by side: on a fresh machine about 15 minutes one after another, 7 side by side (measured
# with empty pip, Maven and Go caches; Debian's packages were already installed).
PARALLEL ?= -j4
# pytest's two workers: the platform's tests as one group on one of them (tests/conftest.py).
XDIST := -n 2 --dist loadgroup --no-loadscope-reorder

.PHONY: install platform run lint test test-unit soak bench bench-smoke clean distclean class-archive-local class-archive-cluster

install: $(VENV)/.installed $(VENV)/.bytecode $(JARS_DIR)/.fetched class-archive-local

# What the native platform (`lakehouse up`) runs beyond the embedded default: PostgreSQL
# from Debian (and `patch`, for hive/fetch.sh), MinIO built from its Go module, the Hive
# Metastore, Spark's s3a jars plus the Thrift server's password check, and Superset in its
# own venv, and DQOps with its Python environment. Downloads are cached (~/.m2, Go caches,
# ~/.cache/uv, ~/.cache/pip).
platform: install build/cluster-jars/.fetched build/hive/.fetched build/bin/minio build/.debian-packages \
	$(SUPERSET_VENV)/.bytecode build/dqops/.installed class-archive-cluster

# Class-data-sharing archives of the drivers' classes (lakehouse/class_archive.py; the cluster's
# executors share the cluster drivers' one): about a minute each to build, then every new
# driver or executor JVM starts seconds sooner. An archive is
# named by its JDK and class path, so these always ask the module, which builds one only when
# none fits (a new jar, a JDK update) and otherwise returns in a second.
class-archive-local: $(VENV)/.installed $(JARS_DIR)/.fetched
	$(BIN)/python -m lakehouse.class_archive local

class-archive-cluster: $(VENV)/.installed build/cluster-jars/.fetched
	$(BIN)/python -m lakehouse.class_archive cluster

# Maven runs one at a time (the local repository ~/.m2 takes no lock): Delta's jars, then the
# cluster's, then the metastore's.
build/cluster-jars/.fetched: spark/pom-cluster.xml spark/fetch-jars.sh $(wildcard spark/thrift-auth/*.java) | $(VENV)/.installed $(JARS_DIR)/.fetched
	PATH=$(abspath $(BIN)):$$PATH spark/fetch-jars.sh --cluster build/cluster-jars
	@touch $@

build/hive/.fetched: hive/pom.xml hive/fetch.sh hive/metastore-bind-host.patch | $(VENV)/.installed build/.debian-packages build/cluster-jars/.fetched
	PATH=$(abspath $(BIN)):$$PATH hive/fetch.sh build/hive
	@touch $@

# DQOps's server is on no registry: from LAKEHOUSE_DQOPS_HOME, else ../shared/dqops (its jars
# from Maven Central, so after the other Maven steps), else none (lakehouse up says so). The
# stamp only once something is installed: without, every `make platform` looks again.
build/dqops/.installed: scripts/install-dqops.sh $(wildcard ../shared/dqops/*) | build/hive/.fetched
	scripts/install-dqops.sh build/dqops $(PYTHON)
	@if [ -n "$$LAKEHOUSE_DQOPS_HOME" ] || [ -x build/dqops/home/bin/dqo ]; then touch $@; fi

build/bin/minio: minio/build.sh
	minio/build.sh build/bin

build/.debian-packages: scripts/debian-packages.sh
	scripts/debian-packages.sh postgresql patch
	@mkdir -p build && touch $@

# The venvs are rebuilt only when their pins change. uv installs the same pins as pip would,
# from PyPI, about 3x sooner (a clean clone: 25 s against 75 s with warm caches; it caches in
# ~/.cache/uv). pip installs uv itself, pinned, into the project's venv: its stamp names the
# version, so a venv made before (or with another uv) gets this one.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
$(VENV)/.uv-$(UV_VERSION):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@touch $@

$(VENV)/.installed: pyproject.toml constraints.txt | $(VENV)/.uv-$(UV_VERSION)
	$(UV) pip install -q --python $(BIN)/python -c constraints.txt -e '.[dev,airflow,bench]'
	@touch $@

# Superset's pins conflict with Airflow's: it gets a venv of its own, fully pinned.
$(SUPERSET_VENV)/.installed: superset/requirements.txt | $(VENV)/.uv-$(UV_VERSION)
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(UV) pip install -q --python $(SUPERSET_VENV)/bin/python -r superset/requirements.txt
	@touch $@

# Every module of a venv compiled to bytecode once per install. uv leaves it to the first import,
# and where that import may not write it (PYTHONDONTWRITEBYTECODE, as on the reference machine; a
# read-only install; another user) every new process compiled its imports again: Airflow's, GX's
# and Superset's took 4.3, 8.0 and 6.2 s per process from source, 1.7, 3.5 and 2.1 s from bytecode,
# and every Spark driver, Airflow task and CLI call is a new process. A step of its own, not uv's
# --compile-bytecode (which compiles only what an install installs), so a venv made before gets it
# too. About 15 s per venv on 2 cores, once.
%/.bytecode: %/.installed
	$*/bin/python -m compileall -q -j0 "$$($*/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	@touch $@

# The dashboard test drives Debian's headless Chromium (with its matching chromedriver).
build/.debian-test-packages: scripts/debian-packages.sh | build/.debian-packages
	scripts/debian-packages.sh chromium chromium-driver
	@mkdir -p build && touch $@

# Delta's JVM jars, resolved from Maven Central once (cached in ~/.m2), then used from disk.
$(JARS_DIR)/.fetched: spark/pom.xml spark/fetch-jars.sh
	spark/fetch-jars.sh $(JARS_DIR)
	@touch $@

run:
	$(MAKE) $(PARALLEL) install
	$(BIN)/lakehouse run

# The system tests start the native platform themselves (once per run) and stop it. Two
# workers: one runs the platform's tests, the other everything else, longest first (see
# tests/conftest.py). Every test's duration goes to build/test-output/junit.xml: where the
# suite's time goes (the log lists only the slowest). The benchmark scripts' tiny runs are
# `make bench-smoke`: about 26 minutes of the two workers' time on a slow day, which CI's
# 90 minutes no longer had room for (issue 19).
test:
	$(MAKE) $(PARALLEL) install platform build/.debian-test-packages
	$(BIN)/ruff check .
	$(BIN)/pytest $(XDIST) --junitxml=build/test-output/junit.xml -m "not bench"

# Every benchmark script once at a tiny size, so none rots between `make bench` runs (B3 and
# B4 on a native platform of their own: the system tests' fixture brings it up and down).
bench-smoke:
	$(MAKE) $(PARALLEL) install platform
	$(BIN)/pytest $(XDIST) --junitxml=build/test-output/bench-smoke-junit.xml -m bench

# The soak at full size (issue 20; `make test` runs it for 1 day with 1 random kill): after the
# platform's first days, a month of daily runs through Airflow's backfill with 8 task processes
# killed at seeded random points, then everything checked against the reference pipeline.
# About 5 minutes a day here: 164 minutes in all on 2026-11-30 (README, "The soak"); what it injected, each
# run's tries and its length: build/test-output/soak.json, rewritten after each day.
soak:
	$(MAKE) $(PARALLEL) install platform build/.debian-test-packages
	SOAK_DAYS=30 SOAK_FAULTS=8 $(BIN)/pytest -p no:cacheprovider tests/system/test_airflow.py

# Pyflakes, pycodestyle, bugbear and pyupgrade (pyproject.toml's [tool.ruff]); `make test` runs it first.
lint: install
	$(BIN)/ruff check .

test-unit: install
	$(BIN)/pytest tests/unit

# Regenerates BENCHMARKS.md (about an hour on 2 cores; B3, B4 and B10 bring the native platform up and down).
# `make bench ONLY=B1,B2` runs some and keeps the others' sections from the last run.
bench:
	$(MAKE) $(PARALLEL) install platform
	$(BIN)/python -m benchmarks.run $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf .lakehouse .pytest_cache

distclean: clean
	rm -rf $(VENV) build
