"""dbt on 10 M exported events: a full `dbt build`, then an incremental build after 1 % new events.

Floor: the incremental build takes at most 20 % of the full one. Both builds run the same selection
(models, seeds and data tests; unit tests are excluded as they do not depend on data volume).
Sizes can be lowered for a quick look with BENCH_DBT_EVENTS (default 10,000,000).
The builds leave the publish out (publish_marts: false); it is measured apart after the full build: `feeds
publish`, the same publish from dbt (`dbt run --select publish_marts`), and a plain COPY of the marts to Parquet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export

from .common import workdir

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EVENTS = int(os.environ.get("BENCH_DBT_EVENTS", "10000000"))
FLOOR = 0.20


def _run(cmd: list[str], env: dict[str, str], out: list[str] | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", flush=True)
        raise SystemExit(f"{' '.join(cmd[:2])} failed with exit code {result.returncode}")
    if out is not None:
        out.append(result.stdout)
    return elapsed


def _feeds(root: Path, suffix: str) -> Path:
    """The export's feeds.yml with feed names made unique, so two exports load into one warehouse."""
    config = yaml.safe_load((root / "feeds.yml").read_text())
    for feed in config["feeds"]:
        feed["name"] = f"{feed['name']}_{suffix}"
    path = root / f"feeds.{suffix}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def main() -> int:
    work = workdir("dbt", fresh=True)
    db = work / "engagement.duckdb"
    env = {"ENGAGEMENT_DUCKDB": str(db), "DBT_PROFILES_DIR": str(REPO)}
    dbt = [str(BIN / "dbt"), "build", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
           "--exclude", "resource_type:unit_test"]  # fmt: skip

    t0 = time.perf_counter()
    base = export(parse_destination((work / "base").as_uri()), events=EVENTS, contacts=max(1000, EVENTS // 50),
                  days=14, seed=11)  # fmt: skip
    late = export(parse_destination((work / "late").as_uri()), events=max(1, EVENTS // 100),
                  contacts=max(1000, EVENTS // 50), start="2024-04-01", days=2, seed=12)  # fmt: skip
    print(f"exported {base.events:,} + {late.events:,} events in {time.perf_counter() - t0:.0f}s", flush=True)

    load = _run([str(BIN / "feeds"), "load", "--config", str(_feeds(work / "base", "base"))], env)
    with duckdb.connect(str(db), read_only=True) as con:
        raw_rows = sum(
            con.execute(f'select count(*) from raw."{t}"').fetchall()[0][0]
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        )
    print(f"feeds load: {raw_rows:,} raw rows in {load:.1f}s", flush=True)

    full = _run([*dbt, "--full-refresh", "--vars", "{publish_marts: false}"], env)
    with duckdb.connect(str(db), read_only=True) as con:
        mart_rows = con.execute("select count(*) from marts.fct_engagement_events").fetchall()[0][0]
    publish_marts(db, work, env, dbt)
    _run([str(BIN / "feeds"), "load", "--config", str(_feeds(work / "late", "late"))], env)
    # The late files are loaded seconds after the base here, where in production they arrive a day later:
    # a zero lookback makes the run read what a daily run would (the late files only), nothing more.
    incremental = _run([*dbt, "--vars", "{engagement__lookback_hours: 0, publish_marts: false}"], env)
    with duckdb.connect(str(db), read_only=True) as con:
        after = con.execute("select count(*) from marts.fct_engagement_events").fetchall()[0][0]

    ratio = incremental / full
    ok = ratio <= FLOOR
    print(
        f"dbt build full refresh {full:7.1f}s ({raw_rows / full:,.0f} raw rows/s, {mart_rows:,} events in the mart)\n"
        f"dbt build incremental  {incremental:7.1f}s after +{after - mart_rows:,} events"
        f"  ratio {ratio:.2f} (floor {FLOOR})  {'OK' if ok else 'BELOW FLOOR'}",
        flush=True,
    )
    return 0 if ok else 1


def publish_marts(db: Path, work: Path, env: dict[str, str], dbt: list[str]) -> None:
    """`feeds publish` (a new DuckDB file in DuckDB 1.x storage + Parquet, swapped in), the same publish run by
    dbt, against a plain COPY of the same marts to Parquet. Printed, no floor: the publish writes the marts
    twice (DuckDB and Parquet), so about twice the COPY is the expected figure."""
    printed: list[str] = []
    cli = _run([str(BIN / "feeds"), "publish", "--json"], env, printed)
    inside = json.loads(printed[-1])["seconds"]
    # `dbt run` of the publish and its list view (the marts are built): the options of `dbt build` but its
    # test exclusion
    in_dbt = _run([dbt[0], "run", "--select", "publish_inputs", "publish_marts", *dbt[2:-2]], env)
    copy_dir = work / "copy"
    copy_dir.mkdir()
    start = time.perf_counter()
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
        rows = 0
        for (table,) in tables:
            con.execute(
                f"copy marts.\"{table}\" to '{copy_dir / table}.parquet' (format parquet, compression zstd)"
            )
            rows += con.execute(f'select count(*) from marts."{table}"').fetchall()[0][0]
    copy = time.perf_counter() - start
    print(
        f"feeds publish           {inside:7.1f}s ({len(tables)} mart tables, {rows:,} rows, and the health marts:"
        f" DuckDB file + Parquet; {cli:.1f}s with the CLI's start)\n"
        f"dbt run publish_marts   {in_dbt:7.1f}s (the same publish from dbt, dbt's start and parse included)\n"
        f"plain COPY to Parquet   {copy:7.1f}s  (publish / COPY = {inside / copy:.1f}x)",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
