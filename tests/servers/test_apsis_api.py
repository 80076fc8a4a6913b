"""The APSIS One export walk over real HTTP: the fake API and the loader's client agree on every step,
and every documented failure (token expiry, 429, `error` status, expired download URL) is survived."""

from __future__ import annotations

import csv
import gzip
import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from fixtures.apsis_api import FakeApsisAPI, apsis_server
from loaders.config import Feed
from loaders.transports import TransportError
from loaders.transports.apsis import ApsisTransport
from loaders.transports.apsis_client import ApsisClient
from loaders.transports.apsis_session import ApsisError
from loaders.transports.apsis_windows import gaps, halves, split, window_of, window_uri

CLIENT_ID, SECRET = "acme-client", "s3cr3t-value-never-printed"
DEFAULT_COLUMNS = [
    "activity_id", "split_id", "activity_name", "split_activity_name", "sender", "subject", "address",
    "variation", "type", "correlation_id", "event_time", "server_time", "device", "location", "link_id",
    "link_url", "link_title", "bounce_code", "unsubscribe_topic", "abuse_section",
]  # fmt: skip
ATTRIBUTE_NAMES = {"491874": "gender", "491875": "first name"}
TAG_NAMES = {"77": "vip"}
ORIGIN = datetime(2024, 1, 1, tzinfo=UTC)


def event_rows(start_at: datetime, end_at: datetime) -> list[dict[str, str]]:
    """A small deterministic event log: one send per 90 minutes, an open for every other, a retried
    correlation_id every fifth, event_time 0 every seventh; selected by server_time in [start, end)."""
    rows = []
    t = ORIGIN
    i = 0
    while t < ORIGIN + timedelta(days=60):
        if start_at <= t < end_at:
            ms = int(t.timestamp() * 1000)
            base = {c: "" for c in DEFAULT_COLUMNS}
            base.update(
                activity_id="a1", split_id="a1", sender="Acme", subject='Hi, "you"', address=f"p{i % 9}@x.io"
            )
            send = {
                **base,
                "type": "SENT",
                "correlation_id": f"c{i}",
                "event_time": str(ms),
                "server_time": str(ms + 5),
            }
            if i % 7 == 0:
                send["event_time"] = "0"
            rows.append(send)
            if i % 5 == 0:
                rows.append(dict(send))  # the source retried: same correlation_id twice
            if i % 2 == 0:
                rows.append({**base, "type": "OPENED", "correlation_id": f"o{i}", "event_time": str(ms + 60_000),
                             "server_time": str(ms + 60_005), "device": "MOBILE", "location": "SE"})  # fmt: skip
        t += timedelta(minutes=90)
        i += 1
    return rows


def render(start_at: datetime, end_at: datetime, attributes: list[str], tags: list[str]) -> bytes:
    """A valid export file for the window: default columns, then one per attribute and tag."""
    extra = [f"{ATTRIBUTE_NAMES.get(a, a)} (version_id: {a})" for a in attributes]
    extra += [f"{TAG_NAMES.get(t, t)} (version_id: {t})" for t in tags]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DEFAULT_COLUMNS + extra)
    for row in event_rows(start_at, end_at):
        n = int(row["correlation_id"][1:])  # values follow the person/event, not the row's place in a window
        values = [row[c] for c in DEFAULT_COLUMNS]
        values += [("F" if n % 2 else "M") if a == "491874" else f"name{n % 9}" for a in attributes]
        values += ["TAG" if n % 3 == 0 else "" for _ in tags]
        writer.writerow(values)
    return gzip.compress(buf.getvalue().encode(), mtime=0)


def read_export(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", newline="") as fh:
        return list(csv.reader(fh))


def client(api: FakeApsisAPI, **kw) -> ApsisClient:
    return ApsisClient(api.base_url, CLIENT_ID, SECRET, poll_interval=kw.pop("poll_interval", 0.01), **kw)


def feed(base_url: str, **api) -> Feed:
    options = {
        "base_url": base_url,
        "client_id_env": "APSIS_TEST_ID",
        "client_secret_env": "APSIS_TEST_SECRET",
        "start_at": "2024-01-01",
        "until": "2024-01-31T00:00:00Z",
        "poll_interval": 0.01,
        "attributes": ["491874"],
        "tags": ["77"],
        **api,
    }
    return Feed(name="apsis", vendor="apsis", uri="apsis://acme", api=options)


@pytest.fixture(autouse=True)
def _creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APSIS_TEST_ID", CLIENT_ID)
    monkeypatch.setenv("APSIS_TEST_SECRET", SECRET)


WINDOW = (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC))


