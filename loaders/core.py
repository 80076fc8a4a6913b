"""The load core: files -> raw tables, by name, exactly once per file version, one transaction per batch.

A batch is many files of one raw table and one format, read by a single DuckDB statement (a UNION ALL BY
NAME of one reader per file, so each row knows its file and its row number). New headers become new columns
first; the insert matches columns by name; the ledger rows of the batch are written in the same
transaction. If the batch fails, its files are retried one by one so that one bad file is quarantined and
the others still load.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import signal
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import duckdb

from . import csvdialect, csvinspect, csvtolerant, jsonkeys
from .config import Config, Feed
from .csvinspect import Inspection
from .lake.sink import RawSink, open_sink
from .listing import Listing, note_vendor_files, record_unrecognized, sort_listing
from .transports import RemoteFile, Transport, TransportError, open_transport, safe_relpath
from .vendors import Layout, Route, Vouched, get_layout, sniff
from .warehouse import (
    LINEAGE_COLUMNS,
    META_SCHEMA,
    RAW_SCHEMA,
    quote_ident,
    raw_table,
    table_columns,
)

PARTITION_PREFIX = "_part_"
GZIP_WORK_FACTOR = 6  # bytes read per byte of a gzip file, about, for vendor CSV and JSON


class FileRejected(Exception):
    """A file that cannot be loaded as it is; it is quarantined with this message."""


class EnvironmentFailure(Exception):
    """The machine, not the file: disk full, an I/O error, a lost transaction, a corrupt or read-only
    warehouse. The run stops with this one line; nothing is quarantined and the ledger keeps what committed."""


class FileChanged(Exception):
    """The file disappeared or changed while it was read; it is left for the next run (no ledger entry)."""


# what DuckDB and the OS say when the machine, not the file, is at fault
_ENVIRONMENT_MARKERS = (
    "no space left",
    "disk full",
    "disk quota",
    "input/output error",
    "read-only file system",
    "cannot open database",
    "database has been invalidated",
    "no transaction is active",
    "failed to commit",
    "could not write file",
    "could not fsync",
    "could not truncate",
    "is not a valid duckdb database",
    "corrupt",
    "checksum",
    "out of memory",
)
_ENVIRONMENT_ERRNOS = (28, 5, 30, 122)  # ENOSPC, EIO, EROFS, EDQUOT


def environment_problem(exc: BaseException) -> str | None:
    """The one-line reason when an error is the environment's fault, else None (the file's)."""
    if isinstance(exc, EnvironmentFailure):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    if isinstance(exc, duckdb.FatalException | duckdb.TransactionException | duckdb.OutOfMemoryException):
        return str(exc).split("\n")[0]
    if isinstance(exc, duckdb.Error):
        message = str(exc).split("\n")[0]
        if any(m in message.lower() for m in _ENVIRONMENT_MARKERS):
            return message
    return None


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open (a failed commit has already ended it)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("rollback")


_fault_hits: dict[str, int] = {}
_fault_lock = threading.Lock()


def fault_point(name: str) -> None:
    """Test hook: FEEDS_FAULT=<point>[:<action>][@<n>] acts on the n-th time (default 1st) a run reaches point.

    Actions: none (raise), `kill` (SIGKILL this process: no cleanup, no rollback), `diskfull` (DuckDB's
    error for a full disk), `pause` (create the file
    named by FEEDS_FAULT_PAUSE_FILE, then wait until a test deletes it). Points: after_list, after_localize,
    after_schema, after_insert, before_commit, after_commit.
    """
    spec = os.environ.get("FEEDS_FAULT", "")
    if not spec:
        return
    spec, _, nth = spec.partition("@")
    point, _, action = spec.partition(":")
    if point != name:
        return
    with _fault_lock:
        _fault_hits[name] = hits = _fault_hits.get(name, 0) + 1
    if hits != int(nth or 1):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if (
        action == "diskfull"
    ):  # what DuckDB says when the warehouse's disk is full (for machines without tmpfs)
        raise duckdb.IOException('Could not write file "warehouse": No space left on device')
    if action == "pause":
        marker = Path(os.environ["FEEDS_FAULT_PAUSE_FILE"])
        marker.write_text(str(os.getpid()))
        deadline = time.monotonic() + 300
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return
    raise RuntimeError(f"injected fault at {name}")


@dataclass
class PendingFile:
    feed: Feed
    remote: RemoteFile
    route: Route
    replaces: bool  # an earlier version of this URI is loaded and must be replaced
    local: Path | None = None
    fmt: str | None = None
    gzip: bool = False
    inspection: Inspection | None = None  # a CSV file's dialect and independent record count
    lineage: dict[str, str | None] = field(default_factory=dict)  # per-file columns a control file vouched
    required: tuple[str, ...] = ()  # columns the file cannot lack (its layout's, for its raw table)
    header: list[str] | None = None  # the file's own columns, once a reader has looked


@dataclass
class FeedResult:
    feed: str
    files_seen: int = 0
    files_loaded: int = 0
    files_quarantined: int = 0
    files_waiting: int = 0
    files_changed: int = 0  # vanished or changed while read: not in the ledger, taken by the next run
    files_unreadable: int = 0  # listed but not readable (dangling link, loop, name not UTF-8): reported
    rows: int = 0
    rows_rejected: int = 0
    bytes: int = 0
    files_unrecognized: int = 0
    files_ignored: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)  # one line per file that had rows rejected
    unrecognized: list[str] = field(default_factory=list)  # one line per file no layout claims
    warnings: list[str] = field(default_factory=list)  # e.g. a feed that holds no file of its vendor


@dataclass
class RunResult:
    load_id: str
    feeds: list[FeedResult]

    @property
    def quarantined(self) -> int:
        """Files that did not load for a reason of their own (the exit code tells): quarantined, unreadable
        in the listing, or changed while read."""
        return sum(f.files_quarantined + f.files_unreadable + f.files_changed for f in self.feeds)

    @property
    def rejected(self) -> int:
        return sum(f.rows_rejected for f in self.feeds)

    @property
    def unrecognized(self) -> int:
        return sum(f.files_unrecognized for f in self.feeds)

    @property
    def failed(self) -> bool:
        return any(f.errors for f in self.feeds)


class Progress:
    """Callbacks for the CLI's progress bar; the default does nothing."""

    def start_feed(self, feed: str) -> None: ...

    def end_feed(self, result: FeedResult) -> None: ...

    def add_total(self, files: int, nbytes: int) -> None: ...

    def advance(self, files: int, nbytes: int, rows: int) -> None: ...


def new_load_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---------------------------------------------------------------- ledger


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


def plan_feed(
    con: duckdb.DuckDBPyConnection,
    feed: Feed,
    layout: Layout,
    files: Iterable[RemoteFile],
    retry_quarantined: bool,
) -> tuple[list[PendingFile], int]:
    """The files of a feed that are not yet loaded in this version. Returns (pending, files seen)."""
    state = ledger_state(con, feed.name)
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


