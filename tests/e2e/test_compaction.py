"""Compaction when due (macros/compaction.sql): dbt's checkpoints merge no row groups and reclaim no deleted rows
(`max_vacuum_tasks: 0` in profiles.yml); the first build starts a clock, the build that finds the last compaction
`engagement__compact_every_days` old merges once at its end, and `dbt run-operation compact_warehouse` merges
now. Each is recorded in maintenance.compactions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests import mart_fixture as fx
from tests.e2e.test_mart_build import dbt, load, rows

pytestmark = pytest.mark.slow

BUILD = ["build", "--exclude", "resource_type:unit_test"]


def _stored_and_live(warehouse: Path) -> tuple[int, int]:
    """Rows the file holds for main.churn (deleted ones included until a merge reclaims them), and live rows."""
    stored = rows(warehouse, "select estimated_size from duckdb_tables() where table_name = 'churn'")[0][0]
    live = rows(warehouse, "select count(*) from main.churn")[0][0]
    return stored, live


def _log(warehouse: Path) -> list[tuple]:
    return rows(
        warehouse, "select reason, finished_at is not null from maintenance.compactions order by compacted_at"
    )


def test_deleted_rows_wait_for_the_compaction_that_is_due(tmp_path: Path) -> None:
    feeds = fx.write_feeds_yml(tmp_path / "feeds")
    for day in fx.DAYS:
        fx.write_day(tmp_path / "feeds", day)
    warehouse = tmp_path / "wh.duckdb"
    load(feeds, warehouse)
    # what an incremental mart leaves behind: a table of several row groups with rows deleted all over it
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set max_vacuum_tasks = 0")  # this connection's own checkpoint must not merge them either
        con.execute("create table main.churn as select range as id from range(400000)")
        con.execute("delete from main.churn where id % 2 = 1")
    assert _stored_and_live(warehouse) == (400_000, 200_000)

    dbt(BUILD, warehouse, tmp_path)  # the first build: the clock starts, nothing is merged
    assert _log(warehouse) == [("first build: nothing merged", True)]
    assert _stored_and_live(warehouse) == (400_000, 200_000)

    dbt(BUILD, warehouse, tmp_path)  # not due (7 days by default): dbt's checkpoints leave the rows
    assert _stored_and_live(warehouse) == (400_000, 200_000)
    assert len(_log(warehouse)) == 1

    result = dbt([*BUILD, "--vars", "{engagement__compact_every_days: 0}"], warehouse, tmp_path)  # due now
    assert "compacted the warehouse (due)" in result.stdout
    stored, live = _stored_and_live(warehouse)
    assert live == 200_000 and stored < 300_000, (stored, live)  # the merged row groups hold live rows only
    assert _log(warehouse)[-1] == ("due", True)

    result = dbt(["run-operation", "compact_warehouse"], warehouse, tmp_path)
    assert "compacted the warehouse (asked)" in result.stdout
    assert [reason for reason, _ in _log(warehouse)] == ["first build: nothing merged", "due", "asked"]
