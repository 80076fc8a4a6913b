"""Every format the vendors send, `feeds load` vs DuckDB's bare reader of the same files, in the same run.

CSV (Sailthru), TSV and JSONL (Simon, with control files), gzip CSV (APSIS), NDJSON (Encharge's landed
files) and Parquet (Leanplum). Floor (issue 4): ratio at most 1.3 for every format.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from bench.common import previous, report, time_bare, time_feeds_load, workdir
from loaders.vendors import apsis, sailthru, simon
from loaders.vendors.encharge import landing_path

ROWS = int(os.environ.get("BENCH_FORMAT_ROWS", 5_000_000))
FILES = 50
_LAST_SESSION = "issue 17 start (2026-12-04), 2 cores, 24 GiB, load not recorded"
# Earlier figures of this bench, feeds load / bare DuckDB, by BENCH_FORMAT_ROWS and case (none at 5 M was kept)
PREVIOUS = {
    1_000_000: {
        "CSV (Sailthru)": f"4.40s / 3.43s, ratio 1.28 ({_LAST_SESSION})",
        "TSV (Simon)": f"3.19s / 1.77s, ratio 1.80 ({_LAST_SESSION})",
        "JSONL (Simon)": f"2.91s / 2.19s, ratio 1.33 ({_LAST_SESSION})",
        "gzip CSV (APSIS)": f"3.60s / 2.66s, ratio 1.35 ({_LAST_SESSION})",
        "NDJSON (Encharge)": f"2.12s / 1.51s, ratio 1.41 ({_LAST_SESSION})",
        "Parquet (Leanplum)": f"2.15s / 1.08s, ratio 1.99 ({_LAST_SESSION})",
    },
    2_000_000: {  # docs/decisions.md, issue 12 follow-up: median of 3 runs, load average 6-10
        "CSV (Sailthru)": "ratio 1.37 (issue 12, median of 3, load 6-10)",
        "TSV (Simon)": "ratio 1.40 (issue 12, median of 3, load 6-10)",
        "gzip CSV (APSIS)": "ratio 2.14 (issue 12, median of 3, single runs 0.83-2.57, load 6-10)",
    },
}

# One row of synthetic columns shaped like the vendors' (ids, e-mails, timestamps, free text, urls).
_COLUMNS = """
    r as row_index, md5(r::varchar) as message_id, 'cmp-' || (r % 500) as campaign_id, '0000' as client_id,
    md5('m' || r) as email_md5, sha256('m' || r) as email_sha256, 'engaged' as engagement,
    '0190' || md5('e' || r)[:28] as event_id,
    strftime(timestamp '2024-05-01' + to_seconds(r % 86400), '%Y-%m-%d %H:%M:%S') as event_time,
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 ' || (r % 97) as user_agent,
    '10.' || (r % 250) || '.' || (r % 199) || '.7' as ip, (r % 2 = 0)::varchar as is_real_open,
    'https://shop.example.com/products/' || (r % 997) || '?utm_source=email' as url
