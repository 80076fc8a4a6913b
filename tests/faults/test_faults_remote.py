"""Flaky remotes over real HTTP: S3 (moto behind tests/faultproxy.py), the APSIS API timing out, SFTP gone.

Where the remote recovers, retries load everything exactly once. Where it never recovers, the run ends with a
clear error naming the remote, exit code 2, and nothing half-loaded: the file is absent from raw and from
the ledger, and the next run (remote healed) loads it once.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.apsis_api import FakeApsisAPI
from fixtures.devservers import Moto
from fixtures.sshd import local_sshd
from loaders.config import parse_config
from loaders.load.model import RunResult
from loaders.load.run import Loader
from loaders.transports import apsis as apsis_transport
from loaders.warehouse import connect
from tests.conftest import leanplum_event, query, run_feeds, write_config
from tests.faultproxy import FaultProxy, Rule
from tests.reliability import record
from tests.servers.test_apsis_api import CLIENT_ID, SECRET, render
from tests.servers.test_apsis_load import ENV as APSIS_ENV
from tests.servers.test_apsis_load import apsis_feed, expected_rows

EVENTS_PER_FILE = 2000
OBJECT = r"^/[^/?]+/leanplum/[^?]+\.json"  # a GET of one object (not the listing, which has ?list-type)


def _bucket_with_files(moto: Moto, files: int) -> tuple[str, list[str]]:
    bucket = f"flaky-{uuid.uuid4().hex[:10]}"
    client = moto.client()
    client.create_bucket(Bucket=bucket)
    keys = []
    for i in range(files):
        key = f"leanplum/dt=2024-05-{1 + i:02d}/events-{i}.json"
        rows = [leanplum_event(f"f{i}-{n}", note="x" * 40) for n in range(EVENTS_PER_FILE)]
        client.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(r) + "\n" for r in rows).encode())
        keys.append(key)
    return bucket, keys


def _config(tmp_path: Path, bucket: str, endpoint: str, **s3: object) -> Path:
    feed = {
        "name": "lp",
        "vendor": "leanplum",
        "uri": f"s3://{bucket}/leanplum/",
        "s3": {"endpoint_url": endpoint, **s3},
    }
    return write_config(tmp_path / "feeds.yml", [feed])


def _exactly_once(warehouse: Path, files: int) -> None:
    rows = query(warehouse, "select count(*), count(distinct event_id) from raw.leanplum__events")
    assert rows == [(files * EVENTS_PER_FILE, files * EVENTS_PER_FILE)]
    ledger = query(warehouse, "select uri, count(*) from loader.files where status = 'loaded' group by 1")
    assert len(ledger) == files and all(n == 1 for _, n in ledger)


def test_s3_errors_and_cut_downloads_are_retried(tmp_path: Path, warehouse: Path, moto: Moto) -> None:
    bucket, keys = _bucket_with_files(moto, 6)
    rules = [
        Rule("status", path=r"list-type=2", status=503, code="SlowDown", times=2),
        Rule("status", path=OBJECT, method="GET", status=500, code="InternalError", times=2),
        Rule("status", path=OBJECT, method="GET", status=503, code="SlowDown", times=2),
        Rule("cut", path=OBJECT, method="GET", after=50_000, times=4),  # mid-body: resumed with Range
    ]
    with FaultProxy(moto.endpoint_url, rules) as proxy:
        cfg = _config(tmp_path, bucket, proxy.url)
        run_feeds("load", "-c", str(cfg), check=0)
        injected = [r.injected for r in proxy.rules]
        object_gets = sum(1 for m, p in proxy.requests if m == "GET" and "list-type" not in p)
    assert injected == [2, 2, 2, 4], injected
    assert object_gets >= len(keys) + 8  # every fault cost one more request, nothing was skipped
    _exactly_once(warehouse, len(keys))
    record("test_faults_remote_s3_recovers", faults_injected=sum(injected), rows_checked=6 * EVENTS_PER_FILE)


def test_s3_that_never_recovers_fails_clearly_and_loads_nothing_half(
    tmp_path: Path, warehouse: Path, moto: Moto
) -> None:
    bucket, keys = _bucket_with_files(moto, 4)
    broken, cut = keys[1], keys[2]
    with FaultProxy(moto.endpoint_url) as proxy:
        # the whole endpoint down: the listing fails, nothing is loaded, exit 2
        proxy.set_rules(Rule("status", path=".*", status=503, code="SlowDown", times=None))
        cfg = _config(tmp_path, bucket, proxy.url, max_attempts=2)
        down = run_feeds("load", "-c", str(cfg))
        assert down.returncode == 2, down.stderr
        assert "cannot list after retries" in down.stderr and bucket in down.stderr
        listing_faults = proxy.injected

        # one object always 500, another always cut before its first byte: the other two load
        proxy.set_rules(
            Rule(
                "status",
                path=rf"/{broken.rsplit('/', 1)[1]}",
                method="GET",
                status=500,
                code="InternalError",
                times=None,
            ),
            Rule("cut", path=rf"/{cut.rsplit('/', 1)[1]}", method="GET", after=0, times=None),
        )
        partial = run_feeds("load", "-c", str(cfg))
        assert partial.returncode == 2, partial.stderr
        assert f"s3://{bucket}/{broken}: download failed after retries" in partial.stderr
        assert f"s3://{bucket}/{cut}: download failed after retries" in partial.stderr
        loaded = {u for (u,) in query(warehouse, "select uri from loader.files where status = 'loaded'")}
        assert loaded == {f"s3://{bucket}/{k}" for k in keys if k not in (broken, cut)}
        in_raw = {u for (u,) in query(warehouse, "select distinct _source_uri from raw.leanplum__events")}
        assert in_raw == loaded  # nothing half-loaded: no row of a failed file
        assert query(warehouse, "select count(*) from loader.files where status <> 'loaded'") == [(0,)]
        faults = listing_faults + proxy.injected

        proxy.set_rules()  # healed: the next plain run loads the two, once
        run_feeds("load", "-c", str(cfg), check=0)
    _exactly_once(warehouse, len(keys))
    record("test_faults_remote_s3_never_recovers", faults_injected=faults, rows_checked=4 * EVENTS_PER_FILE)


class _ShortTimeoutClient(apsis_transport.ApsisClient):
    """The real client with a half-second HTTP timeout, so a stalled server is a timeout in test time."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["timeout"] = 0.5
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _load_apsis(db: Path, base_url: str) -> RunResult:
    config = parse_config({"feeds": [apsis_feed(base_url, "2024-01-10T00:00:00Z")]})
    con = connect(db)
    try:
        return Loader(con, config).run()
    finally:
        con.close()


