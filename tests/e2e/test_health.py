"""Feed health (models/health) on an export with quirks replayed day by day (tests/health_replay.py):

(a) the mart's figures per feed x day equal what the loader reported for each day's run (files, rows, bytes,
    quarantined files, rejected rows, waiting files); (b) duplicates equal the export's ground truth (data
    rows written minus distinct events); (c) late-arrival percentiles and schema drift equal a recount from
    the ledger and the fact table in Python; (d) `feeds report` opened in a real headless Chromium renders
    every chart with data, without a console error or a network request, and leaves a screenshot.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.browser import open_page
from tests.e2e.test_mart_build import dbt
from tests.health_replay import Replay, replay

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "target" / "feeds-report.png"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Replay, Path]:
    tmp = tmp_path_factory.mktemp("health")
    result = replay(tmp)
    variables = {"health__as_of": result.as_of.isoformat(sep=" "), "health__silence_severity": "warn"}
    dbt(
        ["build", "--exclude", "resource_type:unit_test", "--vars", json.dumps(variables)],
        result.warehouse,
        tmp,
    )
    return result, tmp


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def _daily(db: Path) -> dict[tuple[str, date], dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("select * from health.feed_health_daily")
        names = [d[0] for d in cur.description]
        return {(r[1], r[3]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def test_daily_figures_equal_what_the_loader_reported(replayed: tuple[Replay, Path]) -> None:
    result, _ = replayed
    daily = _daily(result.warehouse)
    feeds = {f for f, _ in result.recorded}
    assert {f for f, _ in daily} == feeds
    last = result.days[-1]
    for (feed, day), row in daily.items():
        reported = result.recorded.get((feed, day), {})
        for column in ("files_loaded", "rows_loaded", "bytes_loaded", "files_quarantined", "rows_rejected"):
            assert row[column] == reported.get(column, 0), (feed, day, column)
        # the loader keeps only the current set of waiting files: they show on the day of the last check
        assert row["files_waiting"] == (reported.get("files_waiting", 0) if day == last else 0), (feed, day)
    # every day of the replay is in the mart, silent ones included, up to the day health is judged at
    first = result.days[0]
    assert {d for _, d in daily} == {first + timedelta(days=i) for i in range((last - first).days + 1)}
    # the quirks are there to be seen
    assert sum(r["files_quarantined"] for r in daily.values()) == 1
    assert sum(r["rows_rejected"] for r in daily.values()) == 1
    assert daily[("simon", last)]["files_waiting"] >= 1
    assert sum(r["new_columns"] for r in daily.values()) >= 1

    # per run: the ledger's loads with their rows, files and a rate
    runs = _rows(result.warehouse, "select outcome, files_loaded, rows_loaded, files_quarantined,"
                                   " rows_rejected, rows_per_second from health.feed_load_runs order by started_at")  # fmt: skip
    assert len(runs) == len(result.days)
    for (outcome, files, rows, quarantined, rejected, rate), day in zip(runs, result.days, strict=True):
        reported = [v for (f, d), v in result.recorded.items() if d == day]
        assert files == sum(v["files_loaded"] for v in reported)
        assert rows == sum(v["rows_loaded"] for v in reported)
        assert quarantined == sum(v["files_quarantined"] for v in reported)
        assert rejected == sum(v["rows_rejected"] for v in reported)
        assert outcome == ("partial" if quarantined or rejected else "ok")
        assert rate is None or (rate > 0 if rows else rate == 0)

    problems = _rows(result.warehouse, "select problem, feed, reason_kind from health.feed_problem_files")
    kinds = sorted((p, f) for p, f, _ in problems)
    assert kinds.count(("quarantined", "sailthru_extra")) == 1
    assert ("waiting", "simon") in kinds
    (reason,) = [k for p, _, k in problems if p == "quarantined"]
    assert reason and "part-0badf00e" not in reason  # a reason, never the file's name


def test_duplicates_equal_the_ground_truth(replayed: tuple[Replay, Path]) -> None:
    result, _ = replayed
    root = result.export_root
    with open(root / "truth/files.csv", newline="") as fh:
        files = [r for r in csv.DictReader(fh) if r["kind"] == "data" and r["relpath"] not in result.withheld]
    waiting = [u for (u,) in _rows(result.warehouse, "select uri from health.feed_problem_files"
                                                     " where problem = 'waiting'")]  # fmt: skip
    written: dict[str, int] = defaultdict(int)
    for r in files:
        if not any(u.endswith("/" + r["relpath"]) for u in waiting):  # not loaded yet
            written[r["vendor"]] += int(r["rows"])
    with open(root / "truth/events.csv", newline="") as fh:
        events: dict[str, int] = defaultdict(int)
        for r in csv.DictReader(fh):
            events[r["vendor"]] += int(r["events"])
    got = {
        vendor: (raw, new)
        for vendor, raw, new in _rows(
            result.warehouse,
            "select source_vendor, sum(raw_event_rows), sum(new_distinct_events) from health.feed_health_daily"
            " where feed <> 'sailthru_extra' group by 1",
        )
    }
    for vendor, (raw, new) in got.items():
        assert raw == written[vendor], vendor
        if vendor != "simon":  # the withheld control file keeps some Simon events out of the mart
            assert new == events[vendor], vendor
            assert raw - new == written[vendor] - events[vendor] > 0, vendor


def _percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (DuckDB's quantile_cont)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def test_late_arrival_and_drift_equal_a_recount(replayed: tuple[Replay, Path]) -> None:
    result, _ = replayed
    db = result.warehouse
    batch_feed = {
        (t, at): f
        for f, t, at in _rows(db, "select distinct feed, raw_table, loaded_at from loader.files where status = 'loaded'")
    }  # fmt: skip
    late: dict[tuple[str, date], list[float]] = defaultdict(list)
    for table, loaded_at, occurred_at in _rows(
        db, "select source_table, loaded_at, occurred_at from marts.fct_engagement_events"
    ):
        feed = batch_feed[(table, loaded_at)]
        late[(feed, loaded_at.date())].append((loaded_at - occurred_at).total_seconds() / 3600)
    daily = _daily(db)
    for key, values in late.items():
        row = daily[key]
        assert row["new_distinct_events"] == len(values)
        for p, column in ((0.5, "late_hours_p50"), (0.9, "late_hours_p90"), (0.99, "late_hours_p99")):
            assert row[column] == pytest.approx(_percentile(values, p), abs=1e-6), (key, column)
        assert row["late_hours_max"] == pytest.approx(max(values), abs=1e-6)
    # Sailthru's late mobile rows and catch-up parts: some events arrive more than a day late
    assert max(v for (f, _), vs in late.items() if f == "sailthru" for v in vs) > 24
    banded = dict(_rows(db, "select feed, sum(events) from health.feed_late_arrivals group by 1"))
    assert banded == {f: sum(len(v) for (g, _), v in late.items() if g == f) for f in banded}

    # drift: columns added after a table's first load, on the feed and day of the file that brought them
    changes = _rows(
        db, "select raw_table, column_name, first_uri, load_id, seen_at from loader.schema_changes"
    )
    creating = {}
    for table, _, _, load_id, _seen in sorted(changes, key=lambda c: (c[4], c[1])):
        creating.setdefault(table, load_id)
    owner = {(u, lid): f for f, u, lid in _rows(db, "select feed, uri, load_id from loader.files")}
    drift: dict[tuple[str, date], int] = defaultdict(int)
    for table, _, uri, load_id, seen in changes:
        if load_id != creating[table]:
            drift[(owner[(uri, load_id)], seen.date())] += 1
    assert drift, "the export's drift quirk adds a column after the first load"
    assert {k: r["new_columns"] for k, r in daily.items() if r["new_columns"]} == dict(drift)


CHECK = """window.reportReady.then(() => Array.from(document.querySelectorAll('[data-chart]')).map(gd => ({
  key: gd.dataset.chart, traces: (gd.data || []).length, svg: !!gd.querySelector('.main-svg'),
  points: (gd.data || []).reduce((n, t) => n + ['x', 'y', 'z'].reduce((m, a) => Math.max(m,
      Array.isArray(t[a]) ? t[a].flat().filter(v => v !== null && v !== undefined).length : 0), 0), 0)})))"""


def test_report_renders_in_headless_chromium(replayed: tuple[Replay, Path]) -> None:
    result, tmp = replayed
    out = tmp / "report" / "feeds-report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "loaders.cli", "report", "--duckdb", str(result.warehouse), "--out", str(out),
         "--run-results", str(tmp / "target" / "run_results.json")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert str(out.resolve()) in proc.stdout.replace("\n", "")
    page = out.read_text(encoding="utf-8")
    assert "<script src" not in page and "cdn" not in page.lower().split("</head>")[1]

    visit = open_page(out.as_uri(), CHECK, SCREENSHOT)
    assert visit.console_errors == []
    # nothing fetched: the page itself, and the images plotly draws inline
    assert [u for u in visit.requests if not u.startswith(("file:", "data:", "blob:"))] == []
    charts = {c["key"]: c for c in visit.value}
    assert set(charts) == {
        "events_per_vendor", "files_per_feed", "rows_per_feed", "freshness", "problems_over_time",
        "problem_reasons", "schema_drift", "duplicate_rate", "late_arrival", "load_runs", "tests",
    }  # fmt: skip
    for key, chart in charts.items():
        assert chart["svg"] and chart["traces"] > 0 and chart["points"] > 0, key
    assert SCREENSHOT.stat().st_size > 50_000
    # a report file this command did not write is never replaced
    mine = tmp / "report" / "notes.html"
    mine.write_text("<html>my notes</html>")
    refused = subprocess.run(
        [sys.executable, "-m", "loaders.cli", "report", "--duckdb", str(result.warehouse), "--out", str(mine)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "not a report this command wrote" in refused.stderr
    assert mine.read_text() == "<html>my notes</html>"
