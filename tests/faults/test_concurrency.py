"""Two `feeds load` at once on one warehouse, and dbt while a load runs.

DuckDB lets one process write a database file at a time. A second `feeds load` (or `dbt build`) started
while a load holds the file exits at once with a clear message (exit code 75 for `feeds`; dbt's profile waits
for it instead, retrying its connection), touching nothing;
run again later, it loads only what is new: no file twice. Within the loading process, readers on other
connections see a batch whole or not at all (a transaction per batch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from loaders.config import parse_config
from loaders.load.run import Loader
from loaders.warehouse import connect
from tests.conftest import REPO, leanplum_event, query, run_feeds, write_config, write_ndjson
from tests.reliability import record

FILES, EVENTS = 6, 500


def _files(root: Path) -> None:
    for i in range(FILES):
        write_ndjson(
            root / f"dt=2024-05-0{1 + i % 3}" / f"f{i}.json",
            [leanplum_event(f"e{i}-{n}") for n in range(EVENTS)],
        )


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never reached its pause point"
        time.sleep(0.02)


def test_second_load_and_dbt_are_refused_clearly_while_a_load_runs(tmp_path: Path, warehouse: Path) -> None:
    root = tmp_path / "lp"
    _files(root)
    cfg = write_config(
        tmp_path / "feeds.yml",
        [{"name": "lp", "vendor": "leanplum", "uri": root.as_uri(), "max_batch_files": 2}],
    )
    marker = tmp_path / "paused"
    env = {**os.environ, "FEEDS_FAULT": "before_commit:pause", "FEEDS_FAULT_PAUSE_FILE": str(marker)}
    first = subprocess.Popen(
        [sys.executable, "-m", "loaders.cli", "load", "-c", str(cfg)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(marker, first)  # the first load holds the file, one batch inserted and not committed
        second = run_feeds("load", "-c", str(cfg))
        assert second.returncode == 75, second.stderr
        assert f"another process (process {first.pid}) is using the warehouse" in second.stderr
        assert "nothing was loaded, run again" in second.stderr

        # dbt waits for the load (the profile's connect retries) instead of failing
        dbt_env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "DBT_PROFILES_DIR": str(REPO)}
        dbt = subprocess.Popen(
            [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(REPO), "--profiles-dir",
             str(REPO), "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
             "--select", "stg_leanplum__events"],
            env=dbt_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        time.sleep(20)  # dbt starts, parses and tries to connect while the load holds the file
        assert dbt.poll() is None, "dbt gave up instead of waiting for the load"
    finally:
        marker.unlink(missing_ok=True)
    dbt_out, _ = dbt.communicate(timeout=600)
    assert dbt.returncode == 0 and "lock" not in dbt_out.lower(), dbt_out[-3000:]
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err

    again = run_feeds("load", "-c", str(cfg), check=0)
    assert "lp" in again.stdout
    assert query(warehouse, "select count(*), count(distinct event_id) from raw.leanplum__events") == [
        (FILES * EVENTS, FILES * EVENTS)
    ]
    per_uri = query(warehouse, "select uri, count(*) from loader.files group by 1")
    assert len(per_uri) == FILES and {n for _, n in per_uri} == {1}
    assert query(warehouse, "select files_loaded from loader.loads order by started_at") == [(FILES,), (0,)]
    record("test_concurrency_two_loads", faults_injected=2, rows_checked=FILES * EVENTS)


def test_readers_see_a_batch_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "lp"
    _files(root)
    marker = tmp_path / "paused"
    monkeypatch.setenv("FEEDS_FAULT", "before_commit:pause")
    monkeypatch.setenv("FEEDS_FAULT_PAUSE_FILE", str(marker))
    config = parse_config(
        {
            "settings": {"parallel_batches": 1},
            "feeds": [{"name": "lp", "vendor": "leanplum", "uri": root.as_uri(), "max_batch_files": 2}],
        }
    )
    con = connect(tmp_path / "w.duckdb")
    errors: list[BaseException] = []

    def load() -> None:
        try:
            Loader(con, config).run()
        except BaseException as exc:
            errors.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    reader = con.cursor()
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert loader.is_alive() and time.monotonic() < deadline, errors
            time.sleep(0.02)
        # the first batch (two files, 1,000 rows) is inserted in its transaction, not committed
        assert reader.execute("select count(*) from raw.leanplum__events").fetchall() == [(0,)]
        assert reader.execute("select count(*) from loader.files").fetchall() == [(0,)]
        marker.unlink()
        loader.join(120)
        assert not errors, errors
        seen = reader.execute(
            "select _source_uri, count(*) from raw.leanplum__events group by 1 order by 1"
        ).fetchall()
    finally:
        marker.unlink(missing_ok=True)
        loader.join(120)
        reader.close()
        con.close()
    assert len(seen) == FILES and {n for _, n in seen} == {EVENTS}
    record("test_concurrency_reader", faults_injected=1, rows_checked=FILES * EVENTS)


def test_a_held_lock_names_the_process(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    holder = duckdb.connect(str(path))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", f"from loaders.warehouse import connect; connect(__import__('pathlib').Path({str(path)!r}))"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        holder.close()
    assert proc.returncode != 0 and f"another process (process {os.getpid()})" in proc.stderr
