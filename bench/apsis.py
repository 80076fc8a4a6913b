"""APSIS gzip CSV through the whole API walk: `feeds load` (token, export requests, polling, download over
loopback HTTP, load) against DuckDB's bare `read_csv` of the same files. Printed: the ratio (floor 1.3),
the loader's peak RSS, and the download throughput of the API client alone in MB/s.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from bench.common import du, previous, report, time_bare, time_feeds_load, workdir
from fixtures.apsis_api import FakeApsisAPI
from loaders.transports.apsis_client import ApsisClient

EVENTS = int(os.environ.get("BENCH_APSIS_EVENTS", 1_500_000))
WINDOWS = 3  # one export per 30-day window, as the client asks for a 90-day gap with max_window_days: 30
START = datetime(2024, 1, 1, tzinfo=UTC)
CLIENT_ID, SECRET = "bench-client", "bench-secret"
ATTR, TAG = "gender (version_id: 491874)", "vip (version_id: 77)"
# Earlier figures of this bench by BENCH_APSIS_EVENTS, with their source
PREVIOUS = {
    1_500_000: {
        "apsis": "feeds load 3.5s, bare not recorded (docs/decisions.md, parallel batches, 2026-11-23)"
    },
}


def generate(root: Path, events: int) -> list[Path]:
    con = duckdb.connect()
    per = events // WINDOWS
    paths = []
    for w in range(WINDOWS):
        target = root / f"window-{w}.csv.gz"
        base_ms = int((START + timedelta(days=30 * w)).timestamp() * 1000)
        con.execute(
            f"""copy (
              select 'act-' || (r % 40) as activity_id, 'act-' || (r % 40) as split_id,
                     'Spring campaign ' || (r % 40) as activity_name, '' as split_activity_name,
                     'Acme' as sender, 'Hello, "friend"' as subject, 'person' || (r * 7919 % 200000) || '@example.com' as address,
                     '' as variation, (['SENT','DELIVERED','OPENED','CLICKED','BOUNCED','UNSUBSCRIBED','ABUSE'])[1 + r % 7] as type,
                     md5(({w} * {per} + r)::varchar) as correlation_id,
                     case when r % 50 = 0 then '0' else ({base_ms} + r * 1000)::varchar end as event_time,
                     ({base_ms} + r * 1000 + 37)::varchar as server_time,
                     case when r % 7 in (2, 3) then 'MOBILE' else '' end as device,
                     case when r % 7 in (2, 3) then 'SE' else '' end as location,
                     case when r % 7 = 3 then (r % 97)::varchar else '' end as link_id,
                     case when r % 7 = 3 then 'https://shop.example.com/p/' || (r % 97) else '' end as link_url,
                     case when r % 7 = 3 then 'Product ' || (r % 97) else '' end as link_title,
                     case when r % 7 = 4 then '2001' else '' end as bounce_code,
                     case when r % 7 = 5 then 'newsletter' else '' end as unsubscribe_topic,
                     case when r % 7 = 6 then 'fbl' else '' end as abuse_section,
                     (['F','M'])[1 + r % 2] as "{ATTR}",
                     case when r % 3 = 0 then 'TAG' else '' end as "{TAG}"
              from range({per}) t(r)
            ) to ? (format csv, header true, compression gzip)""",
            [str(target)],
        )
        paths.append(target)
    con.close()
    return paths


def main() -> int:
    root = workdir("apsis")
    data = root / "exports"
    marker = root / f".generated-{EVENTS}"
    if not marker.exists():
        data.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        generate(data, EVENTS)
        marker.touch()
        print(
            f"generated {EVENTS:,} APSIS events, {du(data) / 1e6:.0f} MB gzip in {time.perf_counter() - start:.1f}s"
        )
    files = [data / f"window-{w}.csv.gz" for w in range(WINDOWS)]

    def render(start_at: datetime, end_at: datetime, attributes: list[str], tags: list[str]) -> bytes:
        return files[(start_at - START).days // 30].read_bytes()

    bare = time_bare(
        f"select * from read_csv({[str(f) for f in files]!r}, all_varchar = true, header = true)",
        root / "bare.duckdb",
    )
    with FakeApsisAPI(render, CLIENT_ID, SECRET, polls_until_complete=2) as api:
        client = ApsisClient(api.base_url, CLIENT_ID, SECRET, poll_interval=0.01)
        t0 = time.perf_counter()
        got = client.export((START, START + timedelta(days=30)), [], [], root / "download.csv.gz")
        download_s = time.perf_counter() - t0
        client.close()
        os.environ.update({"BENCH_APSIS_ID": CLIENT_ID, "BENCH_APSIS_SECRET": SECRET})
        feed = {
            "name": "apsis",
            "vendor": "apsis",
            "uri": "apsis://bench",
            "api": {
                "base_url": api.base_url,
                "client_id_env": "BENCH_APSIS_ID",
                "client_secret_env": "BENCH_APSIS_SECRET",
                "start_at": START.date().isoformat(),
                "until": (START + timedelta(days=90)).isoformat(),
                "attributes": ["491874"],
                "tags": ["77"],
                "poll_interval": 0.01,
                "max_window_days": 30,
            },
        }
        loader = time_feeds_load([feed], root / "feeds.duckdb")
    con = duckdb.connect(str(root / "feeds.duckdb"), read_only=True)
    rows = con.execute("select count(*) from raw.apsis__email_events").fetchall()[0][0]
    headers = {r[0] for r in con.execute("describe raw.apsis__email_events").fetchall()}
    con.close()
    expected = EVENTS // WINDOWS * WINDOWS
    assert rows == expected, f"loaded {rows} of {expected}"
    assert ATTR in headers and TAG in headers, "attribute/tag headers not kept"
    print(
        f"apsis API download: {got.size / 1e6:.1f} MB in {download_s:.2f}s = {got.size / 1e6 / download_s:,.0f} MB/s"
        f" (token, request, 2 polls, header_auth download over loopback)"
    )
    print(f"apsis gzip CSV: {WINDOWS} exports, {du(data) / 1e6:.0f} MB, {rows:,} events")
    label = f"apsis gzip CSV via API ({EVENTS / 1e6:.1f} M)"
    return 0 if report(label, loader, bare, 1.3, 2048, previous(PREVIOUS, EVENTS, "apsis")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
