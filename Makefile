# One entry point for everything; every target creates or reuses .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ENGAGEMENT_DUCKDB ?= warehouse/engagement.duckdb
export DBT_PROFILES_DIR := $(CURDIR)

.PHONY: venv sshd java chromium demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml loaders/_jsonkeys.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	touch $(STAMP)

sshd:
	@bash scripts/ensure-sshd.sh

# Java 17 for Spark (dbt's `spark` target, in-process)
java:
	@bash scripts/ensure-java.sh

chromium:
	@bash scripts/ensure-chromium.sh

demo: $(STAMP) sshd
	$(BIN)/python -m scripts.demo

lint: $(STAMP)
	$(BIN)/ruff check loaders tests scripts bench
	$(BIN)/ruff format --check loaders tests scripts bench
	$(BIN)/dbt parse --quiet
	$(BIN)/sqlfluff lint models macros tests/dbt --templater dbt --nocolor
	$(BIN)/mf validate-configs --skip-dw

test: $(STAMP) sshd java chromium lint
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

bench: $(STAMP) sshd java
	$(BIN)/python -m bench.run

clean:
	rm -rf warehouse target logs .pytest_cache
