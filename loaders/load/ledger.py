"""What is loaded already, and what to load now: the ledger's state, the plan of a feed, its batches.

A file version is loaded once: the ledger (`loader.files`) knows each URI's versions and their status, so a
run plans only the versions it has not loaded (nor quarantined, unless asked to retry), and cuts them into
batches of one raw table and one format.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb

from ..config import Feed
from ..transports import RemoteFile
from ..vendors import Layout
from ..warehouse import META_SCHEMA
from .model import PendingFile

GZIP_WORK_FACTOR = 6  # bytes read per byte of a gzip file, about, for vendor CSV and JSON
SPLIT_WORK = 64 << 20  # bytes of reading below which a group is not worth splitting across workers


def ledger_state(con: duckdb.DuckDBPyConnection, feed: str) -> dict[str, dict[str, str]]:
    """uri -> {version: status} for the loaded and quarantined file versions.

    A file is known by its URI, whatever feed loaded it: a renamed feed keeps its history, and a file is never
    loaded twice under two feed names (the transports give one URI per file, however the feed spells its own).
    """
    del feed  # kept in the signature: callers name the feed they plan
    rows = con.execute(
        f"select uri, version, status from {META_SCHEMA}.files where status in ('loaded', 'quarantined')"
    ).fetchall()
    state: dict[str, dict[str, str]] = {}
    for uri, version, status in rows:
        state.setdefault(uri, {})[version] = status
    return state


def loaded_uris(con: duckdb.DuckDBPyConnection, feed: str) -> set[str]:
    """The URIs with a loaded version."""
    return {u for u, versions in ledger_state(con, feed).items() if "loaded" in versions.values()}


def plan_feed(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    layout: Layout,
    files: Iterable[RemoteFile],
    retry_quarantined: bool,
) -> tuple[list[PendingFile], int]:
    """The files of a feed that are not yet loaded in this version. Returns (pending, files seen)."""
    return plan_files(ledger_state(con, feed.name), feed, layout, files, retry_quarantined)


def plan_files(
    state: dict[str, dict[str, str]],
    feed: Feed,
    layout: Layout,
    files: Iterable[RemoteFile],
    retry_quarantined: bool,
) -> tuple[list[PendingFile], int]:
    """`plan_feed` on a known ledger state (uri -> {version: status})."""
    pending: list[PendingFile] = []
    seen = 0
    for remote in files:
        route = layout.route(remote.relpath)
        if route is None or route.kind != "data":
            continue
        seen += 1
        versions = state.get(remote.uri, {})
        status = versions.get(remote.version)
        if status == "loaded" or (status == "quarantined" and not retry_quarantined):
            continue
        replaces = any(s == "loaded" for s in versions.values())
        pending.append(PendingFile(feed, remote, route, replaces))
    return pending, seen


def batches(
    files: Sequence[PendingFile], max_bytes: int, max_files: int, workers: int = 1
) -> list[list[PendingFile]]:
    """Group by (table, format, compression); cut each group into contiguous batches of about equal bytes,
    at least two per worker (so no core idles behind one long batch) and within the size limits."""
    groups: dict[tuple[str, str | None, bool], list[PendingFile]] = {}
    for f in files:
        groups.setdefault((f.route.table, f.fmt, f.gzip), []).append(f)
    cut: list[list[PendingFile]] = []
    for key in sorted(groups, key=lambda k: (k[0], k[1] or "", k[2])):
        group = sorted(groups[key], key=lambda p: p.remote.uri)
        total = sum(f.remote.size for f in group)
        wanted = max(-(-total // max_bytes), -(-len(group) // max_files))
        # the work is in the bytes read: a gzip file holds several times its size
        work = total * (GZIP_WORK_FACTOR if key[2] else 1)
        if work > SPLIT_WORK:  # small groups are not worth splitting
            wanted = max(wanted, 2 * workers)
        count = max(1, min(len(group), wanted))
        current: list[PendingFile] = []
        done = cuts = 0
        for f in group:
            current.append(f)
            done += f.remote.size
            # cut when this batch reaches its share of the bytes, or a limit
            if len(current) >= max_files or (done >= total * (cuts + 1) / count and cuts < count - 1):
                cut.append(current)
                current = []
                cuts += 1
        if current:
            cut.append(current)
    return cut