# ---------------------------------------------------------------- the walk


def test_walk_token_request_poll_download(tmp_path: Path) -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=3) as api:
        c = client(api)
        got = c.export(WINDOW, ["491874", "491875"], ["77"], tmp_path / "w.csv.gz")
        c.close()
        endpoints = [e for e, _, _ in api.stats.calls]
        statuses = [d.split(":")[1] for e, d, _ in api.stats.calls if e == "status"]
    assert endpoints == ["token", "request", "status", "status", "status", "download"]
    assert statuses == ["in_progress", "in_progress", "completed"]
    assert api.stats.windows == [WINDOW]
    assert got.path.read_bytes() == render(*WINDOW, ["491874", "491875"], ["77"])
    header = read_export(got.path)[0]
    assert header[-3:] == [
        "gender (version_id: 491874)",
        "first name (version_id: 491875)",
        "vip (version_id: 77)",
    ]
    assert got.size == got.path.stat().st_size


def test_header_auth_is_required_and_the_url_expires() -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=1, url_lifetime=0.3) as api:
        token = requests.post(
            f"{api.base_url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET},
            timeout=5,
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert (
            requests.post(
                f"{api.base_url}/emails/reports", json={"start_at": "2024-01-01"}, timeout=5
            ).status_code
            == 401
        )
        rid = requests.post(
            f"{api.base_url}/emails/reports",
            json={"start_at": "2024-01-02T00:00:00Z", "end_at": "2024-01-03T00:00:00Z"},
            headers=bearer,
            timeout=5,
        ).json()["id"]
        status = requests.get(
            f"{api.base_url}/emails/reports/{rid}?header_auth=true", headers=bearer, timeout=5
        )
        answer = status.json()
        assert answer["status"] == "completed"
        assert {"file_download_url", "file_download_url_expires_at", "file_expires_at"} <= answer.keys()
        url, auth = answer["file_download_url"], status.headers["x-apsis-auth"]
        assert requests.get(url, timeout=5).status_code == 401
        ok = requests.get(url, headers={"x-apsis-auth": auth}, timeout=5)
        assert ok.status_code == 200 and gzip.decompress(ok.content).startswith(b"activity_id,")
        time.sleep(0.4)
        assert requests.get(url, headers={"x-apsis-auth": auth}, timeout=5).status_code == 403
        too_long = {"start_at": "2024-01-01T00:00:00Z", "end_at": "2024-04-15T00:00:00Z"}
        assert (
            requests.post(
                f"{api.base_url}/emails/reports", json=too_long, headers=bearer, timeout=5
            ).status_code
            == 400
        )


def test_apsis_server_context_manager_yields_the_base_url() -> None:
    with apsis_server(render, CLIENT_ID, SECRET) as url:
        assert url.startswith("http://127.0.0.1:")
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"ok": True}


# ---------------------------------------------------------------- failures survived


def test_token_renewed_before_expiry(tmp_path: Path) -> None:
    # the token lives 0.3 s and the export takes ~1 s of polling: the client renews ahead, never hitting a 401
    with FakeApsisAPI(
        render, CLIENT_ID, SECRET, token_lifetime=0.3, seconds_until_complete=1.0, polls_until_complete=10_000
    ) as api:
        got = client(api, poll_interval=0.05).export(WINDOW, [], [], tmp_path / "w.csv.gz")
    assert api.stats.tokens_issued >= 3
    assert api.stats.count("status", 401) == 0 and api.stats.count("request", 401) == 0
    assert got.path.read_bytes() == render(*WINDOW, [], [])