def _batches(
    files: Sequence[PendingFile], max_bytes: int, max_files: int, workers: int = 1
) -> list[list[PendingFile]]:
    """Group by (table, format, compression); cut each group into contiguous batches of about equal bytes,
    at least two per worker (so no core idles behind one long batch) and within the size limits."""
    groups: dict[tuple[str, str | None, bool], list[PendingFile]] = {}
    for f in files:
        groups.setdefault((f.route.table, f.fmt, f.gzip), []).append(f)
    batches: list[list[PendingFile]] = []
    for key in sorted(groups, key=lambda k: (k[0], k[1] or "", k[2])):
        group = sorted(groups[key], key=lambda p: p.remote.uri)
        total = sum(f.remote.size for f in group)
        wanted = max(-(-total // max_bytes), -(-len(group) // max_files))
        # the work is in the bytes read: a gzip file holds several times its size
        work = total * (GZIP_WORK_FACTOR if key[2] else 1)
        if work > (64 << 20):  # small groups are not worth splitting
            wanted = max(wanted, 2 * workers)
        count = max(1, min(len(group), wanted))
        current: list[PendingFile] = []
        done = cuts = 0
        for f in group:
            current.append(f)
            done += f.remote.size
            # cut when this batch reaches its share of the bytes, or a limit
            if len(current) >= max_files or (done >= total * (cuts + 1) / count and cuts < count - 1):
                batches.append(current)
                current = []
                cuts += 1
        if current:
            batches.append(current)
    return batches


# ---------------------------------------------------------------- readers


def _reader(f: PendingFile, i: int, params: dict[str, object], json_columns: dict[str, str] | None) -> str:
    """One file's reader as SQL; the path and every option value are bound parameters."""
    params[f"p{i}"] = str(f.local)
    compression = "gzip" if f.gzip else "none"
    if f.fmt in ("csv", "tsv"):
        params[f"d{i}"] = "\t" if f.fmt == "tsv" else ","
        # The header is read here, so DuckDB's sniffer never runs: it would decompress and scan a sample of
        # every file twice (bind and insert); the dialect is the vendor's, known, and every column is text.
        f.header = csv_header(f)
        params[f"h{i}"] = {name: "VARCHAR" for name in f.header}
        return (
            f"read_csv($p{i}, columns = $h{i}, header = true, auto_detect = false, delim = $d{i}, quote = '\"',"
            f" escape = '\"', compression = '{compression}', null_padding = false, strict_mode = true,"
            " encoding = 'utf-8', hive_partitioning = false)"
        )
    if f.fmt == "json":
        params[f"c{i}"] = json_columns or {}
        return f"read_json($p{i}, columns = $c{i}, format = 'auto', compression = '{compression}', hive_partitioning = false)"
    if f.fmt == "parquet":
        return f"read_parquet($p{i}, hive_partitioning = false)"
    raise FileRejected(f"{f.remote.uri}: unknown file format; set the feed's format: option")


def _json_keys(con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile]) -> dict[str, str]:
    """Every top-level key in the batch (all lines, not a sample): a key first seen on the last line lands too.

    Every key is read as VARCHAR: a scalar as its text, an object or array as its JSON text.
    """
    try:
        # Newline-delimited JSON, the common case: the C scanner follows each line's structure without
        # parsing its values (see loaders/jsonkeys.py).
        keys = _scanned_keys(files)
    except (ValueError, RuntimeError, OSError, EOFError, zlib.error):
        keys = _duckdb_json_keys(con, files)
    # columns in the order of the first record's keys (new tables read like the vendor's records), then by name
    first = {k: i for i, k in enumerate(_first_record_keys(files[0]))}
    columns: dict[str, str] = {}
    lowered: set[str] = set()
    for key in sorted(keys, key=lambda k: (first.get(k, len(first)), k)):
        if key.lower() in lowered:
            continue  # the same name in another case: DuckDB matches names case-insensitively
        lowered.add(key.lower())
        columns[key] = "VARCHAR"
    return columns


def _scanned_keys(files: Sequence[PendingFile]) -> list[str]:
    keys: dict[str, None] = {}
    for f in files:  # one file at a time: each file's own keys are checked against its required columns
        with open_local(f) as stream:
            f.header = jsonkeys.scan_keys([stream])
        keys.update(dict.fromkeys(f.header))
    return list(keys)


def _duckdb_json_keys(con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile]) -> list[str]:
    """The same keys from DuckDB: for a scanner that is not built, or a file that is not one object per line."""
    compression = "gzip" if files[0].gzip else "none"
    paths = [str(f.local) for f in files]
    try:
        # Newline-delimited JSON: the lines are cut by the CSV reader (no quoting, a delimiter no JSON text
        # holds) and parsed once, by json_keys. A file in any other layout (an array, pretty-printed
        # records) has lines that are not JSON objects: the pass fails and the general record reader below
        # lists the keys instead, which parses each record twice.
        rows = con.execute(
            "select distinct unnest(case when line is null then [] when ltrim(line)[1] = '{' then json_keys(line)"
            " else error('not one object per line') end) as k from read_csv($files, columns = {'line': 'VARCHAR'},"
            " header = false, auto_detect = false, delim = $delim, quote = '', escape = '',"
            f" compression = '{compression}', encoding = 'utf-8', hive_partitioning = false)",
            {"files": paths, "delim": "\x01"},
        ).fetchall()
    except duckdb.Error:
        rows = con.execute(
            "select distinct unnest(json_keys(json)) as k"
            f" from read_json_objects($files, format = 'auto', compression = '{compression}')",
            {"files": paths},
        ).fetchall()
    return [k for (k,) in rows]


def open_local(f: PendingFile) -> IO[bytes]:
    """The fetched file, decompressed as it is read when it is gzip."""
    assert f.local is not None
    return gzip.open(f.local, "rb") if f.gzip else open(f.local, "rb")


def _first_record_keys(f: PendingFile) -> list[str]:
    """The keys of a file's first line, in order, if it is one JSON object; else none (only an order hint)."""
    try:
        with open_local(f) as fh:
            record = json.loads(fh.readline(1 << 20))
    except (OSError, EOFError, ValueError, zlib.error):
        return []
    return list(record) if isinstance(record, dict) else []


def _batch_query(
    con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile], load_id: str, loaded_at: datetime
) -> tuple[str, dict[str, object], list[str]]:
    params: dict[str, object] = {"load_id": load_id, "loaded_at": loaded_at}
    json_columns = _json_keys(con, files) if files[0].fmt == "json" else None
    part_keys = sorted({k for f in files for k in file_columns(f)})
    if files[0].fmt == "parquet":
        return _parquet_query(files, params, part_keys), params, part_keys
    selects = []
    for i, f in enumerate(files):
        params[f"u{i}"] = f.remote.uri
        params[f"v{i}"] = f.remote.version
        parts = []
        values = file_columns(f)
        for key in part_keys:
            params[f"k{i}_{len(parts)}"] = values.get(key)
            parts.append(f"$k{i}_{len(parts)}::varchar as {quote_ident(key)}")
        part_sql = "".join(", " + p for p in parts)
        row = "file_row_number + 1" if f.fmt == "parquet" else "ordinality"
        source = _reader(f, i, params, json_columns)
        if f.fmt == "parquet":
            source = source[:-1] + ", file_row_number = true)"
            body = f"select * exclude (file_row_number), {row} as _source_row"
        else:
            source += " with ordinality"
            body = "select * exclude (ordinality), ordinality as _source_row"
        selects.append(
            f"{body}, $u{i}::varchar as _source_uri, $v{i}::varchar as _file_version{part_sql},"
            f" $load_id::varchar as _load_id, $loaded_at::timestamp as _loaded_at from {source}"
        )
    return "\nunion all by name\n".join(selects), params, part_keys


def file_columns(f: PendingFile) -> dict[str, str | None]:
    """The columns every row of a file gets from outside its content: path partitions (`_part_<key>`) and
    the lineage its control file vouched (Simon's `_control_flow_id`, `_control_flow_name`)."""
    return {**{PARTITION_PREFIX + k: v for k, v in f.route.partitions.items()}, **f.lineage}