"""


def _copy(con: duckdb.DuckDBPyConnection, select: str, target: Path, options: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"copy ({select}) to ? ({options})", [str(target)])


def _rows(i: int, per: int) -> str:
    return f"select {_COLUMNS} from range({i * per}, {(i + 1) * per}) t(r)"


def generate(root: Path) -> None:
    """Write each format's files once; `_cases` finds them again."""
    con = duckdb.connect()
    per = ROWS // FILES

    d = root / "sailthru"
    for i in range(FILES):
        path = d / sailthru.event_path(
            "campaign_open", date(2024, 5, 1 + i % 28), sailthru.part_file_name(f"{i:08x}")
        )
        _copy(con, _rows(i, per), path, "format csv, header true")

    for ext, options in (("tsv", "format csv, header true, delimiter '\t'"), ("jsonl", "format json")):
        d = root / f"simon_{ext}"
        for i in range(FILES):
            day = date(2024, 5, 1 + i % 28)
            name = simon.data_file_name(
                "acme", "winback", "add", f"r{i:04d}", datetime(2024, 5, 1, 0, 0, i), ext
            )
            path = d / simon.folder_for("flows", day) / name
            select = (
                f"select email_sha256 as identifier, event_time as timestamp, 'VIP' as segment_name, 'winback'"
                f" as flow_name, 'email' as action, null as variant, 'add' as operation, url as landing_page,"
                f" user_agent as context_user_agent from ({_rows(i, per)})"
            )
            _copy(con, select, path, options)
            entry = simon.ControlEntry(
                name, f"s3://vendor/{name}", "vendor", "flows", per, "1", "winback", ext
            )
            (path.parent / simon.control_file_name(name)).write_text(
                json.dumps(simon.control_document([entry]))
            )

    d = root / "apsis"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for i in range(FILES):
        path = d / apsis.export_file_name(start + timedelta(days=i), start + timedelta(days=i + 1))
        select = (
            f"select md5(row_index::varchar) as activity_id, 'split' as split_id, 'Spring' as activity_name,"
            f" 'news@example.com' as sender, 'Subject ' || (row_index % 31) as subject, 'u' || row_index || '@example.com' as address,"
            f" 'OPENED' as type, md5('c' || row_index) as correlation_id, (1714521600000 + row_index)::varchar as event_time,"
            f" (1714521600000 + row_index)::varchar as server_time, 'mobile' as device, 'SE' as location,"
            f" url as link_url, 'female' as \"gender (version_id: 491874)\", 'TAG' as \"vip (version_id: 5)\""
            f" from ({_rows(i, per)})"
        )
        _copy(con, select, path, "format csv, header true, compression gzip")

    d = root / "encharge"
    for i in range(FILES):
        path = d / landing_path(datetime(2024, 5, 1 + i % 28, 12, 0, i), f"{i:08x}")
        select = (
            f"select 'email-open' as event, 'email' as type, {{'subject': 'S' || (row_index % 31), 'url': url}} as properties,"
            f" {{'id': 'u' || row_index, 'email': 'u' || row_index || '@example.com'}} as user, 1714521600000 + row_index as timestamp"
            f" from ({_rows(i, per)})"
        )
        _copy(con, select, path, "format json")

    d = root / "leanplum_parquet"
    for i in range(FILES):
        path = d / f"dt=2024-05-{1 + i % 28:02d}" / f"leanplum-events-{i:05d}.parquet"
        select = (
            f"select 1 as schema_version, '(Leanplum) Email Open' as name, event_id, 'user-' || (row_index % 9999) as user_id,"
            f" 'dev-' || (row_index % 7777) as device_id, 1714521600000 + row_index as time,"
            f" map {{'plan': 'pro'}} as user_attributes,"
            f" {{'name': 'Spring', 'id': row_index % 50, 'event_type': 'Open'}} as Campaign from ({_rows(i, per)})"
        )
        _copy(con, select, path, "format parquet")


def main() -> int:
    root = workdir("formats")
    data = root / "data"
    marker = root / f".generated-{ROWS}"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        generate(data)
        marker.touch()
    cases = _cases(data)
    only = [w.strip().lower() for w in os.environ.get("BENCH_FORMATS", "").split(",") if w.strip()]
    ok = True
    for label, (_files, bare_sql, feed) in cases.items():
        if only and not any(w in label.lower() for w in only):
            continue  # BENCH_FORMATS=jsonl,ndjson measures only the formats whose label holds one of them
        bare = time_bare(f"select * from {bare_sql}", root / "bare.duckdb")
        loader = time_feeds_load([{"name": "bench", **feed}], root / "feeds.duckdb")
        ok &= report(label, loader, bare, 1.3, 2048, previous(PREVIOUS, ROWS, label))
    return 0 if ok else 1


def _cases(data: Path) -> dict[str, tuple[list[str], str, dict]]:
    """The generated files, found again on disk (generation is skipped when they exist)."""

    def found(sub: str, pattern: str) -> list[str]:
        return sorted(str(p) for p in (data / sub).rglob(pattern) if not p.name.startswith("control_"))

    cases = {}
    files = found("sailthru", "*.csv")
    cases["CSV (Sailthru)"] = (
        files,
        f"read_csv({files!r})",
        {"vendor": "sailthru", "uri": f"file://{data / 'sailthru'}"},
    )
    files = found("simon_tsv", "*.tsv")
    cases["TSV (Simon)"] = (
        files,
        f"read_csv({files!r}, delim='\t')",
        {"vendor": "simon", "uri": f"file://{data / 'simon_tsv'}"},
    )
    files = found("simon_jsonl", "*.jsonl")
    cases["JSONL (Simon)"] = (
        files,
        f"read_json({files!r})",
        {"vendor": "simon", "uri": f"file://{data / 'simon_jsonl'}"},
    )
    files = found("apsis", "*.csv.gz")
    cases["gzip CSV (APSIS)"] = (
        files,
        f"read_csv({files!r})",
        {"vendor": "apsis", "uri": f"file://{data / 'apsis'}"},
    )
    files = found("encharge", "*.ndjson")
    cases["NDJSON (Encharge)"] = (
        files,
        f"read_json({files!r})",
        {"vendor": "encharge", "uri": f"file://{data / 'encharge'}"},
    )
    files = found("leanplum_parquet", "*.parquet")
    cases["Parquet (Leanplum)"] = (
        files,
        f"read_parquet({files!r})",
        {"vendor": "leanplum", "uri": f"file://{data / 'leanplum_parquet'}"},
    )
    return cases


if __name__ == "__main__":
    raise SystemExit(main())
