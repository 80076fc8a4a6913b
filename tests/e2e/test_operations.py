"""Running `feeds` from cron, CI or an orchestrator: a busy warehouse has its own exit code and can be waited
for, `feeds status` answers during a load and without a feeds.yml, configuration errors come all at once,
one line each, progress is printed as timestamped lines, `--json` parses, and an interrupted run is recorded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import yaml

from tests.conftest import REPO, leanplum_event, query, run_feeds, write_config, write_ndjson

FILES, EVENTS = 6, 200
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _files(root: Path) -> None:
    for i in range(FILES):
        write_ndjson(
            root / "dt=2024-05-01" / f"f{i}.json", [leanplum_event(f"e{i}-{n}") for n in range(EVENTS)]
        )


def _config(tmp_path: Path, **settings: object) -> Path:
    root = tmp_path / "lp"
    _files(root)
    feed = {"name": "lp", "vendor": "leanplum", "uri": root.as_uri(), "max_batch_files": 1}
    path = tmp_path / "feeds.yml"
    path.write_text(yaml.safe_dump({"settings": settings, "feeds": [feed]}))
    return path


def _paused_load(cfg: Path, marker: Path, fault: str) -> subprocess.Popen:
    env = {**os.environ, "FEEDS_FAULT": fault, "FEEDS_FAULT_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "loaders.cli", "load", "-c", str(cfg)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the load never reached its pause point"
        time.sleep(0.02)
    return proc


def test_busy_warehouse_exits_75_and_wait_waits_then_loads(tmp_path: Path, warehouse: Path) -> None:
    cfg = _config(tmp_path)
    warehouse.parent.mkdir(parents=True)
    holder = duckdb.connect(str(warehouse))  # another process writing (this test's process)
    try:
        busy = run_feeds("load", "-c", str(cfg))
        assert busy.returncode == 75, busy.stderr
        assert f"another process (process {os.getpid()})" in busy.stderr and "--wait" in busy.stderr
        threading.Timer(2.0, holder.close).start()
        waited = run_feeds("load", "-c", str(cfg), "--wait", "120", "--json")
    finally:
        holder.close()
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["feeds"][0]["files_loaded"] == FILES
    assert query(warehouse, "select count(*) from raw.leanplum__events") == [(FILES * EVENTS,)]


def test_status_answers_during_a_load_and_without_feeds_yml(tmp_path: Path, warehouse: Path) -> None:
    cfg = _config(tmp_path, parallel_batches=1)
    run_feeds("load", "-c", str(cfg), check=0)
    _files(tmp_path / "lp2")  # a second feed's files, loaded while status is asked
    conf = yaml.safe_load(cfg.read_text())
    conf["feeds"].append({**conf["feeds"][0], "name": "lp2", "uri": (tmp_path / "lp2").as_uri()})
    cfg.write_text(yaml.safe_dump(conf))
    marker = tmp_path / "paused"
    load = _paused_load(cfg, marker, "before_commit:pause")
    try:
        during = run_feeds("status", "-c", str(cfg), "--json")
        plain = run_feeds("status", "-c", str(cfg))
    finally:
        marker.unlink(missing_ok=True)
    assert load.wait(120) == 0, load.communicate()
    assert during.returncode == 0, during.stderr
    status = json.loads(during.stdout)
    assert status["running"]["pid"] == load.pid and "another process" in status["busy"]
    assert {f["feed"]: f["files_loaded"] for f in status["feeds"]} == {"lp": FILES, "lp2": 0}
    assert plain.returncode == 0 and "busy:" in plain.stderr and "lp2" in plain.stdout

    # no feeds.yml: the warehouse from $ENGAGEMENT_DUCKDB, the feeds from the ledger
    bare = tmp_path / "elsewhere"
    bare.mkdir()
    proc = subprocess.run([sys.executable, "-m", "loaders.cli", "status", "--json"], cwd=bare, env=os.environ,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = {f["feed"]: (f["vendor"], f["files_loaded"]) for f in json.loads(proc.stdout)["feeds"]}
    assert got == {"lp": ("leanplum", FILES), "lp2": ("leanplum", FILES)}

    # a path that does not exist: an error, and no database is created
    missing = tmp_path / "nothing" / "here.duckdb"
    proc = run_feeds("status", env={"ENGAGEMENT_DUCKDB": str(missing)})
    assert proc.returncode == 2 and "no such warehouse file" in proc.stderr
    assert not missing.exists() and not missing.parent.exists()


def test_configuration_errors_all_at_once_one_line_each(tmp_path: Path, warehouse: Path) -> None:
    cfg = tmp_path / "feeds.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "settings": {"memory_limit": "lots", "threads": 0},
                "feeds": [
                    {"name": "a", "vendr": "leanplum", "uri": "file:///tmp"},
                    {"name": "b", "vendor": "leanplum", "uri": "https://example.com/feed"},
                    {
                        "name": "c",
                        "vendor": "sailthru",
                        "uri": "s3://bucket/x",
                        "s3": {"regoin": "eu-west-1"},
                    },
                ],
            }
        )
    )
    proc = run_feeds("load", "-c", str(cfg), env={"COLUMNS": "300"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    expected = [
        "settings.memory_limit': 'lots' is not a size",
        "settings.threads'",
        "feed 'a': key 'vendr': unknown key; did you mean 'vendor'?",
        "feed 'a': key 'vendor': required key is missing",
        "feed 'b': key 'uri': no transport for https://",
        "feed 'c': key 's3.regoin': unknown key; did you mean 'region'?",
    ]
    assert len(lines) == len(expected), proc.stderr
    for part in expected:
        assert sum(part in line for line in lines) == 1, (part, proc.stderr)
    assert all(line.startswith("error: ") for line in lines)
    assert not warehouse.exists()


def test_bad_warehouse_path_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "feeds.yml", [{"name": "lp", "vendor": "leanplum", "uri": f"file://{tmp_path}"}]
    )
    for path, says in ((tmp_path / "raw.duckdb", "pick another file name"), (tmp_path, "is a directory")):
        proc = run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(path)})
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and says in lines[0] and "ENGAGEMENT_DUCKDB" in lines[0], proc.stderr
    assert not (tmp_path / "raw.duckdb").exists()


def test_without_a_terminal_progress_is_timestamped_lines_per_feed(tmp_path: Path, warehouse: Path) -> None:
    cfg = _config(tmp_path)
    proc = run_feeds("load", "-c", str(cfg), "--json", check=0)
    summary = json.loads(proc.stdout)
    assert summary["exit_code"] == 0 and summary["feeds"][0]["rows"] == FILES * EVENTS
    lines = proc.stderr.splitlines()
    assert any(re.fullmatch(rf"{STAMP} feed lp: listing", line) for line in lines), proc.stderr
    assert any(re.fullmatch(rf"{STAMP} feed lp: loaded {FILES}/{FILES} files, {FILES * EVENTS:,} rows, .* MB", line)
               for line in lines), proc.stderr  # fmt: skip
    assert any(re.fullmatch(rf"{STAMP} feed lp: done, {FILES} loaded, .*", line) for line in lines)


def test_an_interrupted_run_is_recorded_with_what_it_committed(tmp_path: Path, warehouse: Path) -> None:
    cfg = _config(tmp_path, parallel_batches=1)
    marker = tmp_path / "paused"
    load = _paused_load(cfg, marker, "after_commit:pause@2")  # two files committed, then paused
    load.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    marker.unlink()
    _, err = load.communicate(timeout=120)
    assert load.returncode == 143, err
    assert "interrupted" in err
    assert query(warehouse, "select status, files_loaded, rows_loaded from loader.loads") == [
        ("interrupted", 2, 2 * EVENTS)
    ]
    assert query(warehouse, "select count(*) from raw.leanplum__events") == [(2 * EVENTS,)]
    # the next run loads the rest, nothing twice
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*), count(distinct event_id) from raw.leanplum__events") == [
        (FILES * EVENTS, FILES * EVENTS)
    ]
