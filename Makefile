# Two commands do all set-up on a fresh machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .tools/bin/uv
BIN := .venv/bin
export DBT_PROFILES_DIR := $(CURDIR)
export MO_DUCKDB_PATH ?= $(CURDIR)/mo_export.duckdb
DEMO_ORDERS ?= 20000

.PHONY: help install install-spark demo test test-fast test-spark lint build docs docs-serve bench chaos clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# uv's default groups (pyproject.toml): dev (pytest, linters) and sandbox (the web server of the development
# package mo_export_dev/: the sandbox API and the sample data that make demo and make test use)
$(BIN)/.installed: pyproject.toml uv.lock
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --frozen --extra dagster
	touch $@

install: $(BIN)/.installed  ## create .venv with the locked dependencies (uv, from uv.lock), the dev tools included

# after .installed: a plain `uv sync` removes the extra's packages, so this stamp must be newer
$(BIN)/.installed-spark: pyproject.toml uv.lock $(BIN)/.installed
	$(UV) sync --frozen --extra dagster --extra spark
	touch $@

install-spark: $(BIN)/.installed-spark  ## add the spark extra (pyspark, dbt-spark) to .venv; needs Java 17

demo: install  ## in .demo/ only: sample data -> dbt build -> sandbox API -> export, then an export that sends nothing
	DEMO_ORDERS=$(DEMO_ORDERS) bash scripts/demo.sh

test: install-spark lint  ## the whole suite: lint (ruff, sqlfluff, dbt-score), dbt unit/data tests (inside pytest), pytest, the Spark build
	$(BIN)/pytest

test-fast: install lint  ## the suite without the Spark tests (no Java needed)
	$(BIN)/pytest -m "not spark"

test-spark: install-spark  ## the dbt project on Spark (local-cluster): unit/data tests and parity with DuckDB
	$(BIN)/pytest -m spark

# dbt-score reads target/manifest.json, which `dbt parse` writes (no warehouse connection needed)
lint: install  ## ruff (Python), sqlfluff (models, macros, data tests; .sqlfluff), dbt-score (dbt metadata, 10.0 or fail)
	$(BIN)/ruff check .
	$(BIN)/sqlfluff lint models macros data-tests
	$(BIN)/dbt parse --quiet
	$(BIN)/dbt-score lint --fail-project-under 10.0 --fail-any-item-under 10.0

build: install  ## dbt build against MO_DUCKDB_PATH
	$(BIN)/dbt build

docs: install  ## dbt docs generate (target/index.html)
	$(BIN)/dbt docs generate

DOCS_PORT ?= 8080
docs-serve: docs  ## dbt docs on http://127.0.0.1:$(DOCS_PORT) (a file:// URL does not load the docs' data)
	$(BIN)/dbt docs serve --host 127.0.0.1 --port $(DOCS_PORT) --no-browser

BENCH_ARGS ?=
bench: install  ## every performance figure (export, incremental, 5 M build, Spark, freshness); BENCH_ARGS="--only freshness --freshness-orders 5000000" runs parts
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

chaos: install  ## export 200,000 orders through every injected fault and 8 SIGKILLs, then check nothing was lost
	$(BIN)/python -m tests.chaos --orders 200000 --kills 5 --early-kills 2

clean:  ## remove build output and local data (keeps .venv)
	rm -rf target logs .demo mo_export.duckdb mo_export.duckdb.wal spark-warehouse
