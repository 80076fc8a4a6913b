"""What the report draws: the health mart's tables, read once, and dbt's test results."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

HEALTH_SCHEMA = "health"
TABLES = (
    "feed_health_daily",
    "feed_load_runs",
    "feed_freshness",
    "feed_problem_files",
    "feed_reject_reasons",
    "feed_schema_changes",
    "feed_late_arrivals",
    "vendor_events_daily",
)


class ReportError(Exception):
    """The report cannot be drawn: the message says why and what to do."""


@dataclass
class TestResult:
    name: str
    status: str  # pass, warn, fail, error, skipped
    failures: int | None
    message: str


@dataclass
class HealthData:
    daily: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    freshness: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    reject_reasons: list[dict[str, Any]]
    schema_changes: list[dict[str, Any]]
    late: list[dict[str, Any]]
    vendor_events: list[dict[str, Any]]
    tests: list[TestResult] | None = None  # None: no run_results.json to read
    tests_source: str = ""
    notes: list[str] = field(default_factory=list)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def read_health(db: Path) -> HealthData:
    if not db.exists():
        raise ReportError(f"{db}: no warehouse there; run `feeds load` and `dbt build` first")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        if "lock" in str(exc).lower():
            raise ReportError(
                f"{db}: another process is writing the warehouse (a load or a dbt run); "
                "draw the report when it ends"
            ) from None
        raise ReportError(f"{db}: cannot open the warehouse: {exc}") from None
    try:
        present = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [HEALTH_SCHEMA]
            ).fetchall()
        }
        missing = [t for t in TABLES if t not in present]
        if missing:
            raise ReportError(
                f"{db}: the health mart is missing ({', '.join(f'{HEALTH_SCHEMA}.{t}' for t in missing)}); "
                "build it with `dbt build` (or `dbt build --select +path:models/health`)"
            )
        h = HEALTH_SCHEMA
        return HealthData(
            daily=_rows(con, f"select * from {h}.feed_health_daily order by feed, activity_date"),
            runs=_rows(con, f"select * from {h}.feed_load_runs order by started_at"),
            freshness=_rows(con, f"select * from {h}.feed_freshness order by feed"),
            problems=_rows(
                con,
                f"""select problem, reason_kind, feed, noticed_date, count(*) as files
                    from {h}.feed_problem_files group by all order by noticed_date, problem""",
            ),
            reject_reasons=_rows(
                con, f"select * from {h}.feed_reject_reasons order by activity_date, feed, reason_kind"
            ),
            schema_changes=_rows(
                con,
                f"""select raw_table, feed, is_initial, seen_at, count(*) as columns,
                           string_agg(column_name, ', ' order by column_name) as column_names
                    from {h}.feed_schema_changes group by all order by seen_at, raw_table""",
            ),
            late=_rows(
                con,
                f"""select feed, lateness_band_order, lateness_band, sum(events) as events
                    from {h}.feed_late_arrivals group by all order by feed, lateness_band_order""",
            ),
            vendor_events=_rows(
                con, f"select * from {h}.vendor_events_daily order by occurred_date, source_vendor"
            ),
        )
    finally:
        con.close()


def read_run_results(path: Path) -> list[TestResult]:
    """dbt's target/run_results.json: every test of the last invocation with its status."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read dbt's run results: {exc}") from None
    tests = []
    for result in doc.get("results", []):
        uid = result.get("unique_id", "")
        if not uid.startswith(("test.", "unit_test.")):
            continue
        name = uid.split(".", 2)[-1]
        tests.append(
            TestResult(
                name=name,
                status=str(result.get("status", "")),
                failures=result.get("failures"),
                message=str(result.get("message") or ""),
            )
        )
    return tests
