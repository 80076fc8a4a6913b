"""The cost of portability: `feeds load` into a Parquet lake against the same into DuckDB, and `dbt build` on
Spark (local, in-process) against DuckDB, on the same exported feeds.

No floor: Spark on one small machine is expected to be slower (it pays per statement); the figures are there
for the README's "when to switch". Size with BENCH_SPARK_EVENTS (default 10,000,000; Spark's build of that
takes long on 2 cores, so `BENCH_SPARK_EVENTS=200000 BENCH_ONLY=spark make bench` gives a quick look).
Unit tests are excluded from both builds (they do not depend on data volume).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export

from .common import workdir

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EVENTS = int(os.environ.get("BENCH_SPARK_EVENTS", "10000000"))
# by BENCH_SPARK_EVENTS; docs/decisions.md (issue 15): "ratios of `make bench` (bench/spark.py) were not run here"
PREVIOUS: dict[int, str] = {}


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, cwd=cwd)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", flush=True)
        raise SystemExit(f"{' '.join(cmd[:3])} failed with exit code {result.returncode}")
    return elapsed


def main() -> int:
    work = workdir("spark", fresh=True)
    root = work / "export"
    t0 = time.perf_counter()
    exported = export(parse_destination(root.as_uri()), events=EVENTS, contacts=max(1000, EVENTS // 50),
                      days=14, seed=11)  # fmt: skip
    print(f"exported {exported.events:,} events in {time.perf_counter() - t0:.0f}s", flush=True)

    duck_db = work / "engagement.duckdb"
    duck_env = {"ENGAGEMENT_DUCKDB": str(duck_db), "DBT_PROFILES_DIR": str(REPO)}
    duck_load = _run([str(BIN / "feeds"), "load", "--config", str(root / "feeds.yml")], duck_env)

    lake = work / "lake"
    config = yaml.safe_load((root / "feeds.yml").read_text())
    config.setdefault("settings", {})["lake"] = lake.as_uri()
    lake_yml = work / "feeds-lake.yml"
    lake_yml.write_text(yaml.safe_dump(config))
    lake_env = {"ENGAGEMENT_DUCKDB": str(work / "lake-ledger.duckdb")}
    lake_load = _run([str(BIN / "feeds"), "load", "--config", str(lake_yml)], lake_env)
    print(
        f"feeds load into DuckDB {duck_load:7.1f}s; into the lake {lake_load:7.1f}s"
        f"  ratio lake/DuckDB {lake_load / duck_load:.2f}  load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    common = ["--project-dir", str(REPO), "--profiles-dir", str(REPO), "--exclude", "resource_type:unit_test"]
    # feed health reads the ledger in the DuckDB file and is off on Spark: leave it out of both builds
    duck_build = _run([str(BIN / "dbt"), "build", *common, "--vars", '{"engagement__using_health": false}',
                       "--target-path", str(work / "target-duck"),
                       "--log-path", str(work / "logs-duck")], duck_env)  # fmt: skip
    spark_env = {"DBT_PROFILES_DIR": str(REPO), "ENGAGEMENT_SPARK_DIR": str(work / "spark")}
    spark_paths = ["--target-path", str(work / "target-spark"), "--log-path", str(work / "logs-spark")]
    register = _run([str(BIN / "python"), "-m", "loaders.lake.register", "--lake", lake.as_uri(), "--target",
                     "spark", "--project-dir", str(REPO), *spark_paths], spark_env, cwd=work)  # fmt: skip
    spark_build = _run(
        [str(BIN / "dbt"), "build", "--target", "spark", *common, *spark_paths], spark_env, cwd=work
    )
    print(
        f"dbt build on DuckDB {duck_build:7.1f}s; on Spark local[2] {spark_build:7.1f}s (+{register:.0f}s to"
        f" register the lake)  ratio Spark/DuckDB {spark_build / duck_build:.1f}  load average"
        f" {os.getloadavg()[0]:.1f}\n  previous: {PREVIOUS.get(EVENTS, f'no previous figure at this size ({EVENTS:,})')}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
