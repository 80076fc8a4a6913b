"""Leanplum NDJSON: >= 5 M events (about 2 GB, 100 files) loaded by `feeds load` vs DuckDB's bare read_json.

Floor (issue 2): ratio at most 1.3, loader peak RSS under 2 GB.
"""

from __future__ import annotations

import os
import time

import duckdb

from bench.common import du, previous, report, time_bare, time_feeds_load, workdir

EVENTS = int(os.environ.get("BENCH_LEANPLUM_EVENTS", 5_000_000))
PER_FILE = 50_000  # Leanplum writes a new JSON file every ~50,000 events
# Earlier figures of this bench (feeds load / bare DuckDB) by BENCH_LEANPLUM_EVENTS, with their source
PREVIOUS = {
    1_000_000: {"leanplum": "3.12s / 3.21s, ratio 0.97 (issue 17 start, 2026-12-04, load not recorded)"},
    5_000_000: {
        "leanplum": "feeds load 10.7s, bare not recorded (docs/decisions.md, parallel batches, 2026-11-23)"
    },
}


def generate(root, events: int) -> None:
    con = duckdb.connect()
    files = (events + PER_FILE - 1) // PER_FILE
    for i in range(files):
        day = 1 + i * 28 // files
        folder = root / f"dt=2024-05-{day:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"leanplum-events-{i:05d}.json"
        con.execute(
            f"""copy (
              select md5(({i} * {PER_FILE} + r)::varchar) as event_id,
                     '(Leanplum) ' || (['Email Sent','Email Open','Email Clicked','Push Notification Sent',
                                        'Campaign Enter','In-App Message Viewed'])[1 + r % 6] as name,
                     {{'user_id': 'user-' || (r * 7919 % 200000), 'device_id': 'dev-' || (r * 104729 % 300000),
                       'time': strftime(timestamp '2024-05-{day:02d}' + to_seconds(r % 86400), '%Y-%m-%d %H:%M:%S.000'),
                       'name': 'Campaign ' || (r % 50), 'campaign_id': 1000 + r % 50, 'event_type': 'Open',
                       'message_id': 5000 + r % 300, 'message_occurrence_id': {i} * {PER_FILE} + r,
                       'channel': 'Email', 'campaign_name': 'Spring sale campaign ' || (r % 50),
                       'email_id': 'em-' || md5(r::varchar)[:12], 'link_url': 'https://shop.example.com/p/' || (r % 97),
                       'link_id': r % 97}} as properties
              from range({PER_FILE}) t(r)
            ) to ? (format json)""",
            [str(target)],
        )


def main() -> int:
    root = workdir("leanplum_json")
    data = root / "feed"
    marker = root / f".generated-{EVENTS}"
    if not marker.exists():
        if data.exists():
            import shutil

            shutil.rmtree(data)
        start = time.perf_counter()
        generate(data, EVENTS)
        marker.touch()
        print(
            f"generated {EVENTS:,} Leanplum events, {du(data) / 1e9:.2f} GB in {time.perf_counter() - start:.1f}s"
        )
    files = sorted(str(p) for p in data.rglob("*.json"))
    bare = time_bare(f"select * from read_json({files!r})", root / "bare.duckdb")
    loader = time_feeds_load(
        [{"name": "leanplum", "vendor": "leanplum", "uri": f"file://{data}"}], root / "feeds.duckdb"
    )
    con = duckdb.connect(str(root / "feeds.duckdb"), read_only=True)
    rows = con.execute("select count(*) from raw.leanplum__events").fetchall()[0][0]
    con.close()
    assert rows == EVENTS, f"loaded {rows} of {EVENTS}"
    print(f"leanplum NDJSON: {len(files)} files, {du(data) / 1e9:.2f} GB, {rows:,} events")
    label = f"leanplum NDJSON ({EVENTS / 1e6:g} M)"
    return 0 if report(label, loader, bare, 1.3, 2048, previous(PREVIOUS, EVENTS, "leanplum")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
