# One entry point for everything; every target creates or reuses .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# mypy in a venv of its own (pyproject's `typecheck` group: it needs a pathspec dbt-core refuses)
MYPY   := $(VENV)/mypy
export ENGAGEMENT_DUCKDB ?= warehouse/engagement.duckdb
export DBT_PROFILES_DIR := $(CURDIR)
# the serving file BI tools and `make sql` open (written by `feeds publish`)
MARTS ?= $(patsubst %.duckdb,%_marts.duckdb,$(ENGAGEMENT_DUCKDB))

.PHONY: venv sshd java chromium demo test test-fast test-spark lint bench clean publish sql

venv: $(STAMP)

# --compile-bytecode: the .pyc files are written once at install, not recompiled at every start where the
# environment sets PYTHONDONTWRITEBYTECODE (dbt's own start: 5.9 s -> 2.5 s; every `dbt` and `feeds` run pays it)
$(STAMP): pyproject.toml loaders/_jsonkeys.c loaders/_csvcount.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.8  # installs in seconds where pip takes minutes
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev,spark]'
	touch $(STAMP)

$(MYPY)/.installed: pyproject.toml $(STAMP)
	test -x $(MYPY)/bin/python || $(BIN)/uv venv --quiet --python $(BIN)/python $(MYPY)
	$(BIN)/uv pip install --quiet --python $(MYPY)/bin/python --group pyproject.toml:typecheck
	touch $@

sshd:
	@bash scripts/ensure-sshd.sh

# Java 17 for Spark (dbt's `spark` target, in-process)
java:
	@bash scripts/ensure-java.sh

chromium:
	@bash scripts/ensure-chromium.sh

demo: $(STAMP) sshd
	$(BIN)/python -m scripts.demo

publish: $(STAMP)
	$(BIN)/feeds publish

# a SQL shell (DuckDB CLI 1.x, read-only) on the published marts; `make sql MARTS=path` for another file
sql: $(STAMP)
	$(BIN)/duckdb -readonly $(MARTS)

lint: $(STAMP) $(MYPY)/.installed
	$(BIN)/ruff check loaders fixtures tests scripts bench
	$(BIN)/ruff format --check loaders fixtures tests scripts bench
	$(BIN)/dbt parse --quiet
	$(BIN)/sqlfluff lint models macros tests/dbt --templater dbt --nocolor
	# in memory: MetricFlow's config check opens a dbt connection, and with no warehouse folder yet (a fresh clone)
	# the profile's connect retries (meant for a held lock) kept it waiting for minutes (4.5 here) before it went on
	ENGAGEMENT_DUCKDB=:memory: $(BIN)/mf validate-configs --skip-dw
	$(MYPY)/bin/mypy --python-executable $(BIN)/python  # [tool.mypy] in pyproject.toml: the product package
	$(BIN)/lint-imports  # the import layers (.importlinter)

# every tier (tests/unit, servers, e2e, faults); whole files per worker, the slowest first (tests/conftest.py):
# the Spark equality test (tests/e2e/test_spark_equal_marts.py) starts at once, without the unit tests on Spark
test: $(STAMP) sshd chromium java lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

# the unit tier alone: no servers, no dbt, no subprocess of the CLI (about 45 s of CPU over two workers)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder tests/unit

# the Spark build of the demo feeds against DuckDB's alone, unit tests on Spark included
test-spark: $(STAMP) java
	ENGAGEMENT_SPARK_UNIT_TESTS=1 $(BIN)/python -m pytest -x tests/e2e/test_spark_equal_marts.py

bench: $(STAMP) sshd java
	$(BIN)/python -m bench.run

clean:
	rm -rf target logs .pytest_cache  # never warehouse/: databases are the user's
