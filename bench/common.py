"""Shared measuring: run `feeds load` in a child process (time, peak RSS) and a bare DuckDB reader beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

WORK = Path(os.environ.get("BENCH_DIR", Path(tempfile.gettempdir()) / "engagement-bench"))


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float


def workdir(name: str, fresh: bool = False) -> Path:
    path = WORK / name
    if fresh and path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _child(code: str, env: dict[str, str] | None = None) -> Measured:
    """Run Python code in a fresh child; its own peak RSS is read from a wait4 rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise SystemExit(f"benchmark child failed with {os.waitstatus_to_exitcode(status)}")
    return Measured(elapsed, usage.ru_maxrss / 1024)


REPEATS = int(os.environ.get("BENCH_REPEATS", 2))  # best of N: the machine's other work only adds time


def _best(runs: list[Measured]) -> Measured:
    return Measured(min(r.seconds for r in runs), max(r.peak_rss_mb for r in runs))


def time_feeds_load(feeds: list[dict], db: Path) -> Measured:
    cfg = db.with_suffix(".feeds.yml")
    cfg.write_text(yaml.safe_dump({"feeds": feeds}))
    code = (
        "import sys; from loaders.cli import main; "
        f"sys.argv = ['feeds', 'load', '--config', {str(cfg)!r}]; main()"
    )
    runs = []
    for _ in range(REPEATS):
        db.unlink(missing_ok=True)  # a fresh warehouse each time: every run loads everything
        runs.append(_child(code, {"ENGAGEMENT_DUCKDB": str(db)}))
    return _best(runs)


def time_bare(sql: str, db: Path) -> Measured:
    """DuckDB alone, the floor to compare with: `create table t as <sql>` into a fresh file."""
    code = (
        "import duckdb; con = duckdb.connect(" + repr(str(db)) + "); "
        "con.execute(" + repr("create table t as " + sql) + "); con.close()"
    )
    runs = []
    for _ in range(REPEATS):
        db.unlink(missing_ok=True)
        runs.append(_child(code))
    return _best(runs)


def report(
    label: str,
    loader: Measured,
    bare: Measured,
    ratio_floor: float,
    rss_floor_mb: float,
    previous: str | None = None,
) -> bool:
    ratio = loader.seconds / bare.seconds
    ok = ratio <= ratio_floor and loader.peak_rss_mb < rss_floor_mb
    print(
        f"{label:<28} feeds load {loader.seconds:7.2f}s  bare DuckDB {bare.seconds:7.2f}s  ratio {ratio:4.2f}"
        f" (floor {ratio_floor})  loader peak RSS {loader.peak_rss_mb:,.0f} MB (floor {rss_floor_mb:,.0f})"
        f"  {'OK' if ok else 'BELOW FLOOR'}  load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if previous is not None:
        print(f"{'':<28} previous: {previous}", flush=True)
    return ok


def previous(figures: dict[int, dict[str, str]], size: int, label: str) -> str:
    """A suite's earlier figure for this size and case, as recorded with its source; none is invented."""
    return figures.get(size, {}).get(label, f"no previous figure at this size ({size:,})")


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
