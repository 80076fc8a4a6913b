"""`feeds load` on an APSIS feed: exports pulled through the fake API land in raw.apsis__email_events with the
vendor's attribute and tag headers as column names; the next run asks for the time after the last window and
re-reads the trailing overlap (api.overlap_hours) before it."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.apsis_api import FakeApsisAPI
from loaders.config import parse_config
from loaders.load.run import Loader
from loaders.warehouse import connect, quote_ident
from tests.conftest import query, run_feeds, write_config
from tests.servers.test_apsis_api import CLIENT_ID, ORIGIN, SECRET, render

ENV = {"APSIS_LOAD_ID": CLIENT_ID, "APSIS_LOAD_SECRET": SECRET}
ATTR, TAG = "gender (version_id: 491874)", "vip (version_id: 77)"


def apsis_feed(base_url: str, until: str, **extra) -> dict:
    return {
        "name": "apsis_email",
        "vendor": "apsis",
        "uri": "apsis://acme",
        "api": {
            "base_url": base_url,
            "client_id_env": "APSIS_LOAD_ID",
            "client_secret_env": "APSIS_LOAD_SECRET",
            "start_at": "2024-01-01",
            "until": until,
            "attributes": ["491874"],
            "tags": ["77"],
            "poll_interval": 0.01,
            "max_window_days": 7,
            **extra,
        },
    }


def expected_rows(end: datetime) -> list[tuple[str, str, str]]:
    text = gzip.decompress(render(ORIGIN, end, ["491874"], ["77"])).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    return sorted((r["correlation_id"], r["type"], r[ATTR]) for r in rows)


@pytest.fixture(autouse=True)
def _creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def test_feeds_load_pulls_the_window_after_the_last_one_and_its_overlap(
    tmp_path: Path, warehouse: Path
) -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=2) as api:
        cfg = write_config(tmp_path / "feeds.yml", [apsis_feed(api.base_url, "2024-01-20T00:00:00Z")])
        run_feeds("load", "-c", str(cfg), env=ENV, check=0)
        first = list(api.stats.windows)
        assert sorted((s.day, e.day) for s, e in first) == [(1, 8), (8, 15), (15, 20)]

        columns = [r[0] for r in query(warehouse, "describe raw.apsis__email_events")]
        assert ATTR in columns and TAG in columns and "correlation_id" in columns
        got = query(
            warehouse, f'select correlation_id, type, "{ATTR}" from raw.apsis__email_events order by all'
        )
        assert got == expected_rows(datetime(2024, 1, 20, tzinfo=UTC))
        assert (
            query(warehouse, f"select count(*) from raw.apsis__email_events where \"{TAG}\" = 'TAG'")[0][0]
            > 0
        )

        run_feeds("load", "-c", str(cfg), env=ENV, check=0)  # nothing new before `until`: no request at all
        assert api.stats.windows == first

        write_config(tmp_path / "feeds.yml", [apsis_feed(api.base_url, "2024-01-25T00:00:00Z")])
        run_feeds("load", "-c", str(cfg), env=ENV, check=0)
        # the new time (20th to 25th) and the default 48 hours before it, read again for late-filed events
        assert [(s.day, e.day) for s, e in api.stats.windows[len(first) :]] == [(18, 25)]

    got = query(
        warehouse, f'select distinct correlation_id, type, "{ATTR}" from raw.apsis__email_events order by all'
    )
    assert sorted(set(got)) == sorted(set(expected_rows(datetime(2024, 1, 25, tzinfo=UTC))))
    ledger = query(warehouse, "select uri, status from loader.files where feed = 'apsis_email' order by uri")
    assert len(ledger) == 4 and len({u for u, _ in ledger}) == 4 and {s for _, s in ledger} == {"loaded"}
    assert ledger[-1][0].endswith("/emails/reports/20240118T000000Z_20240125T000000Z.csv.gz")
    dump = repr(query(warehouse, "select * from loader.files")) + repr(
        query(warehouse, "select * from loader.loads")
    )
    assert SECRET not in dump and CLIENT_ID not in dump


def _run(cfg_feeds: list[dict], db: Path):
    config = parse_config({"feeds": cfg_feeds})
    con = connect(db)
    try:
        return Loader(con, config).run()
    finally:
        con.close()


def test_loader_survives_every_fault_and_loads_each_window_once(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with FakeApsisAPI(
        render,
        CLIENT_ID,
        SECRET,
        polls_until_complete=10_000,
        seconds_until_complete=0.5,  # each export outlives a token
        token_lifetime=0.3,
        announced_lifetime=3600,  # tokens die early and unannounced: calls meet 401s mid-run
        max_window=timedelta(days=4),
        url_lifetime=30,
        fail={"download": (1, 403), "request": (1, 429)},
    ) as api:
        result = _run([apsis_feed(api.base_url, "2024-01-15T00:00:00Z")], db)
        assert not result.failed, result.feeds[0].errors
        assert api.stats.count("status", 401) + api.stats.count("request", 401) >= 1
        assert any(d.endswith(":error") for e, d, _ in api.stats.calls if e == "status")
        assert api.stats.count("download", 403) == 1 and api.stats.count("request", 429) == 1
        again = _run([apsis_feed(api.base_url, "2024-01-15T00:00:00Z")], db)
    assert again.feeds[0].files_loaded == 0 and again.feeds[0].files_seen == 0
    got = query(db, f'select correlation_id, type, "{ATTR}" from raw.apsis__email_events order by all')
    assert got == expected_rows(datetime(2024, 1, 15, tzinfo=UTC))
    windows = query(db, "select uri from loader.files order by uri")
    assert len(windows) == result.feeds[0].files_loaded >= 4  # 7-day windows halved to fit 4 days


def test_a_failed_window_is_reported_and_asked_again_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=1, pending_limit=0) as api:
        feeds = [apsis_feed(api.base_url, "2024-01-15T00:00:00Z")]
        # a pending limit of 0 throttles for ever; a short wait budget makes the run give up on the first window
        monkeypatch.setattr("loaders.transports.apsis.DEFAULT_MAX_WAIT", 0.3)
        result = _run(feeds, db)
        assert result.failed and "gave up" in result.feeds[0].errors[0]
        assert SECRET not in result.feeds[0].errors[0]
        assert query(db, "select count(*) from loader.files")[0][0] == 0
        api.pending_limit = 5
        result = _run(feeds, db)
    assert not result.failed and result.feeds[0].files_loaded == 2
    total = query(db, "select count(*) from raw.apsis__email_events")[0][0]
    assert total == len(expected_rows(datetime(2024, 1, 15, tzinfo=UTC)))


def test_end_to_end_the_served_world_lands_row_for_row(tmp_path: Path, warehouse: Path) -> None:
    """The API as a separate process (as the demo runs it) serving the export side's world; `feeds load` pulls it."""
    import subprocess
    import sys

    from fixtures.apsis_api import _world_render

    args = ["--seed", "7", "--contacts", "200", "--events", "3000", "--start", "2024-01-01", "--days", "20"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixtures.apsis_api", "--port", "0", "--polls-until-complete", "1", *args,
         "--client-id-env", "APSIS_LOAD_ID", "--client-secret-env", "APSIS_LOAD_SECRET"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), base_url
        cfg = write_config(
            tmp_path / "feeds.yml",
            [apsis_feed(base_url, "2024-01-21T00:00:00Z", attributes=["gender"], tags=["vip"])],
        )
        run_feeds("load", "-c", str(cfg), env=ENV, check=0)
    finally:
        proc.terminate()
        proc.wait(10)
    render_world = _world_render(7, 200, 3000, "2024-01-01", 20)
    whole = render_world(ORIGIN, datetime(2024, 1, 21, tzinfo=UTC), ["gender"], ["vip"])
    reader = csv.reader(io.StringIO(gzip.decompress(whole).decode("utf-8-sig"), newline=""))
    header = next(reader)
    tag_header = header[-1]
    assert header[-2] == ATTR and tag_header.startswith("vip (version_id: ")
    at = {name: i for i, name in enumerate(header)}
    fields = ["correlation_id", "type", "server_time", ATTR, tag_header]

    def key(t: tuple) -> tuple:
        return tuple("" if v is None else v for v in t)

    expected = sorted((tuple(row[at[f]] or None for f in fields) for row in reader), key=key)  # "" -> NULL
    columns = ", ".join(quote_ident(f) for f in fields)
    got = sorted(query(warehouse, f"select {columns} from raw.apsis__email_events"), key=key)
    assert len(expected) > 100 and got == expected
    assert any(r[4] == "TAG" for r in got)
    assert query(warehouse, "select count(distinct _source_uri) from raw.apsis__email_events")[0][0] == 3
