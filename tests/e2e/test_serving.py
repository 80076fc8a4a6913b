"""Serving the marts: a reader (a BI tool) holds the published file open while the pipeline loads, builds and
publishes; every file we write opens in the DuckDB 1.x CLI that BI tools and analysts use; a file the
publish did not write is never replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import mart_fixture as fx
from tests.conftest import REPO
from tests.e2e.test_mart_build import dbt, load

BIN = Path(sys.executable).parent
CLI = BIN / "duckdb"  # duckdb-cli, the 1.x line (dev dependency)

pytestmark = pytest.mark.slow

READER = """
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
for sql in sys.stdin:
    print(json.dumps(con.execute(sql).fetchall(), default=str), flush=True)
"""


def feeds(*args: str, warehouse: Path, check: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse)}
    proc = subprocess.run([str(BIN / "feeds"), *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == check, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def cli_json(db: Path, sql: str, cwd: Path | None = None) -> list[dict]:
    proc = subprocess.run([str(CLI), "-readonly", "-json", str(db), "-c", sql], capture_output=True,
                          text=True, timeout=120, cwd=cwd)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _day_one_loaded(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """The mart fixture's first day written and loaded: its feeds folder, feeds.yml, the warehouse and the
    serving file's path beside it (nothing published yet)."""
    root = tmp_path / "feeds"
    config = fx.write_feeds_yml(root)
    fx.write_day(root, 1)
    warehouse = tmp_path / "warehouse" / "engagement.duckdb"
    load(config, warehouse)
    return root, config, warehouse, warehouse.with_name("engagement_marts.duckdb")