def _parquet_query(files: Sequence[PendingFile], params: dict[str, object], part_keys: list[str]) -> str:
    """Parquet knows each row's file and row number itself, so one parallel multi-file scan serves the batch;
    each file's lineage values come from a small bound list joined on the file name."""
    params["files"] = [str(f.local) for f in files]
    params["lineage"] = [
        {
            "path": str(f.local),
            "uri": f.remote.uri,
            "version": f.remote.version,
            **{f"k{j}": file_columns(f).get(key) or "" for j, key in enumerate(part_keys)},
        }
        for f in files
    ]
    parts = "".join(f", nullif(m.k{j}::varchar, '') as {quote_ident(key)}" for j, key in enumerate(part_keys))
    return (
        "select r.* exclude (filename, file_row_number), r.file_row_number + 1 as _source_row,"
        f" m.uri::varchar as _source_uri, m.version::varchar as _file_version{parts},"
        " $load_id::varchar as _load_id, $loaded_at::timestamp as _loaded_at"
        " from read_parquet($files, filename = true, file_row_number = true, union_by_name = true,"
        " hive_partitioning = false) as r"
        " join (select unnest($lineage, recursive := true)) as m on r.filename = m.path"
    )


# ---------------------------------------------------------------- the batch transaction


def _ensure_table(
    con: duckdb.DuckDBPyConnection, table: str, columns: list[tuple[str, str]], first_uri: str, load_id: str
) -> None:
    """Create the raw table if new, add every column it lacks, and log each new column (schema drift)."""
    existing = table_columns(con, RAW_SCHEMA, table)
    now = utcnow()
    if not existing:  # a new table: every column in one statement (one ALTER per column costs memory)
        created: dict[str, str] = {n.lower(): n for n in LINEAGE_COLUMNS}
        wanted = list(LINEAGE_COLUMNS.items())
        for name, ctype in columns:
            if name.lower() not in created:
                created[name.lower()] = name
                wanted.append((name, ctype))
        defs = ", ".join(f"{quote_ident(n)} {t}" for n, t in wanted)
        con.execute(f"create table {raw_table(table)} ({defs})")
        new = wanted[len(LINEAGE_COLUMNS) :]
        if new:
            con.executemany(
                f"insert into {META_SCHEMA}.schema_changes values (?, ?, ?, ?, ?, ?)",
                [[table, name, ctype, first_uri, load_id, now] for name, ctype in new],
            )
        return
    for name, ctype in columns:
        if name.lower() in existing:
            continue
        con.execute(f"alter table {raw_table(table)} add column {quote_ident(name)} {ctype}")
        existing[name.lower()] = name
        con.execute(
            f"insert into {META_SCHEMA}.schema_changes values (?, ?, ?, ?, ?, ?)",
            [table, name, ctype, first_uri, load_id, now],
        )


@dataclass
class Prepared:
    """A batch with its one statement, bound parameters and the columns it yields."""

    files: list[PendingFile]
    query: str | None
    params: dict[str, object]
    columns: list[tuple[str, str]]
    loaded_at: datetime
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, content)
    note: str | None = None  # kept in the ledger's error column of a file loaded with rejects

    @property
    def table(self) -> str:
        return self.files[0].route.table


def prepare_batch(con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile], load_id: str) -> Prepared:
    """Build the batch statement and bind it (DESCRIBE reads only headers and samples). Raises if unreadable."""
    loaded_at = utcnow()
    readable = [f for f in files if f.remote.size > 0]
    if not readable:
        return Prepared(list(files), None, {}, [], loaded_at)
    query, params, _ = _batch_query(con, readable, load_id, loaded_at)
    for f in readable:
        check_required(con, f)
    described = con.execute(f"describe {query}", params).fetchall()
    columns = [
        (r[0], "VARCHAR" if r[1] == "JSON" else r[1]) for r in described if r[0] not in LINEAGE_COLUMNS
    ]
    _check_names(readable, described)
    query = with_email_hashing(query, params, columns, files[0].feed, files[0].route.table)
    return Prepared(list(files), query, params, columns, loaded_at)


def check_required(con: duckdb.DuckDBPyConnection, f: PendingFile) -> None:
    """Refuse a file without a column its raw table cannot lack, naming the columns it has."""
    if not f.required:
        return
    header = f.header
    if header is None:
        if f.fmt == "json":
            header = _duckdb_json_keys(con, [f])
        elif f.fmt == "parquet":
            header = [
                r[0]
                for r in con.execute(
                    "describe select * from read_parquet($p)", {"p": str(f.local)}
                ).fetchall()
            ]
        else:
            header = csv_header(f)
        f.header = header
    if not header and f.fmt == "json":
        return  # no record at all: nothing to place, nothing lacking
    have = {h.lower() for h in header}
    missing = [c for c in f.required if c.lower() not in have]
    if missing:
        shown = ", ".join(repr(h) for h in header[:20]) + (", ..." if len(header) > 20 else "")
        raise FileRejected(
            f"{f.remote.uri}: lacks the column(s) {', '.join(missing)} that every {f.route.table} file has; "
            f"columns found: {shown or 'none'} -- not loaded: check the feed's vendor and format (a TSV file read "
            "as CSV shows one long column), or ask the vendor to re-send the file whole"
        )


def _check_names(files: Sequence[PendingFile], described: Sequence[tuple]) -> None:
    """Refuse column names that would corrupt the insert: NUL bytes, or a vendor header that collides with
    a lineage or partition column (`_source_uri`, `_part_dt`, ...) or with the row numbering (`ordinality`)."""
    where = files[0].remote.uri if len(files) == 1 else f"{len(files)} files"
    seen: set[str] = set()
    for row in described:
        name, ctype = row[0], row[1]
        if "\x00" in name:
            raise FileRejected(f"{where}: a column name contains a NUL byte; the header is not text")
        if name.lower() in seen:
            raise FileRejected(
                f"{where}: the header {name!r} collides with a column the loader adds (lineage or path "
                "partition); ask the vendor to rename it"
            )
        seen.add(name.lower())
        if name == "_source_row" and ctype != "BIGINT":
            raise FileRejected(
                f"{where}: a header named 'ordinality' or 'file_row_number' collides with the row numbering; "
                "ask the vendor to rename it"
            )


# ---------------------------------------------------------------- e-mail hashing (hash_emails: true)

# Columns known to carry a clear-text e-mail, per raw table: `column`, `column.json_key` (JSON text) or
# `column[map_key]` (a Parquet map). Sailthru sends hashes only; Leanplum's JSON has no e-mail member.
EMAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "apsis__email_events": ("address",),
    "simon__flow_events": ("identifier",),
    "encharge__events": ("user.email", "properties.form.email"),  # form-submitted carries the form's fields
    "leanplum__events_parquet": ("user_attributes[email]",),
}


def _sha256_sql(expr: str) -> str:
    # the mart's email_sha256: sha256 of the trimmed, lower-cased address; a value that is not an address
    # (an id, or a hash already) is left as it is, so it still matches downstream
    return f"case when trim({expr}) like '%_@_%' then sha256(lower(trim({expr}))) else {expr} end"


def with_email_hashing(
    query: str, params: dict[str, object], columns: Sequence[tuple[str, str]], feed: Feed, table: str
) -> str:
    """Wrap the batch query so clear-text e-mails are hashed on their way into raw (when the feed asks)."""
    if not feed.hash_emails:
        return query
    present = {name.lower(): (name, ctype) for name, ctype in columns}
    replaced: dict[str, str] = {}
    for i, spec in enumerate((*EMAIL_FIELDS.get(table, ()), *feed.email_columns)):
        if spec.endswith("]") and "[" in spec:
            column, _, map_key = spec[:-1].partition("[")
            if column.lower() not in present or not present[column.lower()][1].startswith(
                "MAP(VARCHAR, VARCHAR)"
            ):
                continue
            name = present[column.lower()][0]
            params[f"hash_key{i}"] = map_key.lower()
            current = replaced.get(name, quote_ident(name))
            replaced[name] = (
                f"map_from_entries(list_transform(map_entries({current}), lambda e: struct_pack(key := e.key,"
                f" value := case when lower(e.key) = $hash_key{i} and trim(e.value) like '%_@_%'"
                " then sha256(lower(trim(e.value))) else e.value end)))"
            )
            continue
        column, _, key = spec.partition(".")
        if column.lower() not in present:
            continue
        name, ctype = present[column.lower()]
        current = replaced.get(name, f"{quote_ident(name)}::varchar")
        if not key:
            replaced[name] = _sha256_sql(f"({current})")
            continue
        members = key.split(".")
        params[f"hash_path{i}"] = "$." + ".".join(json_path_member(m) for m in members)
        member = f"json_extract_string(({current}), $hash_path{i})"
        patch = f"sha256(lower(trim({member})))"
        for depth, m in reversed(list(enumerate(members))):
            params[f"hash_key{i}_{depth}"] = m
            patch = f"json_object($hash_key{i}_{depth}, {patch})"
        replaced[name] = (
            f"case when trim({member}) like '%_@_%' then json_merge_patch(({current}), {patch})::varchar"
            f" else ({current}) end"
        )
    if not replaced:
        return query
    replace = ", ".join(f"{expr} as {quote_ident(name)}" for name, expr in replaced.items())
    return f"select * replace ({replace}) from ({query})"


