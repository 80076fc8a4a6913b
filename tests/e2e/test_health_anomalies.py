"""Each feed-health anomaly test (tests/dbt/generic) fails on a feed built to trigger it and on no other.

Six feeds delivered daily for 15 days, each loaded by the real loader on a simulated clock
(tests/health_replay.py): `steady` (the control: the same volume every day, one quarantined file long ago),
`silent` (stops after day 10), `spike` (ten times its volume on the last day), `broken` (a quarantined file
on the last day), `ragged` (Sailthru CSV with 10 % rejected rows on the last day) and `drift` (a new vendor
column on the last day). Health is judged the last day at 13:00. The silence test has severity error, so
the daily `dbt build` fails; the others warn.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.health_replay import load_at

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAYS = 15
START = date(2024, 6, 1)
LAST = START + timedelta(days=DAYS - 1)
SEND = ["message_id", "campaign_id", "client_id", "email_sha256", "event_id", "event_time", "profile_id"]

pytestmark = pytest.mark.slow


def _leanplum(root: Path, feed: str, day: date, n: int, extra: dict | None = None, part: int = 0) -> None:
    folder = root / feed / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        props = {"user_id": f"u{i % 50}", "device_id": f"d{i % 50}", "time": f"{day} 08:{i % 60:02d}:00.000"}
        lines.append(json.dumps({"event_id": f"{feed}-{day}-{part}-{i}", "name": "(Leanplum) Email Open",
                                 "properties": props, **(extra or {})}))  # fmt: skip
    (folder / f"leanplum-events-{day:%Y%m%d}-{part:05d}.json").write_text("\n".join(lines) + "\n")


def _garbage(root: Path, feed: str, day: date) -> None:
    folder = root / feed / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"leanplum-events-{day:%Y%m%d}-00099.json").write_bytes(
        gzip.compress(b"{}")[:12] + b"\xff" * 64
    )


def _sailthru(root: Path, day: date, n: int, ragged: int = 0) -> None:
    folder = root / "ragged" / f"campaign_send/dt={day:%Y%m%d}/client_id=0000"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [",".join(SEND)]
    for i in range(n):
        row = [f"m{i}", "c1", "0000", "ab" * 32, f"s-{day}-{i}", f"{day} 09:00:00", f"p{i}"]
        if i < ragged:
            row.append("one field too many")
        rows.append(",".join(row))
    (folder / f"part-{day:%Y%m%d}.csv").write_text("\n".join(rows) + "\n")


def _deliver(root: Path, i: int, day: date) -> None:
    _leanplum(root, "steady", day, 100)
    if i == 3:
        _garbage(root, "steady", day)  # long ago: no longer news
    if i <= 10:
        _leanplum(root, "silent", day, 100)
    _leanplum(root, "spike", day, 1000 if day == LAST else 100)
    _leanplum(root, "broken", day, 100)
    if day == LAST:
        _garbage(root, "broken", day)
    _sailthru(root, day, 100, ragged=10 if day == LAST else 0)
    _leanplum(root, "drift", day, 100, extra={"new_vendor_field": "x"} if day == LAST else None)


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    tmp = tmp_path_factory.mktemp("anomalies")
    root = tmp / "feeds"
    feeds = [{"name": f, "vendor": "leanplum", "uri": (root / f).as_uri()}
             for f in ("steady", "silent", "spike", "broken", "drift")]  # fmt: skip
    feeds.append({"name": "ragged", "vendor": "sailthru", "uri": (root / "ragged").as_uri()})
    for f in feeds:
        Path(f["uri"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    feeds_yml = tmp / "feeds.yml"
    feeds_yml.write_text(yaml.safe_dump({"feeds": feeds}))
    warehouse = tmp / "wh.duckdb"
    for i in range(DAYS):
        day = START + timedelta(days=i)
        _deliver(root, i, day)
        load_at(feeds_yml, warehouse, datetime.combine(day, datetime.min.time()) + timedelta(hours=12))
    variables = {"health__as_of": f"{LAST} 13:00:00"}
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "DBT_PROFILES_DIR": str(REPO)}
    proc = subprocess.run(
        [str(BIN / "dbt"), "build", "--select", "+path:models/health", "--exclude", "resource_type:unit_test",
         "--vars", json.dumps(variables), "--project-dir", str(REPO), "--target-path", str(tmp / "target"),
         "--log-path", str(tmp / "logs")],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    results = json.loads((tmp / "target" / "run_results.json").read_text())
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    tests = {}
    for r in results["results"]:
        node = manifest["nodes"].get(r["unique_id"], {})
        name = node.get("test_metadata", {}).get("name")
        if name:
            tests.setdefault(name, []).append({**r, "compiled": node.get("compiled_code")})
    return proc, tests, warehouse


def _failing_feeds(warehouse: Path, compiled: str) -> set[str]:
    """The feeds in the rows the test's own compiled SQL returns (what dbt counted as failures)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {r[0] for r in con.execute(f"select feed from ({compiled})").fetchall()}


@pytest.mark.parametrize(
    ("test", "column", "feed", "status"),
    [
        ("feed_not_silent", None, "silent", "fail"),
        ("feed_volume_within_range", None, "spike", "warn"),
        ("health_rate_at_most", "quarantine_rate", "broken", "warn"),
        ("health_rate_at_most", "reject_rate", "ragged", "warn"),
        ("no_new_vendor_columns", None, "drift", "warn"),
    ],
)
def test_each_anomaly_test_fires_on_its_case_only(
    judged: tuple[subprocess.CompletedProcess, dict, Path],
    test: str,
    column: str | None,
    feed: str,
    status: str,
) -> None:
    proc, tests, warehouse = judged
    runs = [r for r in tests[test] if column is None or column in r["unique_id"]]
    assert len(runs) == 1, [r["unique_id"] for r in tests[test]]
    (run,) = runs
    assert run["status"] == status, run["message"]
    assert _failing_feeds(warehouse, run["compiled"]) == {feed}


def test_the_daily_build_fails_on_silence_and_nothing_else_fails(
    judged: tuple[subprocess.CompletedProcess, dict, Path],
) -> None:
    proc, tests, _ = judged
    assert proc.returncode == 1, proc.stdout[-3000:]
    failed = [r["unique_id"] for rs in tests.values() for r in rs if r["status"] in ("fail", "error")]
    assert len(failed) == 1 and "feed_not_silent" in failed[0], failed
    # the health mart's own tests (keys, accepted values) pass
    others = [
        r for name, rs in tests.items() if name in ("unique", "not_null", "accepted_values") for r in rs
    ]
    assert others and all(r["status"] == "pass" for r in others if ".health" in r["unique_id"] or True)
