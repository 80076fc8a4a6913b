"""How a batch is read: one DuckDB reader per file, its header, and the statement that unites them.

A batch is many files of one raw table and one format, read by a single statement (a UNION ALL BY NAME of
one reader per file, so each row knows its file and its row number; Parquet by one multi-file scan). Every
path and option value is a bound parameter. The header of a CSV file and the keys of a JSON batch are read
here, before DuckDB binds the statement, so its sniffer never runs.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Sequence
from datetime import datetime

import duckdb

from .. import jsonkeys
from ..warehouse import quote_ident
from .errors import FileRejected
from .model import PendingFile

PARTITION_PREFIX = "_part_"


def open_local(f: PendingFile) -> io.BufferedIOBase:
    """The fetched file, decompressed as it is read when it is gzip."""
    assert f.local is not None
    return gzip.open(f.local, "rb") if f.gzip else open(f.local, "rb")


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


def file_columns(f: PendingFile) -> dict[str, str | None]:
    """The columns every row of a file gets from outside its content: path partitions (`_part_<key>`) and
    the lineage its control file vouched (Simon's `_control_flow_id`, `_control_flow_name`)."""
    return {**{PARTITION_PREFIX + k: v for k, v in f.route.partitions.items()}, **f.lineage}


# ---------------------------------------------------------------- JSON keys


def json_keys(con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile]) -> dict[str, str]:
    """Every top-level key in the batch (all lines, not a sample): a key first seen on the last line lands too.

    Every key is read as VARCHAR: a scalar as its text, an object or array as its JSON text.
    """
    try:
        # Newline-delimited JSON, the common case: the C scanner follows each line's structure without
        # parsing its values (see loaders/jsonkeys.py).
        keys = scanned_keys(files)
    except (ValueError, RuntimeError, OSError, EOFError, zlib.error):
        keys = duckdb_json_keys(con, files)
    return key_columns(keys, first_record_keys(files[0]))


def key_columns(keys: Sequence[str], first: Sequence[str]) -> dict[str, str]:
    """Columns in the order of the first record's keys (new tables read like the vendor's records), then by
    name; of two names that differ only in case, the first (DuckDB matches names case-insensitively)."""
    order = {k: i for i, k in enumerate(first)}
    columns: dict[str, str] = {}
    lowered: set[str] = set()
    for key in sorted(keys, key=lambda k: (order.get(k, len(order)), k)):
        if key.lower() in lowered:
            continue
        lowered.add(key.lower())
        columns[key] = "VARCHAR"
    return columns


def scanned_keys(files: Sequence[PendingFile]) -> list[str]:
    """The keys of newline-delimited JSON files by the C scanner; raises when it is not built or a file is
    not one object per line."""
    keys: dict[str, None] = {}
    for f in files:  # one file at a time: each file's own keys are checked against its required columns
        with open_local(f) as stream:
            f.header = jsonkeys.scan_keys([stream])
        keys.update(dict.fromkeys(f.header))
    return list(keys)


def duckdb_json_keys(con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile]) -> list[str]:
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


def first_record_keys(f: PendingFile) -> list[str]:
    """The keys of a file's first line, in order, if it is one JSON object; else none (only an order hint)."""
    try:
        with open_local(f) as fh:
            record = json.loads(fh.readline(1 << 20))
    except (OSError, EOFError, ValueError, zlib.error):
        return []
    return list(record) if isinstance(record, dict) else []


# ---------------------------------------------------------------- the batch statement


def reader_sql(f: PendingFile, i: int, params: dict[str, object], json_columns: dict[str, str] | None) -> str:
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


def batch_query(
    con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile], load_id: str, loaded_at: datetime
) -> tuple[str, dict[str, object], list[str]]:
    """The batch's statement, its bound parameters and the per-file columns (partitions, lineage) it adds."""
    params: dict[str, object] = {"load_id": load_id, "loaded_at": loaded_at}
    json_columns = json_keys(con, files) if files[0].fmt == "json" else None
    part_keys = sorted({k for f in files for k in file_columns(f)})
    if files[0].fmt == "parquet":
        return parquet_query(files, params, part_keys), params, part_keys
    selects = []
    for i, f in enumerate(files):
        params[f"u{i}"] = f.remote.uri
        params[f"v{i}"] = f.remote.version
        parts: list[str] = []
        values = file_columns(f)
        for key in part_keys:
            params[f"k{i}_{len(parts)}"] = values.get(key)
            parts.append(f"$k{i}_{len(parts)}::varchar as {quote_ident(key)}")
        part_sql = "".join(", " + p for p in parts)
        row = "file_row_number + 1" if f.fmt == "parquet" else "ordinality"
        source = reader_sql(f, i, params, json_columns)
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


def parquet_query(files: Sequence[PendingFile], params: dict[str, object], part_keys: list[str]) -> str:
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
