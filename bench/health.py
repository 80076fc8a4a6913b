"""Feed health at scale: the health mart (models/health) and `feeds report` on a ledger of 10,000 files and a
fact table of 10 M events.

The ledger and the fact table are written straight into a warehouse by SQL in the shapes the loader and
dbt give them (20 feeds x 500 days, a file per feed and day of 1,000 rows, every event of the fact on its
file's batch, quarantines, rejects, drift and waiting files), so the figure measures the health models and
the report, not a load of 10 M events. Floors: each at most FLOOR seconds (the models' own execution, as
dbt's run_results.json times it; the report's whole command). BENCH_HEALTH_EVENTS lowers the size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from loaders.warehouse import connect

from .common import workdir

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FEEDS, DAYS = 20, 500
EVENTS = int(os.environ.get("BENCH_HEALTH_EVENTS", "10000000"))
FLOOR = 30.0  # seconds; on a quiet 2-core machine both take a few
PREVIOUS: dict[int, str] = {}  # by BENCH_HEALTH_EVENTS: no earlier figure of this bench was recorded
VENDORS = ["sailthru", "simon", "apsis", "encharge", "leanplum"]


def build_ledger(db: Path) -> None:
    con = connect(db)
    per_file = max(1, EVENTS // (FEEDS * DAYS))
    try:
        con.execute(
            f"""insert into loader.files
            select 'feed_' || f, 'file:///landing/feed_' || f || '/dt=' || d || '/part-0.csv', 'v1', 200000 + f,
                   epoch(timestamp '2023-01-01' + to_days(d) + interval 5 hour), vendor || '__events', 'loaded',
                   {per_file}, 'L' || d, timestamp '2023-01-01' + to_days(d) + interval 6 hour
                   + to_seconds(f), null
            from range({FEEDS}) as t(f), range({DAYS}) as u(d),
                 (select unnest({VENDORS}) as vendor, generate_subscripts({VENDORS}, 1) - 1 as v)
            where v = f % 5"""
        )
        con.execute(
            f"""insert into loader.files
            select 'feed_' || (d % {FEEDS}), 'file:///landing/bad-' || d || '.csv', 'v1', 100, null,
                   'sailthru__events', 'quarantined', 0, 'L' || d,
                   timestamp '2023-01-01' + to_days(d) + interval 6 hour,
                   'file:///landing/bad-' || d || '.csv: cannot decompress: invalid block type; re-send it'
            from range(0, {DAYS}, 5) as t(d)"""
        )
        con.execute(
            f"""insert into loader.loads
            select 'L' || d, timestamp '2023-01-01' + to_days(d) + interval 6 hour,
                   timestamp '2023-01-01' + to_days(d) + interval 6 hour + interval 40 second,
                   'all', 'partial', {FEEDS}, 1, {FEEDS * per_file}
            from range({DAYS}) as t(d)"""
        )
        con.execute(
            f"""insert into loader.rejects
            select 'feed_' || (n % {FEEDS}), 'file:///landing/x.csv', 'v1', n, 'expected 7 fields, found 8',
                   'secret line', 'L' || (n % {DAYS}), timestamp '2023-01-01' + to_days(n % {DAYS}) + interval 6 hour
            from range(5000) as t(n)"""
        )
        con.execute(
            f"""insert into loader.schema_changes
            select vendor || '__events', 'col_' || c, 'VARCHAR', 'file:///landing/feed_' || v || '/dt=' || (c * 2)
                   || '/part-0.csv', 'L' || (c * 2), timestamp '2023-01-01' + to_days(c * 2) + interval 6 hour
            from (select unnest({VENDORS}) as vendor, generate_subscripts({VENDORS}, 1) - 1 as v), range(40) as t(c)"""
        )
        con.execute(
            """insert into loader.state
            select 'feed_1', 'waiting:file:///landing/feed_1/w' || n || '.csv', 'waiting for its control file',
                   timestamp '2023-01-01' + interval 499 day + interval 6 hour
            from range(50) as t(n)"""
        )
        con.execute("create schema if not exists marts")
        con.execute(
            f"""create or replace table marts.fct_engagement_events as
            select md5(n::varchar) as engagement_event_id, split_part(raw_table, '__', 1) as source_vendor,
                   raw_table as source_table, loaded_at - to_minutes(n % 4320) as occurred_at,
                   cast(loaded_at - to_minutes(n % 4320) as date) as occurred_date, loaded_at
            from range({FEEDS * DAYS * per_file}) as t(n)
            join (select row_number() over (order by loaded_at, feed) - 1 as k, raw_table, loaded_at
                  from loader.files where status = 'loaded') as b on b.k = n // {per_file}"""
        )
    finally:
        con.close()


def main() -> int:
    work = workdir("health", fresh=True)
    db = work / "engagement.duckdb"
    t0 = time.perf_counter()
    build_ledger(db)
    with duckdb.connect(str(db), read_only=True) as con:
        files = con.execute("select count(*) from loader.files").fetchall()[0][0]
        events = con.execute("select count(*) from marts.fct_engagement_events").fetchall()[0][0]
    print(
        f"ledger of {files:,} files and {events:,} events written in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )

    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(db), "DBT_PROFILES_DIR": str(REPO)}
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "dbt"), "run", "--select", "path:models/health", "--project-dir", str(REPO),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
         "--vars", json.dumps({"health__as_of": "2024-05-15 12:00:00"})],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - start
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    models = sum(r["execution_time"] for r in results)
    slowest = max(results, key=lambda r: r["execution_time"])
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "feeds"), "report", "--duckdb", str(db), "--out", str(work / "report.html"),
         "--run-results", str(work / "target" / "run_results.json")],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    report = time.perf_counter() - start
    ok = models <= FLOOR and report <= FLOOR
    load = os.getloadavg()[0]
    print(
        f"health mart: {len(results)} models in {models:.1f}s (slowest {slowest['unique_id'].split('.')[-1]} "
        f"{slowest['execution_time']:.1f}s; dbt's whole command {wall:.1f}s)  floor {FLOOR:.0f}s\n"
        f"feeds report: {report:.1f}s, {(work / 'report.html').stat().st_size / 1e6:.1f} MB  floor {FLOOR:.0f}s"
        f"  {'OK' if ok else 'BELOW FLOOR'}  (load average {load:.1f} on {os.cpu_count()} cores)\n"
        f"  previous: {PREVIOUS.get(EVENTS, f'no previous figure at this size ({EVENTS:,} events)')}",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
