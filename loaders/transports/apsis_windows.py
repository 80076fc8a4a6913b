"""Which APSIS export windows a run asks for, with the ledger (`loader.files`) as the only state.

Each export becomes one file whose URI names its window, `apsis://<host>/emails/reports/<start>_<end>.csv.gz`;
the windows the ledger holds (loaded or quarantined) are covered, and a run asks for the gaps between the
feed's start and its end (now less `api.settle_minutes`, or `api.until`). A gap after loaded windows starts
`api.overlap_hours` earlier; a gap longer than `api.max_window_days` is split; a window the vendor finds too
large is asked again as two halves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ..vendors.apsis import export_file_name
from ..vendors.apsis_protocol import STAMP, Window

if TYPE_CHECKING:
    import duckdb

_WINDOW_IN_URI = re.compile(r"(\d{8}T\d{6}Z)_(\d{8}T\d{6}Z)\.csv\.gz$")


def window_uri(host: str, window: Window) -> str:
    start, end = window
    return f"apsis://{host}/emails/reports/{start:{STAMP}}_{end:{STAMP}}.csv.gz"


def window_of(uri: str) -> Window | None:
    """The export window a ledger URI stands for, or None for a URI this transport did not make."""
    match = _WINDOW_IN_URI.search(uri)
    if not match:
        return None
    start, end = (datetime.strptime(g, STAMP).replace(tzinfo=UTC) for g in match.groups())
    return start, end


def relpath_for(window: Window) -> str:
    """The name the vendor layout routes to `raw.apsis__email_events` (one definition, shared with export)."""
    return export_file_name(*window)


def loaded_windows(con: duckdb.DuckDBPyConnection, feed: str) -> list[Window]:
    """Windows the ledger holds for a feed (loaded, or quarantined: those wait for a fix, not a re-request)."""
    from ..warehouse import META_SCHEMA

    rows = con.execute(
        f"select uri from {META_SCHEMA}.files where feed = ? and status in ('loaded', 'quarantined')", [feed]
    ).fetchall()
    return [w for (uri,) in rows if (w := window_of(uri)) is not None]


def gaps(origin: datetime, end: datetime, covered: Iterable[Window]) -> list[Window]:
    """The parts of [origin, end) that no covered window holds, in time order."""
    out: list[Window] = []
    cursor = origin
    for start, stop in sorted(covered):
        if stop <= cursor:
            continue
        if start > cursor:
            out.append((cursor, min(start, end)))
        cursor = max(cursor, stop)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return [(s, e) for s, e in out if e - s >= timedelta(seconds=1)]


def with_overlap(
    origin: datetime, windows: list[Window], covered: Iterable[Window], overlap: timedelta
) -> list[Window]:
    """Each gap that follows loaded windows starts `overlap` earlier (never before `origin`), so events the
    vendor filed after an earlier window was exported are read again; their duplicates collapse in the mart."""
    if not overlap:
        return windows
    ends = [stop for _, stop in covered]
    return [(max(origin, start - overlap), end) if start in ends else (start, end) for start, end in windows]


def split(window: Window, max_len: timedelta) -> list[Window]:
    start, end = window
    out = []
    while end - start > max_len:
        out.append((start, start + max_len))
        start += max_len
    out.append((start, end))
    return out


def halves(window: Window) -> list[Window]:
    start, end = window
    mid = start + timedelta(seconds=int((end - start).total_seconds()) // 2)
    return [(start, mid), (mid, end)]


def wanted(
    origin: datetime, end: datetime, covered: Iterable[Window], overlap: timedelta, max_len: timedelta
) -> list[Window]:
    """The windows a run asks for: the gaps in [origin, end), widened by `overlap` after loaded windows,
    split to at most `max_len`."""
    covered = list(covered)
    return [part for gap in with_overlap(origin, gaps(origin, end, covered), covered, overlap)
            for part in split(gap, max_len)]  # fmt: skip