def test_apsis_api_timing_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in APSIS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(apsis_transport, "ApsisClient", _ShortTimeoutClient)
    monkeypatch.setattr(apsis_transport, "DEFAULT_MAX_WAIT", 3.0)
    db = tmp_path / "w.duckdb"
    with (
        FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=2, seconds_until_complete=0.3) as api,
        FaultProxy(api.base_url) as proxy,
    ):
        # (exports the stalled requests still created complete by time, so they do not count as pending)
        # never answers a request for an export: the run gives up within its wait budget, nothing loaded
        proxy.set_rules(Rule("stall", path=r"^/emails/reports$", method="POST", seconds=1.0, times=None))
        result = _load_apsis(db, proxy.url)
        assert result.failed and "gave up" in result.feeds[0].errors[0], result.feeds[0].errors
        assert SECRET not in repr(result.feeds[0].errors)
        assert query(db, "select count(*) from loader.files") == [(0,)]
        never = proxy.injected

        # the token, a request and two status polls time out once each: retried, everything loads once
        proxy.set_rules(
            Rule("stall", path=r"^/oauth/token", seconds=1.0, times=1),
            Rule("stall", path=r"^/emails/reports$", method="POST", seconds=1.0, times=1),
            Rule("stall", path=r"^/emails/reports/[^/?]+", method="GET", seconds=1.0, times=2),
        )
        result = _load_apsis(db, proxy.url)
        assert not result.failed, result.feeds[0].errors
        assert [r.injected for r in proxy.rules] == [1, 1, 2]
        recovered = proxy.injected
    got = query(
        db,
        'select correlation_id, type, "gender (version_id: 491874)" from raw.apsis__email_events order by all',
    )
    assert got == expected_rows(datetime(2024, 1, 10, tzinfo=UTC))
    record("test_faults_remote_apsis", faults_injected=never + recovered, rows_checked=len(got))


def test_sftp_server_gone_exits_2_and_loads_nothing(tmp_path: Path, warehouse: Path) -> None:
    """The resume of a cut transfer and a server that dies mid-run are proven in tests/servers/test_sftp.py."""
    with local_sshd() as server:
        key, known_hosts = tmp_path / "key", tmp_path / "known_hosts"
        key.write_bytes(server.key_file.read_bytes())
        known_hosts.write_bytes(server.known_hosts.read_bytes())
        uri = server.uri("feed")
    feed = {
        "name": "lp",
        "vendor": "leanplum",
        "uri": uri,
        "sftp": {"key_file": str(key), "known_hosts": str(known_hosts), "timeout": 2},
    }
    cfg = write_config(tmp_path / "feeds.yml", [feed])
    proc = run_feeds("load", "-c", str(cfg))
    assert proc.returncode == 2, proc.stderr
    assert "127.0.0.1" in proc.stderr and "lp" in proc.stderr
    assert query(warehouse, "select count(*) from loader.files") == [(0,)]
    record("test_faults_remote_sftp_gone", faults_injected=1)