def test_token_expiring_early_is_renewed_on_401(tmp_path: Path) -> None:
    # the server says 3600 s but forgets the token after 0.2 s (clock skew, key rotation): 401 -> renew -> go on
    with FakeApsisAPI(
        render,
        CLIENT_ID,
        SECRET,
        token_lifetime=0.2,
        announced_lifetime=3600,
        seconds_until_complete=0.8,
        polls_until_complete=10_000,
    ) as api:
        got = client(api, poll_interval=0.1).export(WINDOW, [], [], tmp_path / "w.csv.gz")
    assert api.stats.count("status", 401) >= 1
    assert api.stats.tokens_issued >= 2
    assert got.path.read_bytes() == render(*WINDOW, [], [])


def test_too_many_pending_is_backed_off(tmp_path: Path) -> None:
    with FakeApsisAPI(
        render, CLIENT_ID, SECRET, pending_limit=1, seconds_until_complete=0.6, polls_until_complete=10_000
    ) as api:
        other = client(api)  # another consumer of the account holds the only pending slot
        other.request_export((ORIGIN, ORIGIN + timedelta(days=1)), [], [])
        started = time.monotonic()
        got = client(api, poll_interval=0.05).export(WINDOW, [], [], tmp_path / "w.csv.gz")
        waited = time.monotonic() - started
    assert api.stats.count("request", 429) >= 1
    assert api.stats.count("request", 201) == 2
    assert waited >= 0.5  # it waited for the slot (Retry-After honoured), then its own export
    assert got.path.read_bytes() == render(*WINDOW, [], [])


def test_transient_failures_on_every_endpoint_are_retried(tmp_path: Path) -> None:
    fail = {"token": 2, "request": (2, 429), "status": 2, "download": 2}
    with FakeApsisAPI(render, CLIENT_ID, SECRET, fail=fail) as api:
        got = client(api).export(WINDOW, [], [], tmp_path / "w.csv.gz")
    assert api.stats.count("token", 503) == 2 and api.stats.count("request", 429) == 2
    assert api.stats.count("status", 503) == 2 and api.stats.count("download", 503) == 2
    assert got.path.read_bytes() == render(*WINDOW, [], [])


def test_expired_download_url_is_fetched_again(tmp_path: Path) -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=1, url_lifetime=0.2) as api:
        c = client(api)
        rid = c.request_export(WINDOW, [], [])
        answer, auth = c.wait(rid)
        first_url = answer["file_download_url"]
        time.sleep(0.3)  # the URL in hand is now stale
        got = c.download(rid, answer, auth, tmp_path / "w.csv.gz")
        downloads = [(d, s) for e, d, s in api.stats.calls if e == "download"]
    assert [s for _, s in downloads] == [403, 200]
    assert downloads[0][0] != downloads[1][0] and downloads[0][0] in first_url
    assert got.path.read_bytes() == render(*WINDOW, [], [])


def test_error_status_is_retried_with_smaller_windows_and_nothing_is_lost(tmp_path: Path) -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=1, max_window=timedelta(days=8)) as api:
        transport = ApsisTransport(feed(api.base_url, until="2024-01-31T00:00:00Z"))
        try:
            files = transport.list()
            rows = []
            for f in files:
                body = read_export(transport.local_path(f))
                assert body[0][-2:] == ["gender (version_id: 491874)", "vip (version_id: 77)"]
                rows += body[1:]
        finally:
            transport.close()
        errored = [d for e, d, _ in api.stats.calls if e == "status" and d.endswith(":error")]
    spans = [(e - s).days for s, e in api.stats.windows]
    assert sorted(spans, reverse=True) == [
        30,
        15,
        15,
        7,
        7,
        7,
        7,
    ]  # 30 days -> error -> 15 -> error -> 7.5 fits
    assert len(errored) == 2 + 1  # the 30-day window, the first 15-day half, the second 15-day half
    windows = [window_of(f.uri) for f in files]
    assert windows[0][0] == datetime(2024, 1, 1, tzinfo=UTC) and windows[-1][1] == datetime(
        2024, 1, 31, tzinfo=UTC
    )
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))  # contiguous, no overlap
    expected = list(
        csv.reader(io.StringIO(gzip.decompress(render(ORIGIN, windows[-1][1], ["491874"], ["77"])).decode()))
    )[1:]
    assert sorted(r[9] + r[8] for r in rows) == sorted(r[9] + r[8] for r in expected)  # every event arrived
    assert len(rows) == len(expected)


