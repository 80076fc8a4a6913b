"""The same dbt project on Spark builds the same mart as on DuckDB, from the same exported feeds.

The feeds are exported once and loaded twice: by `feeds load` into DuckDB (the default target) and by
`feeds load` into a `file://` lake of Parquet objects (the `lake:` setting), which the `spark` target reads
through tables registered over the lake's folders. Both builds are `dbt build`s (models, seeds, data tests;
the DuckDB one with unit tests) and must be green; then every row of every mart is compared, by key and by
value, reading Spark's Parquet tables with DuckDB.

The unit tests do not depend on the data and run in every DuckDB build; on Spark they cost about 3 of a 5
minute build (Spark takes 10-17 s to plan each fixture query), so they run here only with
ENGAGEMENT_SPARK_UNIT_TESTS=1 (`make test-spark` sets it), not in `make test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export
from tests.e2e.test_mart_build import MARTS, dbt, load

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def spark_env(work: Path, lake: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(REPO),
        "ENGAGEMENT_SPARK_DIR": str(work / "spark"),
        "ENGAGEMENT_LAKE": lake.as_uri(),
        "ENGAGEMENT_SPARK_CORES": "2",
    }


# Each load stamps its own time: the two loads (DuckDB, lake) differ only there, so it is left out
LOAD_TIME_COLUMNS = {"loaded_at", "last_loaded_at"}


def mart_rows(con: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[tuple], list[str]]:
    """Every row as text, doubles rounded to 9 places; Spark's timestamps (UTC) compared as plain timestamps."""
    con.execute("set TimeZone = 'UTC'")
    cols = [
        c
        for c in con.execute(f"describe select * from {relation}").fetchall()
        if c[0] not in LOAD_TIME_COLUMNS
    ]
    exprs = []
    for name, ctype, *_ in cols:
        if ctype in ("DOUBLE", "FLOAT"):
            exprs.append(f"round({name}, 9)")
        elif "TIMESTAMP" in ctype:
            exprs.append(f"cast(cast({name} as timestamp) as varchar)")
        else:
            exprs.append(f"cast({name} as varchar)")
    names = [c[0] for c in cols]
    return sorted(con.execute(f"select {', '.join(exprs)} from {relation}").fetchall(), key=repr), names


def test_spark_marts_equal_duckdb_marts(tmp_path: Path) -> None:
    assert shutil.which("java"), "Spark needs Java 17 on the PATH (apt-get install openjdk-17-jre-headless)"
    root = tmp_path / "export"
    export(parse_destination(root.as_uri()), events=6000, contacts=400, days=4, seed=11)

    # DuckDB: load and build as every other test does
    warehouse = tmp_path / "wh.duckdb"
    load(root / "feeds.yml", warehouse)
    dbt(["build"], warehouse, tmp_path / "duck")

    # the lake: the same feeds, loaded by `feeds load` into Parquet objects
    lake = tmp_path / "lake"
    config = yaml.safe_load((root / "feeds.yml").read_text())
    config.setdefault("settings", {})["lake"] = lake.as_uri()
    lake_yml = tmp_path / "feeds-lake.yml"
    lake_yml.write_text(yaml.safe_dump(config))
    load(lake_yml, tmp_path / "lake-ledger.duckdb")
    assert any(lake.rglob("*.parquet")), "feeds load wrote no Parquet object into the lake"

    work = tmp_path / "spark-work"
    work.mkdir()
    # the lake's folders become raw tables in the build's own Spark session (its on-run-start hook)
    cmd = [str(BIN / "python"), "-m", "loaders.lake.register", "--lake", lake.as_uri(), "--dbt", "build",
           "--target", "spark", "--project-dir", str(REPO), "--profiles-dir", str(REPO),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs")]  # fmt: skip
    if os.environ.get("ENGAGEMENT_SPARK_UNIT_TESTS") != "1":
        cmd += ["--exclude", "resource_type:unit_test"]
    result = subprocess.run(
        cmd, env=spark_env(work, lake), cwd=work, capture_output=True, text=True, timeout=1500
    )
    out = result.stdout.replace(" ", "")
    assert result.returncode == 0, (
        f"dbt build --target spark failed:\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
    )
    assert "ERROR=0" in out and "SKIP=0" in out and "registeredraw.sailthru__campaign_open" in out, out[
        -3000:
    ]

    tables = work / "spark" / "tables"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart in MARTS:
            spark_files = str(tables / "marts.db" / mart / "**" / "*.parquet")
            duck, duck_names = mart_rows(con, f"marts.{mart}")
            spark, spark_names = mart_rows(
                con, f"read_parquet('{spark_files}', hive_partitioning = true, union_by_name = true)"
            )
            assert sorted(spark_names) == sorted(duck_names), mart
            if spark_names != duck_names:  # a partition column comes last: compare in the DuckDB order
                order = [spark_names.index(n) for n in duck_names]
                spark = sorted((tuple(r[i] for i in order) for r in spark), key=repr)
            assert len(duck) > 0, f"{mart} is empty: the comparison would prove nothing"
            missing = [r for r in duck if r not in set(spark)]
            extra = [r for r in spark if r not in set(duck)]
            assert not missing and not extra, (
                f"{mart}: DuckDB-only rows {missing[:3]}; Spark-only {extra[:3]}"
            )
