"""APSIS windows re-read a trailing overlap and end a settle lag before now, against the fake APSIS API over
HTTP: an event APSIS files after its window was exported still lands, and the overlap's duplicates collapse in
the mart (on correlation_id + type)."""

from __future__ import annotations

import csv
import gzip
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.apsis_api import FakeApsisAPI
from loaders.transports.apsis_windows import window_of
from tests.conftest import REPO, query, run_feeds, write_config
from tests.servers.test_apsis_api import CLIENT_ID, DEFAULT_COLUMNS, SECRET, render
from tests.servers.test_apsis_load import ENV, apsis_feed

LATE_AT = datetime(2024, 1, 9, 12, tzinfo=UTC)  # received by APSIS then, but filed for export only later


def late_render(filed: dict[str, bool]):
    """The test API's export, plus one event whose server_time falls in an early window but which the export
    holds only once `filed['late']` is set: the late filing the overlap is there for."""

    def export(start: datetime, end: datetime, attributes: list[str], tags: list[str]) -> bytes:
        text = gzip.decompress(render(start, end, attributes, tags)).decode()
        if filed["late"] and start <= LATE_AT < end:
            row = dict.fromkeys(DEFAULT_COLUMNS, "")
            ms = str(int(LATE_AT.timestamp() * 1000))
            row.update(
                type="OPENED", correlation_id="late-1", address="late@x.io", event_time=ms, server_time=ms
            )
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerow([row[c] for c in DEFAULT_COLUMNS] + [""] * (
                len(attributes) + len(tags)))  # fmt: skip
            text += buf.getvalue()
        return gzip.compress(text.encode(), mtime=0)

    return export


@pytest.fixture(autouse=True)
def _creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def two_loads(tmp_path: Path, overlap_hours: float) -> tuple[list[tuple[datetime, datetime]], Path]:
    """Load to Jan 10, let APSIS file the late event (Jan 9, 12:00), load to Jan 12."""
    filed = {"late": False}
    cfg = tmp_path / "feeds.yml"
    with FakeApsisAPI(late_render(filed), CLIENT_ID, SECRET, polls_until_complete=1) as api:
        write_config(cfg, [apsis_feed(api.base_url, "2024-01-10T00:00:00Z", overlap_hours=overlap_hours)])
        run_feeds("load", "-c", str(cfg), env=ENV, check=0)
        filed["late"] = True
        write_config(cfg, [apsis_feed(api.base_url, "2024-01-12T00:00:00Z", overlap_hours=overlap_hours)])
        run_feeds("load", "-c", str(cfg), env=ENV, check=0)
        return list(api.stats.windows), cfg


def test_the_overlap_catches_an_event_filed_after_its_window(tmp_path: Path, warehouse: Path) -> None:
    windows, _ = two_loads(tmp_path, 48)
    d = lambda day: datetime(2024, 1, day, tzinfo=UTC)  # noqa: E731
    # the first load asks for its windows in parallel (any order); the last one starts 48 hours early
    assert sorted(windows) == [(d(1), d(8)), (d(8), d(10)), (d(8), d(12))]
    assert query(
        warehouse, "select type, address from raw.apsis__email_events where correlation_id = 'late-1'"
    ) == [("OPENED", "late@x.io")]
    # the overlap's events arrive twice in raw (exact copies from two windows); the mart keeps one of each
    dup = query(
        warehouse,
        "select count(*) - count(distinct (correlation_id, type, event_time, server_time)) from raw.apsis__email_events"
        " where server_time::bigint >= epoch_ms(timestamp '2024-01-08')",
    )[0][0]
    assert dup > 0


def test_without_the_overlap_that_event_is_lost(tmp_path: Path, warehouse: Path) -> None:
    """The contrast: with `overlap_hours: 0` the second window starts where the first ended and never sees it."""
    windows, _ = two_loads(tmp_path, 0)
    assert windows[-1][0] == datetime(2024, 1, 10, tzinfo=UTC)
    assert query(
        warehouse, "select count(*) from raw.apsis__email_events where correlation_id = 'late-1'"
    ) == [(0,)]


@pytest.mark.parametrize("settle_minutes", [None, 90])
def test_a_window_ends_the_settle_lag_before_now(
    tmp_path: Path, warehouse: Path, settle_minutes: int | None
) -> None:
    extra = {} if settle_minutes is None else {"settle_minutes": settle_minutes}
    lag = timedelta(minutes=60 if settle_minutes is None else settle_minutes)  # 60: the default
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=1) as api:
        feed = apsis_feed(api.base_url, "2099-01-01T00:00:00Z", **extra)  # `until` far ahead: now decides
        feed["api"]["start_at"] = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        cfg = write_config(tmp_path / "feeds.yml", [feed])
        before = datetime.now(UTC).replace(microsecond=0)
        run_feeds("load", "-c", str(cfg), env=ENV, check=0)
        after = datetime.now(UTC)
    end = max(e for _, e in api.stats.windows)
    assert before - lag <= end <= after - lag
    assert end == max(window_of(u)[1] for (u,) in query(warehouse, "select uri from loader.files"))


@pytest.mark.slow
def test_the_overlaps_duplicates_collapse_in_the_mart(tmp_path: Path, warehouse: Path) -> None:
    two_loads(tmp_path, 48)
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "DBT_PROFILES_DIR": str(REPO)}
    others = "{engagement__using_sailthru: false, engagement__using_simon: false, engagement__using_encharge: false, engagement__using_leanplum: false}"  # fmt: skip
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "build", "--select", "+fct_engagement_events", "--resource-type", "seed", "--resource-type",
         "model", "--vars", others, "--project-dir", str(REPO), "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]
    raw, distinct = query(
        warehouse,
        "select count(*), count(distinct (correlation_id, upper(trim(type)))) from raw.apsis__email_events",
    )[0]
    mart = query(
        warehouse,
        "select count(*), count(distinct source_event_id || event_type) from marts.fct_engagement_events"
        " where source_vendor = 'apsis'",
    )[0]
    assert raw > distinct  # the overlap (and the source's retries) really duplicated events in raw
    assert mart == (distinct, distinct)
    assert query(
        warehouse, "select count(*) from marts.fct_engagement_events where source_event_id = 'late-1'"
    ) == [(1,)]