def test_a_window_over_max_window_days_is_split_before_asking(tmp_path: Path) -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=1) as api:
        transport = ApsisTransport(feed(api.base_url, max_window_days=10, until="2024-01-25T00:00:00Z"))
        try:
            files = transport.list()
        finally:
            transport.close()
    assert sorted((s.day, (e - s).days) for s, e in api.stats.windows) == [(1, 10), (11, 10), (21, 4)]
    assert len(files) == 3 and len({f.version for f in files}) == 3


# ---------------------------------------------------------------- secrets and errors


def test_wrong_secret_fails_clearly_without_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeApsisAPI(render, CLIENT_ID, "the-real-secret") as api:
        transport = ApsisTransport(feed(api.base_url))
        with pytest.raises(TransportError) as info:
            transport.list()
        transport.close()
    message = str(info.value)
    assert "refused the client credentials" in message and "environment variables" in message
    assert SECRET not in message and "the-real-secret" not in message
    assert api.stats.count("token", 401) == 1  # a wrong secret is not retried


def test_missing_secret_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APSIS_TEST_SECRET")
    with pytest.raises(TransportError, match="APSIS_TEST_SECRET is not set"):
        ApsisTransport(feed("http://127.0.0.1:9"))


def test_unreachable_api_names_the_host_and_gives_up(tmp_path: Path) -> None:
    from fixtures.devservers import free_port

    c = ApsisClient(f"http://127.0.0.1:{free_port()}", CLIENT_ID, SECRET, poll_interval=0.01, max_wait=0.3)
    with pytest.raises(ApsisError, match=r"127\.0\.0\.1:\d+.*gave up") as info:
        c.token()
    assert SECRET not in str(info.value)


def test_concurrent_token_use_issues_one_token() -> None:
    with FakeApsisAPI(render, CLIENT_ID, SECRET) as api:
        c = client(api)
        threads = [threading.Thread(target=c.token) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert api.stats.tokens_issued == 1


# ---------------------------------------------------------------- window arithmetic


def test_gaps_split_halves_and_uri_round_trip() -> None:
    d = lambda day: datetime(2024, 1, day, tzinfo=UTC)  # noqa: E731
    assert gaps(d(1), d(20), []) == [(d(1), d(20))]
    assert gaps(d(1), d(20), [(d(1), d(5)), (d(5), d(10))]) == [(d(10), d(20))]
    assert gaps(d(1), d(20), [(d(3), d(5)), (d(8), d(20))]) == [(d(1), d(3)), (d(5), d(8))]
    assert gaps(d(1), d(20), [(d(1), d(20))]) == []
    assert split((d(1), d(20)), timedelta(days=7)) == [(d(1), d(8)), (d(8), d(15)), (d(15), d(20))]
    assert halves((d(1), d(3))) == [(d(1), d(2)), (d(2), d(3))]
    uri = window_uri("api.apsis.one", (d(1), d(3)))
    assert uri == "apsis://api.apsis.one/emails/reports/20240101T000000Z_20240103T000000Z.csv.gz"
    assert window_of(uri) == (d(1), d(3))
    assert window_of("s3://bucket/other.csv.gz") is None


def test_permanently_refused_download_and_bad_request_fail_clearly(tmp_path: Path) -> None:
    with FakeApsisAPI(
        render, CLIENT_ID, SECRET, polls_until_complete=1, fail={"download": (100, 403)}
    ) as api:
        c = client(api)
        with pytest.raises(ApsisError, match=r"download report \w+: gave up after 6 tries"):
            c.export(WINDOW, [], [], tmp_path / "w.csv.gz")
        assert api.stats.count("download", 403) == 6  # each try with a freshly asked URL
        with pytest.raises(ApsisError, match=r"refused .*at most 75"):
            c.request_export(WINDOW, [str(n) for n in range(76)], [])
        assert api.stats.count("request", 400) == 1  # a refused request is not retried
