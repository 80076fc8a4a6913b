"""Checks on a file's content before and while it is read: bytes that must not be read at all (binary,
a decompression bomb), columns its raw table cannot lack, column names that would corrupt the insert, and
rows loaded that differ from the file's independent record count."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import duckdb

from .errors import FileRejected, RecountMismatch
from .model import PendingFile
from .readers import csv_header, duckdb_json_keys, open_local

# deflate cannot expand more than about 1032:1, so a smaller gzip file cannot break the limit
DEFLATE_MAX_RATIO = 1032


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
    if f.remote.size * DEFLATE_MAX_RATIO <= limit:
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


def check_required(con: duckdb.DuckDBPyConnection, f: PendingFile) -> None:
    """Refuse a file without a column its raw table cannot lack, naming the columns it has."""
    if not f.required:
        return
    header = f.header
    if header is None:
        if f.fmt == "json":
            header = duckdb_json_keys(con, [f])
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
    missing = missing_columns(header, f.required)
    if missing:
        shown = ", ".join(repr(h) for h in header[:20]) + (", ..." if len(header) > 20 else "")
        raise FileRejected(
            f"{f.remote.uri}: lacks the column(s) {', '.join(missing)} that every {f.route.table} file has; "
            f"columns found: {shown or 'none'} -- not loaded: check the feed's vendor and format (a TSV file read "
            "as CSV shows one long column), or ask the vendor to re-send the file whole"
        )


def missing_columns(header: Sequence[str], required: Sequence[str]) -> list[str]:
    """The required columns a header lacks, matched without case (as DuckDB matches names)."""
    have = {h.lower() for h in header}
    return [c for c in required if c.lower() not in have]


def check_names(files: Sequence[PendingFile], described: Sequence[tuple[Any, ...]]) -> None:
    """Refuse column names that would corrupt the insert: NUL bytes, or a vendor header that collides with
    a lineage or partition column (`_source_uri`, `_part_dt`, ...) or with the row numbering (`ordinality`).

    `described` is DESCRIBE's rows of the batch statement: (name, type, ...)."""
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


def recounts(
    by_uri: dict[str, PendingFile], counts: dict[str, int], bad: dict[str, str], rejected: int | None
) -> dict[str, str]:
    """uri -> why, for each CSV file whose rows loaded (+ `rejected`) differ from its inspection's record count.

    A strict batch (`rejected` None) that miscounts raises RecountMismatch instead: its files get the
    tolerant pass. Files already in `bad` are not counted again."""
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
    return recount