def json_path_member(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def apply_schema(con: duckdb.DuckDBPyConnection, prepared: Sequence[Prepared], load_id: str) -> None:
    """Create tables and add new columns before the parallel inserts, in one short transaction.

    A column added for a batch that later fails stays, empty: harmless, and it is logged as seen.
    """
    con.execute("begin transaction")
    try:
        for p in prepared:
            if p.query is not None:
                _ensure_table(con, p.table, p.columns, p.files[0].remote.uri, load_id)
        con.execute("commit")
    except BaseException:
        _rollback(con)
        raise


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: Prepared,
    load_id: str,
    validate: Callable[[dict[str, int]], dict[str, str]] | None = None,
    sink: RawSink | None = None,
) -> dict[str, int]:
    """Load one prepared batch in one transaction. Returns rows per URI. Raises on failure, leaving nothing.

    With a `sink` (the Parquet lake) the rows go there instead of the raw table; the ledger stays here."""
    files = batch.files
    table = batch.table
    con.execute("begin transaction")
    try:
        counts: dict[str, int] = {f.remote.uri: 0 for f in files}
        replaced = [f.remote.uri for f in files if f.replaces]
        if sink is None and replaced and table_columns(con, RAW_SCHEMA, table):
            con.execute(
                f"delete from {raw_table(table)} where _source_uri in (select unnest($u))", {"u": replaced}
            )
            con.execute("reset max_vacuum_tasks")  # reclaim the deleted rows at the next checkpoint
        if replaced:
            con.execute(
                f"update {META_SCHEMA}.files set status = 'replaced' where status = 'loaded'"
                " and uri in (select unnest($u))",
                {"u": replaced},
            )
        if sink is not None:
            counts = sink.write(con, batch, load_id)
        elif batch.query is not None:
            con.execute(f"insert into {raw_table(table)} by name {batch.query}", batch.params)
            fault_point("after_insert")
            for uri, n in con.execute(
                # _loaded_at is this batch's own value: zone maps skip every other batch's row groups, so the
                # count reads this batch's rows, not the whole table
                f"select _source_uri, count(*) from {raw_table(table)} where _loaded_at = $at and _load_id = $l"
                " and _source_uri in (select unnest($u)) group by 1",
                {"at": batch.loaded_at, "l": load_id, "u": [f.remote.uri for f in files]},
            ).fetchall():
                counts[uri] = n
        if validate:
            bad = validate(counts)
            if bad:
                raise BatchValidationError(bad)
        if batch.rejects:
            (f,) = files  # only a single file's tolerant pass has rejects
            con.executemany(
                f"insert into {META_SCHEMA}.rejects values (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [
                        f.feed.name,
                        f.remote.uri,
                        f.remote.version,
                        line,
                        reason,
                        content,
                        load_id,
                        batch.loaded_at,
                    ]
                    for line, reason, content in batch.rejects
                ],
            )
        con.executemany(
            f"insert into {META_SCHEMA}.files values (?, ?, ?, ?, ?, ?, 'loaded', ?, ?, ?, ?)",
            [
                [
                    f.feed.name,
                    f.remote.uri,
                    f.remote.version,
                    f.remote.size,
                    f.remote.mtime,
                    table,
                    counts[f.remote.uri],
                    load_id,
                    batch.loaded_at,
                    batch.note,
                ]
                for f in files
            ],
        )
        fault_point("before_commit")
        con.execute("commit")
    except BaseException:
        _rollback(con)
        raise
    fault_point("after_commit")
    return counts


# ---------------------------------------------------------------- the tolerant second pass for CSV


