"""Shared fixtures: a warehouse file per test, the moto S3 server per worker, the `feeds` CLI as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from fixtures.devservers import Moto, moto_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse" / "engagement.duckdb"
    monkeypatch.setenv("ENGAGEMENT_DUCKDB", str(path))
    return path


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    with moto_server() as server:
        yield server


def write_config(path: Path, feeds: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))
    return path


def run_feeds(
    *args: str, env: dict[str, str] | None = None, check: int | None = None, module: str = "loaders.cli"
) -> subprocess.CompletedProcess:
    """Run the real CLI (or, with module="fixtures", the fixtures' command) in a child process, as a user would."""
    full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=600,
    )
    if check is not None:
        assert proc.returncode == check, (
            f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def leanplum_event(event_id: str, name: str = "Email Open", **props: object) -> dict:
    properties = {"user_id": "u1", "device_id": "d1", "time": "2024-05-01 10:00:00.000", **props}
    return {"event_id": event_id, "name": f"(Leanplum) {name}", "properties": properties}


def write_ndjson(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# The slowest files first: `make test` runs `pytest -n 2 --dist loadfile --no-loadscope-reorder`, so each worker
# takes whole files in this order. The Spark build (minutes, one test) starts at once beside the rest instead
# of last, then the other tiers from the slowest down, and the unit tier's small files even out the end.
FIRST = "test_spark_equal_marts.py"
TIERS = ("e2e", "faults", "servers", "unit")


def _rank(item: pytest.Item) -> int:
    if item.path.name == FIRST:
        return 0
    tier = item.path.parent.name
    return 1 + (TIERS.index(tier) if tier in TIERS else len(TIERS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: each file's tests stay together and in their order
