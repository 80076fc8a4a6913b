# One entry point for everything; every target creates or reuses .venv by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export ENGAGEMENT_DUCKDB ?= warehouse/engagement.duckdb
export DBT_PROFILES_DIR := $(CURDIR)

.PHONY: venv sshd demo test lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml loaders/_jsonkeys.c loaders/_csvcount.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

sshd:
	@bash scripts/ensure-sshd.sh

demo: $(STAMP) sshd
	$(BIN)/python -m scripts.demo

lint: $(STAMP)
	$(BIN)/ruff check loaders tests scripts bench
	$(BIN)/ruff format --check loaders tests scripts bench
	$(BIN)/dbt parse --quiet
	$(BIN)/sqlfluff lint models macros tests/dbt --templater dbt --nocolor

test: $(STAMP) sshd lint
	$(BIN)/python -m pytest -n 2 --dist loadfile tests

bench: $(STAMP) sshd
	$(BIN)/python -m bench.run

clean:
	rm -rf warehouse target logs .pytest_cache