def test_a_reader_keeps_its_version_while_load_build_and_publish_run(tmp_path: Path) -> None:
    root, config, warehouse, serving = _day_one_loaded(tmp_path)
    dbt(["build", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
    first = json.loads(feeds("publish", "--json", warehouse=warehouse).stdout)
    assert first["duckdb"] == str(serving)

    reader = subprocess.Popen([sys.executable, "-c", READER, str(serving)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    count = "select count(*) from marts.fct_engagement_events\n"
    version = "select distinct publish_id from publication.tables\n"

    def ask(sql: str) -> list:
        assert reader.stdin and reader.stdout
        reader.stdin.write(sql)
        reader.stdin.flush()
        return json.loads(reader.stdout.readline())

    try:
        before = ask(count)
        assert ask(version) == [[first["publish_id"]]]
        for day in fx.DAYS[1:]:
            fx.write_day(root, day)
        # the reader holds the serving file open through all three
        load(config, warehouse)
        dbt(["build", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
        second = json.loads(feeds("publish", "--json", warehouse=warehouse).stdout)
        assert second["publish_id"] != first["publish_id"]
        # the reader answers from its version, whole
        assert ask(count) == before
        assert ask(version) == [[first["publish_id"]]]
    finally:
        assert reader.stdin
        reader.stdin.close()
        reader.wait(30)
    # a new connection (here the DuckDB 1.x CLI) sees the new marts
    expected = sum(fx.EXPECTED_EVENTS.values())
    assert before[0][0] < expected
    assert cli_json(serving, "select count(*) as n from marts.fct_engagement_events") == [{"n": expected}]
    assert cli_json(serving, "select distinct publish_id from publication.tables") == [
        {"publish_id": second["publish_id"]}
    ]
    # ... and the Parquet beside it
    parquet = serving.with_name("engagement_marts_parquet") / "marts" / "fct_engagement_events.parquet"
    assert cli_json(serving, f"select count(*) as n from '{parquet}'") == [{"n": expected}]
    # the warehouse (written by the loader and dbt) opens in DuckDB 1.x too
    loaded = cli_json(warehouse, "select count(*) as n from loader.files where status = 'loaded'")
    assert loaded[0]["n"] > 0
    assert cli_json(warehouse, "select count(*) as n from marts.dim_contacts") == [
        {"n": len(fx.EXPECTED_CONTACTS)}
    ]


def test_the_readme_sql_shell_command_runs_a_query(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"SQL shell, after `make venv`: `(\.venv/bin/duckdb [^`]+)`", readme)
    assert match, "the README names the SQL shell command"
    command = match.group(1).split()
    warehouse = tmp_path / "warehouse" / "engagement.duckdb"
    warehouse.parent.mkdir()
    # a warehouse written by the loader (DuckDB 2.0 in our venv), published, then opened as the README says
    subprocess.run([sys.executable, "-c", "from pathlib import Path; from loaders.warehouse import connect;"
                    f" c = connect(Path({str(warehouse)!r})); c.execute('create schema marts');"
                    " c.execute('create table marts.t as select 42 as answer')"], check=True, cwd=REPO)  # fmt: skip
    feeds("publish", warehouse=warehouse)
    proc = subprocess.run([str(REPO / command[0]), *command[1:], "-c", "select answer from marts.t"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "42" in proc.stdout and "v1." in subprocess.run([str(CLI), "--version"], capture_output=True,
                                                            text=True).stdout  # fmt: skip


def test_publish_never_replaces_a_file_it_did_not_write(tmp_path: Path) -> None:
    warehouse = tmp_path / "engagement.duckdb"
    subprocess.run([sys.executable, "-c", "from pathlib import Path; from loaders.warehouse import connect;"
                    f" c = connect(Path({str(warehouse)!r})); c.execute('create schema marts');"
                    " c.execute('create table marts.t as select 1 as x')"], check=True, cwd=REPO)  # fmt: skip
    users = tmp_path / "engagement_marts.duckdb"
    users.write_bytes(b"the user's own file, not a publish")
    digest = hashlib.sha256(users.read_bytes()).hexdigest()
    proc = feeds("publish", warehouse=warehouse, check=2)
    assert "was not written by `feeds publish`" in proc.stderr and "Traceback" not in proc.stderr
    assert hashlib.sha256(users.read_bytes()).hexdigest() == digest
    # elsewhere it publishes, and publishes again over its own file
    target = tmp_path / "served" / "m.duckdb"
    feeds("publish", "--to", str(target), warehouse=warehouse)
    feeds("publish", "--to", str(target), warehouse=warehouse)
    assert cli_json(target, "select x from marts.t") == [{"x": 1}]


def test_dbt_build_publishes_while_a_reader_holds_the_serving_file(tmp_path: Path) -> None:
    """The `publish_marts` model: a plain `dbt build` publishes, after every mart and its tests, and swaps the
    serving file under a reader as `feeds publish` does."""
    root, config, warehouse, serving = _day_one_loaded(tmp_path)
    dbt(["build", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
    assert cli_json(serving, "select count(*) as n from marts.fct_engagement_events")[0]["n"] > 0
    first = cli_json(serving, "select distinct publish_id from publication.tables")

    # every model of the published schemas comes before the publish in the graph
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    published = {
        n["unique_id"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["schema"] in ("marts", "health")
    }
    inputs = manifest["nodes"]["model.engagement.publish_inputs"]["depends_on"]["nodes"]
    assert published and published == set(inputs)
    assert manifest["nodes"]["model.engagement.publish_marts"]["depends_on"]["nodes"] == [
        "model.engagement.publish_inputs"
    ]

    reader = subprocess.Popen([sys.executable, "-c", READER, str(serving)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    count = "select count(*) from marts.fct_engagement_events\n"

    def ask(sql: str) -> list:
        assert reader.stdin and reader.stdout
        reader.stdin.write(sql)
        reader.stdin.flush()
        return json.loads(reader.stdout.readline())

    try:
        before = ask(count)
        for day in fx.DAYS[1:]:
            fx.write_day(root, day)
        load(config, warehouse)
        out = dbt(["build", "--exclude", "resource_type:unit_test"], warehouse, tmp_path).stdout
        assert re.search(r"OK created python table model publication\.publish_marts", out), out[-3000:]
        assert ask(count) == before  # the reader keeps its version
        assert ask("select distinct publish_id from publication.tables\n") == [[first[0]["publish_id"]]]
    finally:
        assert reader.stdin
        reader.stdin.close()
        reader.wait(30)
    expected = sum(fx.EXPECTED_EVENTS.values())
    assert before[0][0] < expected
    assert cli_json(serving, "select count(*) as n from marts.fct_engagement_events") == [{"n": expected}]
    # the model's row records the version a new connection sees, and the Parquet beside it
    record = cli_json(
        warehouse, "select publish_id, duckdb_path, tables, row_count from publication.publish_marts"
    )
    now = cli_json(serving, "select distinct publish_id from publication.tables")
    assert [r["publish_id"] for r in record] == [now[0]["publish_id"]] != [first[0]["publish_id"]]
    assert record[0]["duckdb_path"] == str(serving) and "marts.fct_engagement_events" in record[0]["tables"]
    parquet = serving.with_name("engagement_marts_parquet") / "marts" / "fct_engagement_events.parquet"
    assert cli_json(serving, f"select count(*) as n from '{parquet}'") == [{"n": expected}]

    # switched off, a build leaves the serving file as it is
    stat = serving.stat()
    dbt(["run", "--select", "publish_marts", "--vars", "{publish_marts: false}"], warehouse, tmp_path)
    assert (serving.stat().st_ino, serving.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def _same_tables(a: Path, b: Path) -> list[tuple[str, str]]:
    """The published tables of two serving files (and their Parquet): the same names and the same rows."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    listed = "select schema_name, table_name from duckdb_tables() where database_name = ? order by all"
    tables = con.execute(listed, ["a"]).fetchall()
    assert tables == con.execute(listed, ["b"]).fetchall()
    for schema, table in tables:
        if schema == "publication":  # the versions' own record: their ids and times differ
            continue
        for x, y in (("a", "b"), ("b", "a")):
            diff = f'select * from {x}."{schema}"."{table}" except all select * from {y}."{schema}"."{table}"'
            assert con.execute(f"select count(*) from ({diff})").fetchall() == [(0,)], (schema, table)
        parquet = [f.with_name(f.stem + "_parquet") / schema / f"{table}.parquet" for f in (a, b)]
        for x, y in (parquet, parquet[::-1]):
            diff = f"select * from '{x}' except all select * from '{y}'"
            assert con.execute(f"select count(*) from ({diff})").fetchall() == [(0,)], (schema, table)
    con.close()
    return tables


def test_a_publish_brings_the_last_version_up_to_date_with_the_rows_of_a_new_one(tmp_path: Path) -> None:
    """The second publish copies the file the first one wrote and replaces only the fact's `loaded_at` buckets
    that changed (loaders/publish_buckets.py); it must hold what a publish into a new file holds, table by
    table and row by row, in a file DuckDB 1.x opens; a schema no longer published leaves it."""
    root, config, warehouse, serving = _day_one_loaded(tmp_path)
    build = ["build", "--exclude", "resource_type:unit_test", "--vars", "{publish_marts: false}"]
    dbt(build, warehouse, tmp_path)
    first = json.loads(feeds("publish", "--json", warehouse=warehouse).stdout)
    assert first["updated"] is False
    for day in fx.DAYS[1:]:
        fx.write_day(root, day)
    load(config, warehouse)
    dbt(build, warehouse, tmp_path)
    second = json.loads(feeds("publish", "--json", warehouse=warehouse).stdout)
    fresh = tmp_path / "fresh" / "engagement_marts.duckdb"
    new = json.loads(feeds("publish", "--json", "--to", str(fresh), warehouse=warehouse).stdout)
    assert second["updated"] is True and new["updated"] is False
    total = sum(t["rows"] for t in new["tables"])
    assert second["tables"] == new["tables"] and 0 < second["rows_copied"] < total
    tables = _same_tables(serving, fresh)
    assert ("health", "feed_health_daily") in tables and ("marts", "fct_engagement_events") in tables
    # the fact's rows came bucket by bucket: its buckets are the warehouse's
    expected = sum(fx.EXPECTED_EVENTS.values())
    assert cli_json(serving, "select sum(row_count)::bigint as n from publication.table_buckets"
                             " where table_name = 'fct_engagement_events'") == [{"n": expected}]  # fmt: skip

    # rows changed and removed in buckets the serving file has (a fix by hand, a rebuilt fact): found by the
    # buckets' hashes and counts, and replaced
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        oldest = "(select min(loaded_at) from marts.fct_engagement_events)"
        con.execute(
            f"update marts.fct_engagement_events set campaign_name = 'renamed' where loaded_at = {oldest}"
        )
        con.execute(
            "delete from marts.fct_engagement_events where engagement_event_id ="
            " (select max(engagement_event_id) from marts.fct_engagement_events"
            "  where loaded_at = (select max(loaded_at) from marts.fct_engagement_events))"
        )
    fixed = json.loads(feeds("publish", "--json", warehouse=warehouse).stdout)
    fresh_fixed = tmp_path / "fresh_fixed" / "engagement_marts.duckdb"
    feeds("publish", "--to", str(fresh_fixed), warehouse=warehouse)
    assert fixed["updated"] is True
    _same_tables(serving, fresh_fixed)
    assert cli_json(serving, "select count(*) as n from marts.fct_engagement_events") == [{"n": expected - 1}]

    # nothing new: nothing copied but the tables without buckets; fewer schemas: the others are dropped
    again = json.loads(feeds("publish", "--json", "--schema", "marts", warehouse=warehouse).stdout)
    fresh_marts = tmp_path / "fresh_marts" / "engagement_marts.duckdb"
    feeds("publish", "--schema", "marts", "--to", str(fresh_marts), warehouse=warehouse)
    assert again["updated"] is True
    assert _same_tables(serving, fresh_marts) and not [t for t in again["tables"] if t["schema"] == "health"]
    assert cli_json(serving, "select count(*) as n from duckdb_tables() where schema_name = 'health'") == [
        {"n": 0}
    ]

    # a damaged last version: a new file, and why
    with serving.open("r+b") as damaged:
        damaged.write(bytes(8192))
    redone = json.loads(feeds("publish", "--json", "--schema", "marts", warehouse=warehouse).stdout)
    assert redone["updated"] is False and "could not be brought up to date" in redone["not_updated"]
    _same_tables(serving, fresh_marts)

    # another storage version is not brought up to date: a new file is written
    env_version = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "ENGAGEMENT_STORAGE_VERSION": "v1.2.0"}
    proc = subprocess.run([str(BIN / "feeds"), "publish", "--json"], env=env_version, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["updated"] is False
