"""Writing fixture files: CSV/TSV through DuckDB's COPY, NDJSON from SQL-built lines, Parquet through COPY,
byte quirks (CRLF, BOM), deterministic gzip, and the manifest of every file written."""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Written:
    """One file of the export. `rows` counts data rows (no header); `arrives_at` is when the vendor would
    have delivered it (UTC), which orders uploads and lets a test replay the export day by day."""

    relpath: str
    vendor: str
    raw_table: str | None
    rows: int
    arrives_at: datetime
    kind: str = "data"  # data | control | lookup
    note: str = ""  # which quirks shaped this file


GZIP_LEVEL = 1  # fast: the bench writes gigabytes; readers do not care about the ratio


def gzip_bytes(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """gzip with mtime 0 and no file name in the header, so equal input gives equal bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def lines_bytes(table: pa.Table) -> bytes:
    """The concatenated values of a one-column string table, zero-copy per Arrow chunk (each value already
    ends with its newline)."""
    column = table.column(0)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.large_string())
    parts: list[bytes] = []
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        offsets = chunk.buffers()[1]
        data = chunk.buffers()[2]
        fmt = "q" if pa.types.is_large_string(chunk.type) else "i"
        view = memoryview(offsets).cast(fmt)
        begin, end = view[chunk.offset], view[chunk.offset + len(chunk)]
        parts.append(data.slice(begin, end - begin).to_pybytes() if data is not None else b"")
    return b"".join(parts)


class Output:
    """A local folder being filled with one export; every file is recorded with its vendor and arrival."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[Written] = []

    def run_jobs(
        self,
        con: duckdb.DuckDBPyConnection,
        jobs: list[Callable[[duckdb.DuckDBPyConnection], None]],
        workers: int = 2,
    ) -> None:
        """Run file-writing jobs on a few threads, each with its own cursor on the world's database (DuckDB and
        zlib release the GIL, so files are queried, compressed and written in parallel). Every job writes its
        own file, so the bytes do not depend on the schedule."""
        local = threading.local()
        cursors: list[duckdb.DuckDBPyConnection] = []
        lock = threading.Lock()

        def call(job: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
            cur = getattr(local, "cursor", None)
            if cur is None:
                cur = local.cursor = con.cursor()
                with lock:
                    cursors.append(cur)
            job(cur)

        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(call, job) for job in jobs]:
                    future.result()
        finally:
            for cur in cursors:
                cur.close()

    def path(self, relpath: str) -> Path:
        target = self.root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def record(self, written: Written) -> None:
        self.files.append(written)  # list.append is atomic: jobs on threads may record

    def write_bytes(self, relpath: str, data: bytes, written: Written) -> None:
        self.path(relpath).write_bytes(data)
        self.record(written)

    def copy_csv(
        self,
        con: duckdb.DuckDBPyConnection,
        select_sql: str,
        params: list[Any] | None,
        relpath: str,
        *,
        delimiter: str = ",",
        crlf: bool = False,
        bom: bool = False,
        gzip_level: int | None = None,
    ) -> int:
        """COPY a query to a CSV (or TSV) file with a header; returns the number of data rows."""
        target = self.path(relpath)
        tmp = target.with_name(f".{target.name}.tmp")
        sep = "\\t" if delimiter == "\t" else delimiter
        rows = con.execute(
            f"copy ({select_sql}) to '{_sql_path(tmp)}' (format csv, header true, delimiter E'{sep}',"
            " quote '\"', escape '\"', compression 'none')",
            params or [],
        ).fetchall()[0][0]
        if crlf or bom or gzip_level is not None:
            data = tmp.read_bytes()
            if crlf:
                data = data.replace(b"\n", b"\r\n")
            if bom:
                data = BOM + data
            if gzip_level is not None:
                data = gzip_bytes(data, gzip_level)
            tmp.write_bytes(data)
        os.replace(tmp, target)
        return int(rows)

    def copy_parquet(self, con: duckdb.DuckDBPyConnection, select_sql: str, params: Any, relpath: str) -> int:
        target = self.path(relpath)
        tmp = target.with_name(f".{target.name}.tmp")
        rows = con.execute(
            f"copy ({select_sql}) to '{_sql_path(tmp)}' (format parquet, compression snappy)", params or []
        ).fetchall()[0][0]
        os.replace(tmp, target)
        return int(rows)

    def text_lines(self, con: duckdb.DuckDBPyConnection, select_sql: str, params: Any) -> bytes:
        """The bytes of the first column of a query whose values are complete lines."""
        return lines_bytes(con.sql(select_sql, params=params).to_arrow_table())


def _sql_path(path: Path) -> str:
    """COPY takes no bound parameter for its target; our own generated paths are escaped as a literal."""
    text = str(path)
    if "\x00" in text:
        raise ValueError("path contains NUL")
    return text.replace("'", "''")