def csv_header(f: PendingFile) -> list[str]:
    """The header as DuckDB names it (trimmed; empty -> column<i>; repeats, in any case, get _1, _2 ...)."""
    try:
        with open_local(f) as fh:
            head = fh.read(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise FileRejected(f"{f.remote.uri}: cannot decompress: {exc}") from None
    text = head.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    delim = "\t" if f.fmt == "tsv" else ","
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"'))
    except (StopIteration, csv.Error) as exc:
        raise FileRejected(f"{f.remote.uri}: no readable header line ({exc or 'empty'})") from None
    return column_names(header, f.remote.uri)


def column_names(header: list[str], uri: str) -> list[str]:
    """DuckDB's names for a header's fields: trimmed; empty -> column<i>; repeats in any case get _1, _2 ..."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(header):
        if "\x00" in raw or any("\udc80" <= ch <= "\udcff" for ch in raw):
            raise FileRejected(f"{uri}: the header line is not UTF-8 text; re-send the file as UTF-8")
        name = raw.strip() or f"column{i}"
        n = seen.get(name.lower(), 0)
        seen[name.lower()] = n + 1
        names.append(name if n == 0 else f"{name}_{n}")
    return names


def prepare_tolerant(
    con: duckdb.DuckDBPyConnection, f: PendingFile, load_id: str, max_line_bytes: int, tmp: Path
) -> tuple[Prepared, list[str]]:
    """Read a CSV that the strict reader cannot take as it is, record by record (loaders/csvtolerant.py).

    Good records are staged in a clean CSV (their record number first) that DuckDB loads strictly; bad ones
    become rejects with their line and reason. `_source_row` is each record's number in the file, whatever
    came before it. Raises FileRejected when the first record cannot be the header.
    """
    assert f.local is not None
    dialect = f.inspection.dialect if f.inspection else csvdialect.documented(f.fmt)
    reserved = {*LINEAGE_COLUMNS, *file_columns(f), "_feeds_row"}
    names: list[str] = []

    def check_header(row: list[str]) -> None:
        names.extend(column_names(row, f.remote.uri))
        f.header = names
        check_required(con, f)
        clash = [n for n in names if n.lower() in reserved]
        if clash:
            raise FileRejected(
                f"{f.remote.uri}: the header {clash[0]!r} collides with a column the loader adds; "
                "ask the vendor to rename it"
            )

    staging = tmp / f"staged-{uuid.uuid4().hex[:12]}.csv"
    try:
        with open_local(f) as src:
            staged = csvtolerant.stage(
                src,
                staging,
                dialect,
                max_line_bytes,
                check_header,
            )
    except csvtolerant.HeaderRejected as exc:
        staging.unlink(missing_ok=True)
        raise FileRejected(
            f"{f.remote.uri}: {exc}; the file cannot be read without shifting values"
        ) from None
    except (OSError, EOFError, zlib.error) as exc:
        staging.unlink(missing_ok=True)
        if environment_problem(exc):
            raise
        raise FileRejected(f"{f.remote.uri}: cannot read: {exc}") from None
    if dialect.skip_space and staged.rejects:
        # `, `-separated with a record that does not fit: whether a quote after `, ` opens a field or is text is
        # ambiguous there, so record bounds (and columns) are in doubt; loading none of it is the safe outcome
        staging.unlink(missing_ok=True)
        raise FileRejected(
            f"{f.remote.uri}: a `, `-separated file with {len(staged.rejects)} irregular record(s) (quotes or "
            "field counts): its records cannot be split without risking values in the wrong column; "
            "ask the vendor to re-send it"
        )
    total = staged.rows + len(staged.rejects)
    if staged.wider and staged.wider * 2 > total:
        staging.unlink(missing_ok=True)
        raise FileRejected(
            f"{f.remote.uri}: the header has {len(names)} fields but {staged.wider} of {total} records have "
            "more: it cannot be this file's header (a delimiter missing from it?); ask the vendor to re-send"
        )
    loaded_at = utcnow()
    qparams: dict[str, object] = {
        "p": str(staging),
        "cols": {"_feeds_row": "BIGINT", **{n: "VARCHAR" for n in names}},
        "u": f.remote.uri,
        "v": f.remote.version,
        "load_id": load_id,
        "loaded_at": loaded_at,
    }
    parts = []
    for n, (key, value) in enumerate(sorted(file_columns(f).items())):
        qparams[f"k{n}"] = value
        parts.append(f", $k{n}::varchar as {quote_ident(key)}")
    size = max(int(max_line_bytes), 1 << 20)
    query = (
        "select * exclude (_feeds_row), _feeds_row as _source_row,"
        f" $u::varchar as _source_uri, $v::varchar as _file_version{''.join(parts)},"
        " $load_id::varchar as _load_id, $loaded_at::timestamp as _loaded_at"
        " from read_csv($p, columns = $cols, header = false, auto_detect = false, delim = ',', quote = '\"',"
        " escape = '\"', null_padding = false, strict_mode = true, encoding = 'utf-8',"
        f" hive_partitioning = false, max_line_size = {size}, buffer_size = {2 * size})"
    )
    columns = [(n, "VARCHAR") for n in names] + [(k, "VARCHAR") for k in sorted(file_columns(f))]
    query = with_email_hashing(query, qparams, columns, f.feed, f.route.table)
    notes = []
    if staged.rejects:
        notes.append(f"{len(staged.rejects)} rows rejected (loader.rejects), the other rows loaded")
    if dialect != csvdialect.documented(f.fmt):
        notes.append(f"dialect detected: {dialect.describe()}")
    prepared = Prepared([f], query, qparams, columns, loaded_at, staged.rejects, "; ".join(notes) or None)
    return prepared, [str(staging)]


# ---------------------------------------------------------------- content checks before reading

# deflate cannot expand more than about 1032:1, so a smaller gzip file cannot break the limit
_DEFLATE_MAX_RATIO = 1032


def content_problem(f: PendingFile, limit: int) -> str | None:
    """Why a file must not be read at all (binary where text is expected, too large decompressed), or None."""
    assert f.local is not None
    if f.fmt == "json":  # a CSV file's NUL bytes are found by its inspection (they reject their rows)
        try:
            with open_local(f) as fh:
                sample = fh.read(8192)
        except (OSError, EOFError, zlib.error) as exc:
            return f"cannot decompress: {exc}; re-send the file"
        if b"\x00" in sample:
            return (
                f"binary content (NUL bytes) in a file read as {f.fmt}; not text in UTF-8 "
                "(a UTF-16 export must be re-sent as UTF-8)"
            )
    if not f.gzip:
        if f.fmt != "parquet" and f.remote.size > limit:
            return f"{f.remote.size} bytes is over max_decompressed_bytes ({limit}); raise it for this feed"
        return None
    if f.remote.size * _DEFLATE_MAX_RATIO <= limit:
        return None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    pending = b""
    try:
        with open(f.local, "rb") as fh:
            while chunk := pending or fh.read(1 << 20):
                total += len(inflater.decompress(chunk, 1 << 24))
                if total > limit:
                    return (
                        f"decompresses to more than max_decompressed_bytes ({limit} bytes); "
                        "raise it for this feed if the file is genuine"
                    )
                if inflater.eof:  # a multi-member gzip: the next member starts in unused_data
                    pending = inflater.unused_data
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    pending = inflater.unconsumed_tail
    except zlib.error as exc:
        return f"cannot decompress: {exc}; re-send the file"
    return None


class BatchValidationError(Exception):
    def __init__(self, bad: dict[str, str]) -> None:
        super().__init__("; ".join(f"{u}: {m}" for u, m in bad.items()))
        self.bad = bad


class RecountMismatch(BatchValidationError):
    """The strict reader loaded another number of rows than the file's records: the batch is rolled back and
    those files get the tolerant pass (which accounts for each record, or quarantines with both counts)."""

    @staticmethod
    def message(rows: int, rejected: int, expected: int) -> str:
        got = f"{rows} rows loaded + {rejected} rejected" if rejected else f"{rows} rows read"
        return (
            f"{got}, but the file holds {expected} records (counted by a separate pass that follows "
            "its quoting); nothing of it is loaded: fix or re-send the file"
        )


def _why_tolerant(f: PendingFile) -> str:
    """Why a CSV file skips the strict reader, for the message should even the tolerant pass fail."""
    assert f.inspection is not None
    c, d = f.inspection.counts, f.inspection.dialect
    reasons = []
    if d != csvdialect.documented(f.fmt):
        reasons.append(f"read in the dialect detected: {d.describe()}")
    if c.header_lines > 1 or c.header_stray:
        reasons.append("the header line has an unbalanced quote")
    if c.bad_fields:
        reasons.append(f"{c.bad_fields} records with another field count than the header")
    if c.nul_records:
        reasons.append(f"{c.nul_records} records with NUL bytes")
    if c.stray_records:
        reasons.append(f"{c.stray_records} records with a stray quote")
    if c.unterminated:
        reasons.append("a quote left open at the end of the file")
    where = f" (first at line {c.first_bad_line})" if c.first_bad_line else ""
    return f"{f.remote.uri}: " + "; ".join(reasons) + where


def quarantine(con: duckdb.DuckDBPyConnection, f: PendingFile, load_id: str, error: str) -> None:
    con.execute(
        f"insert into {META_SCHEMA}.files values (?, ?, ?, ?, ?, ?, 'quarantined', 0, ?, ?, ?)",
        [
            f.feed.name,
            f.remote.uri,
            f.remote.version,
            f.remote.size,
            f.remote.mtime,
            f.route.table,
            load_id,
            utcnow(),
            error,
        ],
    )


def describe_error(f: PendingFile, exc: BaseException) -> str:
    """One line that names the file, DuckDB's reason (which carries the line) and what to do."""
    message = str(exc).split("\n\n")[0].replace("\n", " ").strip()
    if f.local is not None:
        message = message.replace(str(f.local), f.remote.uri)
    return f"{f.remote.uri}: {message} -- fix or re-send the file; it is retried when its version changes"


# ---------------------------------------------------------------- the run


class Loader:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        config: Config,
        progress: Progress | None = None,
        retry_quarantined: bool = False,
    ) -> None:
        self.con = con
        self.config = config
        self.progress = progress or Progress()
        self.retry_quarantined = retry_quarantined or config.settings.quarantine_retry
        self.workers = max(1, config.settings.parallel_batches or os.cpu_count() or 1)
        self.threads = max(1, config.settings.threads or os.cpu_count() or 1)
        self.sink = open_sink(
            config.settings.lake, config.settings.lake_endpoint_url, config.settings.lake_region
        )
        if self.sink is not None:
            self.sink.prepare(con)
        self._lock = threading.Lock()
        # CSV files the strict pass refused, for the tolerant pass after the parallel inserts: it may add
        # columns, and ALTER TABLE must not race the other batches' inserts
        self._deferred: list[tuple[PendingFile, str]] = []
        self._tmp = Path(tempfile.gettempdir())  # the run's scratch folder (staged CSV of the tolerant pass)
        self._transport_now: Transport | None = None

    def run(self, feed_names: Sequence[str] | None = None) -> RunResult:
        load_id = new_load_id()
        feeds = [self.config.feed(n) for n in feed_names] if feed_names else list(self.config.feeds)
        started = utcnow()
        self.load_id = load_id
        results = []
        try:
            for feed in feeds:
                self.progress.start_feed(feed.name)
                try:
                    results.append(self.load_feed(feed, load_id))
                except (duckdb.Error, OSError) as exc:
                    problem = environment_problem(exc)
                    if problem is None:
                        raise
                    raise EnvironmentFailure(problem) from None
                self.progress.end_feed(results[-1])
        except EnvironmentFailure:
            raise
        except BaseException:  # Ctrl-C or SIGTERM: the run is recorded with what it committed
            self._record_interrupted(load_id, feeds, started)
            raise
        result = RunResult(load_id, results)
        problems = result.quarantined or result.rejected or result.unrecognized
        status = "failed" if result.failed else ("partial" if problems else "ok")
        self.con.execute(
            f"insert into {META_SCHEMA}.loads values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                started,
                utcnow(),
                ",".join(f.name for f in feeds),
                status,
                sum(r.files_loaded for r in results),
                sum(r.files_quarantined for r in results),
                sum(r.rows for r in results),
            ],
        )
        return result

    def _record_interrupted(self, load_id: str, feeds: Sequence[Feed], started: datetime) -> None:
        self.con.execute(
            f"""insert into {META_SCHEMA}.loads
                select ?, ?, ?, ?, 'interrupted',
                       count(*) filter (where status = 'loaded'),
                       count(*) filter (where status = 'quarantined'),
                       coalesce(sum(rows) filter (where status = 'loaded'), 0)
                from {META_SCHEMA}.files where load_id = ?""",
            [load_id, started, utcnow(), ",".join(f.name for f in feeds), load_id],
        )

    def load_feed(self, feed: Feed, load_id: str) -> FeedResult:
        result = FeedResult(feed.name)
        layout = get_layout(feed.vendor, feed.options)
        try:
            transport = self._transport(feed)
        except TransportError as exc:
            result.errors.append(str(exc))
            return result
        self._transport_now = transport
        try:
            self._load_from(transport, feed, layout, load_id, result)
        except TransportError as exc:
            result.errors.append(str(exc))
        finally:
            # an API transport may finish some windows and fail later ones: those failures still count
            result.errors.extend(getattr(transport, "errors", []))
            transport.close()
        return result

    def _transport(self, feed: Feed) -> Transport:
        if feed.scheme == "apsis" or feed.api is not None:
            from .transports.apsis import ApsisTransport, loaded_windows

            return ApsisTransport(feed, loaded_windows(self.con, feed.name))
        return open_transport(feed)

    def _load_from(
        self, transport: Transport, feed: Feed, layout: Layout, load_id: str, result: FeedResult
    ) -> None:
        listed = []
        for remote in transport.list():
            try:
                safe_relpath(remote.relpath)
            except ValueError as exc:
                result.errors.append(f"{feed.name}: skipped {exc}")
                continue
            listed.append(remote)
        for problem in getattr(transport, "problems", []):
            result.files_unreadable += 1
            result.notes.append(problem)
        fault_point("after_list")
        listing = sort_listing(listed, layout, feed.ignore)
        self._report_listing(feed, listing, load_id, result)
        listed = listing.claimed
        self._expected_rows: dict[str, int] = {}
        self._lineage: dict[str, dict[str, str | None]] = {}
        if layout.control_gated:
            listed = self._gate_on_control_files(transport, feed, layout, listed, load_id, result)
        pending, result.files_seen = plan_feed(self.con, feed, layout, listed, self.retry_quarantined)
        pending = self._hold_emptied(pending, load_id, result)
        for p in pending:
            p.lineage = self._lineage.get(p.remote.uri, {})
        if not pending:
            return
        self.progress.add_total(len(pending), sum(p.remote.size for p in pending))
        with tempfile.TemporaryDirectory(prefix="feeds-") as tmp:
            self._localize(transport, pending, Path(tmp), result, load_id, layout)
            fault_point("after_localize")
            ready = [p for p in pending if p.local is not None]
            self._deferred = []
            strict = []
            for p in ready:
                if p.inspection is not None and not p.inspection.strict_ok:
                    self._deferred.append((p, _why_tolerant(p)))  # DuckDB's strict reader would not fit it
                else:
                    strict.append(p)
            self._tmp = Path(tmp)
            batches = _batches(strict, feed.max_batch_bytes, feed.max_batch_files, self.workers)
            self._load_batches(batches, load_id, result, layout)

    def _hold_emptied(
        self, pending: list[PendingFile], load_id: str, result: FeedResult
    ) -> list[PendingFile]:
        """A loaded file that comes back empty is suspicious (a failed re-upload, a truncation): it is
        quarantined and its rows stay, rather than an empty version replacing them."""
        kept = []
        for f in pending:
            if f.replaces and f.remote.size == 0 and not self.retry_quarantined:
                self._quarantine(
                    f,
                    load_id,
                    result,
                    f"{f.remote.uri}: was loaded, now 0 bytes: suspicious, so its loaded rows are kept; if the "
                    "file is really empty now, re-send it with its header, or run with --retry-quarantined",
                )
                continue
            kept.append(f)
        return kept

    def _report_listing(self, feed: Feed, listing: Listing, load_id: str, result: FeedResult) -> None:
        """Files no layout claims go to the ledger and the summary (exit 1); ignored ones are counted; a feed
        whose listing holds no file of its vendor says so."""
        record_unrecognized(self.con, feed.name, listing.unrecognized, load_id)
        result.files_unrecognized = len(listing.unrecognized)
        result.files_ignored = len(listing.ignored)
        result.unrecognized = [f"{r.uri}: {why}" for r, why in listing.unrecognized]
        message = None
        if not listing.claimed and feed.scheme != "apsis" and feed.api is None:
            found = len(listing.unrecognized) + len(listing.ignored)
            message = f"no {feed.vendor} file under {feed.uri}: " + (
                f"{found} files listed, none in the {feed.vendor} layout ({len(listing.unrecognized)} "
                f"unrecognized, {len(listing.ignored)} ignored)"
                if found
                else "the listing is empty; check the feed's uri"
            )
            result.warnings.append(message)
        note_vendor_files(self.con, feed.name, message)

    def _gate_on_control_files(
        self,
        transport: Transport,
        feed: Feed,
        layout: Layout,
        listed: list[RemoteFile],
        load_id: str,
        result: FeedResult,
    ) -> list[RemoteFile]:
        """A data file loads only once a control file vouching for it has arrived, and only if the rows read
        equal the control file's `rows`. Until then it waits (reported, retried next run)."""
        expected: dict[str, Vouched] = {}  # "<folder>/<data file name>" -> what its control file says
        data: list[RemoteFile] = []
        with tempfile.TemporaryDirectory(prefix="feeds-control-") as tmp:
            for remote in listed:
                route = layout.route(remote.relpath)
                if route is None:
                    continue
                if route.kind != "control":
                    data.append(remote)
                    continue
                local = transport.local_path(remote)
                if local is None:
                    local = Path(tmp) / "control.json"
                    transport.fetch(remote, local)
                folder = remote.relpath.rpartition("/")[0]
                try:
                    entries = layout.parse_control(local.read_bytes())
                except ValueError as exc:
                    result.errors.append(
                        f"{remote.uri}: control file unreadable: {exc}; ask the vendor to re-send it"
                    )
                    continue
                for entry in entries:
                    expected[f"{folder}/{entry.file}"] = entry
        ready, waiting = [], []
        for remote in data:
            folder, _, name = remote.relpath.rpartition("/")
            vouched = expected.get(f"{folder}/{name}")
            if vouched is None:
                waiting.append(remote)
            else:
                ready.append(remote)
                self._expected_rows[remote.uri] = vouched.rows
                self._lineage[remote.uri] = vouched.lineage
        loaded = {
            u for u, versions in ledger_state(self.con, feed.name).items() if "loaded" in versions.values()
        }
        waiting = [w for w in waiting if w.uri not in loaded]
        self.con.execute(
            f"delete from {META_SCHEMA}.state where feed = ? and key like 'waiting:%'", [feed.name]
        )
        if waiting:
            self.con.executemany(
                f"insert into {META_SCHEMA}.state values (?, ?, ?, ?)",
                [
                    [
                        feed.name,
                        f"waiting:{w.uri}",
                        "waiting for its control file; loads when it arrives",
                        utcnow(),
                    ]
                    for w in waiting
                ],
            )
        result.files_waiting = len(waiting)
        return ready

    def _validator(
        self, files: Sequence[PendingFile], rejected: int | None = None
    ) -> Callable[[dict[str, int]], dict[str, str]]:
        """Checked inside the batch's transaction, before its commit: each file is still the version read
        (else FileChanged), its rows loaded (+ rejected, for the tolerant pass) equal its independent record
        count, and a control file's rows. A strict batch that miscounts raises RecountMismatch (its files get
        the tolerant pass); a tolerant one is quarantined with both counts."""
        by_uri = {f.remote.uri: f for f in files}

        def validate(counts: dict[str, int]) -> dict[str, str]:
            changed = [f for f in files if self._has_changed(f)]
            if changed:
                raise FileChanged(
                    "; ".join(
                        f"{f.remote.uri}: changed or disappeared while read; retried next run"
                        for f in changed
                    )
                )
            bad = self._check_control_rows(counts) if self._expected_rows else {}
            recount = {}
            for uri, rows in counts.items():
                f = by_uri.get(uri)
                if f is None or f.inspection is None or uri in bad:
                    continue
                expected = f.inspection.counts.records
                if rows + (rejected or 0) != expected:
                    recount[uri] = RecountMismatch.message(rows, rejected or 0, expected)
            if recount and rejected is None:
                raise RecountMismatch(recount)
            return {**bad, **recount}

        return validate

    def _has_changed(self, f: PendingFile) -> bool:
        """Whether a file read in place is no longer the version listed (changed, grown, gone)."""
        current = getattr(self._transport_now, "current_version", None)
        if current is None or f.local is None or f.local.name.endswith(".part"):
            return False  # a fetched copy is the version it was fetched as
        return current(f.remote) != f.remote.version

    def _check_control_rows(self, counts: dict[str, int]) -> dict[str, str]:
        bad = {}
        for uri, rows in counts.items():
            expected = self._expected_rows.get(uri)
            if expected is not None and expected != rows:
                bad[uri] = (
                    f"control file says {expected} rows, the file has {rows}; "
                    "ask the vendor to re-send the file and its control file"
                )
        return bad

    def _localize(
        self,
        transport: Transport,
        pending: list[PendingFile],
        tmp: Path,
        result: FeedResult,
        load_id: str,
        layout: Layout,
    ) -> None:
        """Give every pending file a local path (in place, or downloaded) and its sniffed format."""

        def fetch(item: tuple[int, PendingFile]) -> None:
            i, f = item
            local = transport.local_path(f.remote)
            if local is None:
                local = tmp / f"{i:06d}.part"
                transport.fetch(f.remote, local)
            f.local = local

        to_fetch = list(enumerate(pending))
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [(f, pool.submit(fetch, item)) for item, f in zip(to_fetch, pending, strict=True)]
            for f, fut in futures:
                exc = fut.exception()
                if exc is not None:
                    f.local = None
                    if isinstance(exc, TransportError):
                        result.errors.append(str(exc))
                    else:
                        raise exc
        for f in pending:
            if f.local is None or f.remote.size == 0:
                f.fmt = f.route.fmt
                continue
            try:
                sniffed = sniff(f.local)
            except (OSError, EOFError, zlib.error) as exc:  # a broken deflate stream past the magic bytes
                if isinstance(exc, FileNotFoundError) or self._has_changed(f):
                    self._changed(
                        f, result, f"{f.remote.uri}: disappeared while it was read; retried on the next run"
                    )
                    continue
                self._quarantine(f, load_id, result, f"{f.remote.uri}: cannot decompress: {exc}; re-send it")
                continue
            f.gzip = sniffed.gzip
            f.fmt = f.route.fmt or sniffed.fmt
            if f.route.fmt and sniffed.fmt and sniffed.fmt != f.route.fmt and sniffed.fmt == "parquet":
                f.fmt = "parquet"
            if f.feed.format != "auto":
                f.fmt = {"jsonl": "json"}.get(f.feed.format, f.feed.format)
            if f.fmt is None:
                self._quarantine(
                    f, load_id, result, f"{f.remote.uri}: cannot tell the file format from its content"
                )
                continue
            table = layout.table_for(f.route, f.fmt)
            if table != f.route.table:
                f.route = replace(f.route, table=table)
            f.required = layout.required_columns(table)
            limit = f.feed.max_decompressed_bytes or self.config.settings.max_decompressed_bytes
            problem = content_problem(f, limit)
            if problem is not None:
                self._quarantine(f, load_id, result, f"{f.remote.uri}: {problem}")
        csvs = [f for f in pending if f.local is not None and f.remote.size > 0 and f.fmt in ("csv", "tsv")]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            # the C counter and zlib let go of the GIL: files are inspected side by side
            found = list(pool.map(self._inspect, csvs))
        for f, outcome in zip(csvs, found, strict=True):
            if isinstance(outcome, Inspection):
                f.inspection = outcome
            elif isinstance(outcome, FileChanged):
                self._changed(f, result, str(outcome))
            else:
                self._quarantine(f, load_id, result, f"{f.remote.uri}: {outcome}")

    def _inspect(self, f: PendingFile) -> Inspection | str | FileChanged:
        """A CSV file's dialect and record count (see loaders/csvinspect.py), or why it must not be read."""
        settings = self.config.settings
        absolute = f.feed.max_decompressed_bytes or settings.max_decompressed_bytes
        limit = csvinspect.decompressed_limit(
            f.remote.size, f.gzip, absolute, settings.max_decompressed_ratio, settings.max_decompressed_floor
        )
        assert f.local is not None
        try:
            return csvinspect.inspect(
                f.local, f.gzip, f.fmt, limit, settings.max_header_bytes, settings.max_columns
            )
        except csvinspect.Refused as exc:
            return str(exc)
        except FileNotFoundError:
            return FileChanged(f"{f.remote.uri}: disappeared while it was read; retried on the next run")
        except OSError as exc:
            if environment_problem(exc):
                raise EnvironmentFailure(f"{f.remote.uri}: {environment_problem(exc)}") from None
            return f"cannot read: {exc}"

    def _changed(self, f: PendingFile, result: FeedResult, message: str) -> None:
        """A file that vanished or changed during the read: no ledger entry, so the next run takes it."""
        f.local = None
        with self._lock:
            result.files_changed += 1
            result.notes.append(message)

    def _quarantine(
        self,
        f: PendingFile,
        load_id: str,
        result: FeedResult,
        error: str,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        quarantine(con or self.con, f, load_id, error)
        f.local = None
        with self._lock:
            result.files_quarantined += 1
            result.notes.append(error)
            self.progress.advance(1, f.remote.size, 0)

    def _load_batches(
        self, batches: list[list[PendingFile]], load_id: str, result: FeedResult, layout: Layout
    ) -> None:
        """Bind every batch, add the new columns in one transaction, then insert batches in parallel.

        Each insert runs in its own transaction on its own cursor; a file-ordered scan (for row numbers)
        uses one core, so parallel batches are what keeps the loader near DuckDB's bare reading speed.
        """

        def prepare(batch: list[PendingFile]) -> list[Prepared]:
            cur = self.con.cursor()
            try:
                return self._prepare_or_split(cur, batch, load_id, result)
            finally:
                cur.close()

        # Batches running side by side share the cores: DuckDB's threads are split between them, or each
        # statement would start a thread per core and they would crowd each other (measured: 15% slower).
        shared = len(batches) > 1 and self.workers > 1
        self.con.execute(f"set threads = {max(1, self.threads // self.workers) if shared else self.threads}")
        try:
            self._run_batches(batches, load_id, result, layout, prepare)
        finally:
            self.con.execute(f"set threads = {self.threads}")
        for f, first_error in self._deferred:  # one file at a time, with every thread
            self._load_tolerant(f, first_error, load_id, result)
        self._deferred = []

    def _run_batches(
        self,
        batches: list[list[PendingFile]],
        load_id: str,
        result: FeedResult,
        layout: Layout,
        prepare: Callable[[list[PendingFile]], list[Prepared]],
    ) -> None:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            prepared = [p for group in pool.map(prepare, batches) for p in group]
        apply_schema(self.con, prepared, load_id)
        fault_point("after_schema")

        def insert(batch: Prepared) -> None:
            cur = self.con.cursor()
            try:
                self._insert_or_split(cur, batch, load_id, result, layout)
            finally:
                cur.close()
                deferred = {id(d) for d, _ in self._deferred}
                for f in batch.files:
                    if f.local is not None and f.local.name.endswith(".part") and id(f) not in deferred:
                        f.local.unlink(missing_ok=True)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                list(pool.map(insert, prepared))
            except BaseException:
                pool.shutdown(
                    wait=True, cancel_futures=True
                )  # interrupted: finish the batches begun, no more
                raise

    def _failed(
        self, cur: duckdb.DuckDBPyConnection, f: PendingFile, exc: Exception, load_id: str, result: FeedResult
    ) -> None:
        """One file the strict pass cannot read: a CSV gets the tolerant pass, anything else is quarantined."""
        problem = environment_problem(exc)
        if problem:
            raise EnvironmentFailure(problem) from None
        if self._has_changed(f):
            self._changed(f, result, f"{f.remote.uri}: changed or disappeared while read; retried next run")
            return
        message = str(exc) if isinstance(exc, FileRejected) else describe_error(f, exc)
        if f.fmt in ("csv", "tsv") and not isinstance(exc, FileRejected):
            with self._lock:
                self._deferred.append((f, message))
            return
        self._quarantine(f, load_id, result, message, cur)

    def _load_tolerant(self, f: PendingFile, first_error: str, load_id: str, result: FeedResult) -> None:
        """Good rows to raw, bad rows to loader.rejects with line and reason, in one transaction; if even
        that cannot read the file, quarantine it with the strict pass's reason."""
        cur = self.con.cursor()
        temps: list[str] = []
        try:
            try:
                prepared, temps = prepare_tolerant(
                    cur, f, load_id, self.config.settings.max_line_bytes, self._tmp
                )
                apply_schema(cur, [prepared], load_id)
                counts = load_batch(
                    cur, prepared, load_id, self._validator([f], len(prepared.rejects)), self.sink
                )
            except FileChanged as exc:
                self._changed(f, result, str(exc))
                return
            except (duckdb.Error, FileRejected, OSError) as exc:
                problem = environment_problem(exc)
                if problem:
                    raise EnvironmentFailure(problem) from None
                if self._has_changed(f):
                    self._changed(
                        f, result, f"{f.remote.uri}: changed or disappeared while read; retried next run"
                    )
                    return
                second = str(exc).split("\n")[0]
                if f.local is not None:
                    second = second.replace(f"file://{f.local}", f.remote.uri).replace(
                        str(f.local), f.remote.uri
                    )
                self._quarantine(f, load_id, result, f"{first_error} (tolerant pass: {second})", cur)
                return
            except BatchValidationError as exc:
                self._quarantine(f, load_id, result, f"{f.remote.uri}: {exc.bad[f.remote.uri]}", cur)
                return
            rows = counts[f.remote.uri]
            with self._lock:
                result.files_loaded += 1
                result.rows += rows
                result.bytes += f.remote.size
                result.rows_rejected += len(prepared.rejects)
                if prepared.rejects:
                    lines = ", ".join(str(line) for line, _, _ in prepared.rejects[:5])
                    more = "" if len(prepared.rejects) <= 5 else ", ..."
                    result.rejects.append(
                        f"{f.remote.uri}: {len(prepared.rejects)} rows rejected (lines {lines}{more}: "
                        f"{prepared.rejects[0][1]}), {rows} loaded; see loader.rejects, fix and re-send"
                    )
                self.progress.advance(1, f.remote.size, rows)
        finally:
            for name in temps:
                Path(name).unlink(missing_ok=True)
            cur.close()
            if f.local is not None and f.local.name.endswith(".part"):
                f.local.unlink(missing_ok=True)

    def _prepare_or_split(
        self, cur: duckdb.DuckDBPyConnection, batch: list[PendingFile], load_id: str, result: FeedResult
    ) -> list[Prepared]:
        try:
            return [prepare_batch(cur, batch, load_id)]
        except (duckdb.Error, FileRejected) as exc:
            if len(batch) == 1:
                self._failed(cur, batch[0], exc, load_id, result)
                return []
            return [p for f in batch for p in self._prepare_or_split(cur, [f], load_id, result)]

    def _insert_or_split(
        self,
        cur: duckdb.DuckDBPyConnection,
        batch: Prepared,
        load_id: str,
        result: FeedResult,
        layout: Layout,
    ) -> None:
        validate = self._validator(batch.files)
        try:
            counts = load_batch(cur, batch, load_id, validate, self.sink)
        except FileChanged:
            good = []
            for f in batch.files:
                if self._has_changed(f):
                    self._changed(
                        f, result, f"{f.remote.uri}: changed or disappeared while read; retried next run"
                    )
                else:
                    good.append(f)
            if good:
                for again in self._prepare_or_split(cur, good, load_id, result):
                    self._insert_or_split(cur, again, load_id, result, layout)
            return
        except RecountMismatch as exc:
            good = [f for f in batch.files if f.remote.uri not in exc.bad]
            with self._lock:
                for f in batch.files:
                    if f.remote.uri in exc.bad:
                        self._deferred.append((f, f"{f.remote.uri}: {exc.bad[f.remote.uri]}"))
            if good:
                for again in self._prepare_or_split(cur, good, load_id, result):
                    self._insert_or_split(cur, again, load_id, result, layout)
            return
        except duckdb.Error as exc:
            if environment_problem(exc):
                raise EnvironmentFailure(environment_problem(exc)) from None
            if len(batch.files) == 1:
                self._failed(cur, batch.files[0], exc, load_id, result)
                return
            for f in batch.files:  # isolate the bad file(s); the good ones still load
                for single in self._prepare_or_split(cur, [f], load_id, result):
                    self._insert_or_split(cur, single, load_id, result, layout)
            return
        except BatchValidationError as exc:
            good = [f for f in batch.files if f.remote.uri not in exc.bad]
            for f in batch.files:
                if f.remote.uri in exc.bad:
                    self._quarantine(f, load_id, result, f"{f.remote.uri}: {exc.bad[f.remote.uri]}", cur)
            if good:
                for again in self._prepare_or_split(cur, good, load_id, result):
                    self._insert_or_split(cur, again, load_id, result, layout)
            return
        rows = sum(counts.values())
        nbytes = sum(f.remote.size for f in batch.files)
        with self._lock:
            result.files_loaded += len(batch.files)
            result.rows += rows
            result.bytes += nbytes
            self.progress.advance(len(batch.files), nbytes, rows)
