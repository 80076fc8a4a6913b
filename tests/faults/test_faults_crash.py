"""SIGKILL at random moments of a multi-file, five-vendor load; a plain re-run must end exactly where an
uninterrupted load ends: every raw table and the ledger equal, load ids and timestamps aside.

Two kinds of kill, chosen at random (seed printed, FEEDS_CRASH_SEED repeats a run): the FEEDS_FAULT hook of
the load core (`<point>:kill@<n>`: the n-th time the run reaches after_localize, after_schema, after_insert,
before_commit or after_commit) and a plain SIGKILL of the `feeds load` process after a random delay. Right
after each kill, before the re-run, every file the ledger calls loaded must have exactly its rows in raw and
no other file any row: a batch is all there or not there.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import yaml

from tests import mart_fixture as fx
from tests.conftest import REPO
from tests.reliability import record

KILLS_WANTED = 22
POINTS = {"after_localize": 5, "after_schema": 5, "after_insert": 12, "before_commit": 12, "after_commit": 12}
IGNORED = {"_load_id", "_loaded_at"}


def _write_feeds(root: Path) -> Path:
    cfg = fx.write_feeds_yml(root)
    for day in fx.DAYS:
        fx.write_day(root, day)
    # more files than the fixture has, in small batches: many commits for a kill to fall between
    for i in range(24):
        rows = [
            {
                "event_id": f"X{i}-{n}",
                "name": "(Leanplum) Email Open",
                "properties": {"user_id": f"u{n}", "time": f"2024-05-0{1 + i % 3} 10:00:00.000", "n": n},
            }
            for n in range(300)
        ]
        path = root / "leanplum" / f"dt=2024-05-0{1 + i % 3}" / f"leanplum-events-extra-{i:05d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for i in range(16):
        path = root / "sailthru" / "campaign_open" / "dt=20240502" / "client_id=0000" / f"part-1{i:07d}.csv"
        lines = [",".join(fx.OPEN)] + [
            f"m{i},c100,0000,{fx.sha(fx.ANNA)},X{i}-{n},2024-05-02 07:00:00,true,p-anna,Mail"
            for n in range(300)
        ]
        path.write_text("\n".join(lines) + "\n")
    config = yaml.safe_load(cfg.read_text())
    for feed in config["feeds"]:
        feed["max_batch_files"] = 2
    cfg.write_text(yaml.safe_dump(config))
    return cfg


def _snapshot(db: Path) -> dict[str, tuple[int, str]]:
    """Per raw table and for the ledger and rejects: (rows, digest of the sorted rows), by column name."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, tuple[int, str]] = {}
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema = 'raw' order by all"
        ).fetchall()
        for schema, table in tables:
            cols = sorted(
                c
                for (c,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
                if c not in IGNORED
            )
            select = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
            rows = con.execute(f'select {select} from {schema}."{table}" order by all').fetchall()
            out[f"{schema}.{table}"] = (len(rows), hashlib.sha256(repr((cols, rows)).encode()).hexdigest())
        for name, sql in {
            "ledger": "select feed, uri, version, size, mtime, raw_table, status, rows, error from loader.files",
            "rejects": "select feed, uri, version, line, reason, content from loader.rejects",
        }.items():
            rows = con.execute(f"{sql} order by all").fetchall()
            out[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return out
    finally:
        con.close()


def _batches_whole(db: Path) -> None:
    """Right after a kill: a loaded file has all its rows, a file not loaded has none."""
    if not db.exists():
        return
    con = duckdb.connect(str(db))  # read-write: replays the write-ahead log the kill left
    try:
        ledger = dict(
            con.execute("select uri, rows from loader.files where status = 'loaded'").fetchall()
            if con.execute(
                "select count(*) from information_schema.tables where table_schema = 'loader' and table_name = 'files'"
            ).fetchone()[0]
            else []
        )
        tables = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        ]
        in_raw: dict[str, int] = {}
        for t in tables:
            for uri, n in con.execute(f'select _source_uri, count(*) from raw."{t}" group by 1').fetchall():
                in_raw[uri] = in_raw.get(uri, 0) + n
    finally:
        con.close()
    for uri, n in in_raw.items():
        assert ledger.get(uri) == n, f"{uri}: {n} rows in raw, ledger says {ledger.get(uri)}"
    assert all(uri in in_raw or n == 0 for uri, n in ledger.items())


def _feeds(cfg: Path, db: Path, fault: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(db), "COLUMNS": "200"}
    env.pop("FEEDS_FAULT", None)
    if fault:
        env["FEEDS_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "loaders.cli", "load", "-c", str(cfg)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _plain_run(cfg: Path, db: Path) -> None:
    proc = _feeds(cfg, db)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"re-run failed ({proc.returncode}):\n{out}\n{err}"


def test_sigkill_at_random_moments_then_rerun_equals_an_uninterrupted_load(tmp_path: Path) -> None:
    cfg = _write_feeds(tmp_path / "feeds")
    baseline_db = tmp_path / "baseline.duckdb"
    started = time.monotonic()
    _plain_run(cfg, baseline_db)
    duration = time.monotonic() - started
    expected = _snapshot(baseline_db)
    assert expected["ledger"][0] >= 50 and len(expected) >= 10, expected

    seed = int(os.environ.get("FEEDS_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"FEEDS_CRASH_SEED={seed}; an uninterrupted load takes {duration:.2f}s")
    kills: list[str] = []
    trial = lost = twice = 0
    while len(kills) < KILLS_WANTED:
        trial += 1
        assert trial <= KILLS_WANTED * 2, f"only {len(kills)} of {trial} runs were killed: {kills}"
        db = tmp_path / f"trial{trial}.duckdb"
        if trial % 2:
            point = rng.choice(sorted(POINTS))
            fault = f"{point}:kill@{rng.randint(1, POINTS[point])}"
            proc = _feeds(cfg, db, fault)
            proc.communicate(timeout=300)
            moment = fault
        else:
            delay = rng.uniform(0.25, max(duration, 0.5))
            proc = _feeds(cfg, db)
            time.sleep(delay)
            proc.kill()
            proc.communicate(timeout=300)
            moment = f"SIGKILL after {delay:.2f}s"
        if proc.returncode != -9:
            continue  # the run ended before the moment came: not a kill, try another
        kills.append(moment)
        _batches_whole(db)
        _plain_run(cfg, db)
        got = _snapshot(db)
        for table, (n, _) in expected.items():
            have = got.get(table, (0, ""))[0]
            lost, twice = lost + max(0, n - have), twice + max(0, have - n)
        diff = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        if diff or set(got) != set(expected):
            record("test_faults_crash", faults_injected=len(kills), rows_lost=lost, rows_loaded_twice=twice)
        assert not diff and set(got) == set(expected), f"after {moment} (seed {seed}): {diff}"
    rows = sum(n for k, (n, _) in expected.items() if k.startswith("raw."))
    print(f"{len(kills)} kills: {kills}")
    record(
        "test_faults_crash",
        faults_injected=len(kills),
        rows_checked=rows * len(kills),
        rows_lost=lost,
        rows_loaded_twice=twice,
    )
