"""The environment is not the file's fault (issue 12): a full disk, a corrupt or read-only warehouse stop the
run with one line and exit 74, quarantine nothing and leave the ledger as it was; the next run after the
disk is fixed loads everything. The disk is a real small tmpfs (mounted here: the tests run as root in CI);
where mounting is not allowed, DuckDB's own disk-full error is raised at the commit by the fault hook.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import query, run_feeds, write_config
from tests.reliability import record

EXIT_ENVIRONMENT = 74
FILES, ROWS = 8, 20_000


def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return proc.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    folder = tmp_path / "disk"
    mounted = os.geteuid() == 0 and _mount(folder, "size=6m")
    folder.mkdir(exist_ok=True)
    yield folder, mounted
    if mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _landing(root: Path) -> int:
    rng = random.Random(12)
    for i in range(FILES):
        path = root / "sailthru" / "campaign_open" / "dt=20240501" / "client_id=0000" / f"part-{i:08x}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = "".join(
            f"m{i}-{r},{rng.getrandbits(128):032x},{rng.getrandbits(64):016x}\n" for r in range(ROWS)
        )
        path.write_text("message_id,event_id,event_time\n" + rows)
    return FILES * ROWS


def test_a_full_disk_stops_the_run_quarantines_nothing_and_the_next_run_loads_all(
    tmp_path: Path, small_disk: tuple[Path, bool]
) -> None:
    disk, mounted = small_disk
    total = _landing(tmp_path / "landing")
    warehouse = disk / "engagement.duckdb"
    cfg = write_config(
        tmp_path / "feeds.yml",
        [
            {
                "name": "st",
                "vendor": "sailthru",
                "uri": (tmp_path / "landing" / "sailthru").as_uri(),
                "max_batch_files": 2,
            }
        ],
    )
    env = {"ENGAGEMENT_DUCKDB": str(warehouse)}
    if not mounted:
        env["FEEDS_FAULT"] = "before_commit:diskfull@2"
    proc = run_feeds("load", "-c", str(cfg), env=env)
    assert proc.returncode == EXIT_ENVIRONMENT, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr and "nothing was quarantined" in proc.stderr
    assert len(error_lines(proc.stderr)) == 1, proc.stderr
    if mounted:  # room to read the ledger
        subprocess.run(["mount", "-o", "remount,size=400m", str(disk)], check=True)
    ledger = query(warehouse, "select status, count(*) from loader.files group by 1")
    assert dict(ledger).get("quarantined", 0) == 0
    loaded_before = dict(ledger).get("loaded", 0)
    assert loaded_before < FILES
    proc = run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(warehouse)}, check=0)
    assert query(
        warehouse, "select count(*), count(distinct _source_uri) from raw.sailthru__campaign_open"
    ) == [(total, FILES)]
    assert query(warehouse, "select status, count(*) from loader.files group by 1") == [("loaded", FILES)]
    record("test_rows_disk_full", faults_injected=1, rows_checked=total)


def test_a_corrupt_warehouse_is_one_line_and_exit_74(tmp_path: Path) -> None:
    _landing(tmp_path / "landing")
    warehouse = tmp_path / "wh" / "engagement.duckdb"
    warehouse.parent.mkdir()
    warehouse.write_bytes(b"DUCK" + os.urandom(1 << 16))
    cfg = write_config(
        tmp_path / "feeds.yml",
        [{"name": "st", "vendor": "sailthru", "uri": (tmp_path / "landing" / "sailthru").as_uri()}],
    )
    proc = run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(warehouse)})
    assert proc.returncode == EXIT_ENVIRONMENT, proc.stderr
    assert "Traceback" not in proc.stderr and len(error_lines(proc.stderr)) == 1, proc.stderr
    assert str(warehouse) in proc.stderr


def test_a_read_only_warehouse_is_one_line_and_exit_74(tmp_path: Path, small_disk: tuple[Path, bool]) -> None:
    disk, mounted = small_disk
    if not mounted:
        pytest.skip("a read-only file system needs mount (root)")
    _landing(tmp_path / "landing")
    cfg = write_config(
        tmp_path / "feeds.yml",
        [{"name": "st", "vendor": "sailthru", "uri": (tmp_path / "landing" / "sailthru").as_uri()}],
    )
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    proc = run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(disk / "engagement.duckdb")})
    assert proc.returncode == EXIT_ENVIRONMENT, proc.stderr
    assert "Traceback" not in proc.stderr and len(error_lines(proc.stderr)) == 1, proc.stderr


def error_lines(stderr: str) -> list[str]:
    """The run's error lines (without a terminal, progress comes as timestamped lines on stderr too)."""
    return [line for line in stderr.strip().splitlines() if not line[:4].isdigit()]
