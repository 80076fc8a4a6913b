"""The DuckDB file: connection, the loader's own schema (ledger, rejects, schema log) and identifier quoting."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb

META_SCHEMA = "loader"
RAW_SCHEMA = "raw"

LINEAGE_COLUMNS = {
    "_source_uri": "VARCHAR",
    "_source_row": "BIGINT",
    "_file_version": "VARCHAR",
    "_load_id": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
}

DDL = f"""
create schema if not exists {RAW_SCHEMA};
create schema if not exists {META_SCHEMA};
create table if not exists {META_SCHEMA}.loads (
    load_id varchar, started_at timestamp, finished_at timestamp, feeds varchar, status varchar,
    files_loaded bigint, files_quarantined bigint, rows_loaded bigint
);
create table if not exists {META_SCHEMA}.files (
    feed varchar, uri varchar, version varchar, size bigint, mtime double, raw_table varchar,
    status varchar, rows bigint, load_id varchar, loaded_at timestamp, error varchar
);
create table if not exists {META_SCHEMA}.rejects (
    feed varchar, uri varchar, version varchar, line bigint, reason varchar, content varchar,
    load_id varchar, rejected_at timestamp
);
create table if not exists {META_SCHEMA}.schema_changes (
    raw_table varchar, column_name varchar, column_type varchar, first_uri varchar, load_id varchar,
    seen_at timestamp
);
create table if not exists {META_SCHEMA}.state (
    feed varchar, key varchar, value varchar, updated_at timestamp
);
"""


# The DuckDB storage format every file we create is written in: the 1.x line that BI tools' drivers and the
# DuckDB CLI ship reads it (measured in docs/decisions.md). `latest` trades that for DuckDB 2.0's format.
STORAGE_VERSION_ENV = "ENGAGEMENT_STORAGE_VERSION"
DEFAULT_STORAGE_VERSION = "v1.1.0"
RESERVED_STEMS = (META_SCHEMA, RAW_SCHEMA, "main", "system", "temp")


class WarehouseLocked(Exception):
    """Another process holds the DuckDB file (exit code 75, EX_TEMPFAIL: try again later)."""


class WarehouseMissing(Exception):
    """A read-only command was given a database file that does not exist; nothing is created."""


def storage_version() -> str:
    return os.environ.get(STORAGE_VERSION_ENV) or DEFAULT_STORAGE_VERSION


def check_path(path: Path) -> str | None:
    """Why this warehouse path cannot be used, or None; checked before anything runs."""
    if path.stem.lower() in RESERVED_STEMS:
        # DuckDB names the catalog after the file: `raw.duckdb` would make `raw.x` ambiguous.
        return f"pick another file name; '{path.stem}' is the name of a schema or catalog inside it"
    if path.exists() and path.is_dir():
        return "is a directory; give a file path such as warehouse/engagement.duckdb"
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        return f"{parent} is a file, not a directory"
    if parent is not None and not path.exists() and not os.access(parent, os.W_OK):
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            return None  # a read-only file system is the environment's, not the configuration's (exit 74)
        return f"{parent} is not writable"
    return None


def _locked(path: Path, exc: Exception) -> WarehouseLocked:
    holder = re.search(r"\(PID (\d+)\)", str(exc))
    by = f" (process {holder.group(1)})" if holder else ""
    return WarehouseLocked(
        f"{path}: another process{by} is using the warehouse (a load or a dbt run); DuckDB allows one"
        " writer at a time: nothing was loaded, run again when it ends or pass --wait SECONDS"
    )


def _open(path: Path, wait: float, **kwargs: object) -> duckdb.DuckDBPyConnection:
    """duckdb.connect, retried while another process holds the file, for up to `wait` seconds."""
    deadline = time.monotonic() + max(0.0, wait)
    pause = 0.1
    while True:
        try:
            return duckdb.connect(str(path), **kwargs)  # type: ignore[arg-type]
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise _locked(path, exc) from None
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 2.0)


def quote_ident(name: str) -> str:
    """An escaped, quoted identifier: the only way an untrusted name (a vendor header) reaches SQL."""
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """A quoted string literal, for the few settings that take no bound parameter."""
    if "\x00" in value:
        raise ValueError("literal contains NUL")
    return "'" + value.replace("'", "''") + "'"


def raw_table(table: str) -> str:
    return f"{RAW_SCHEMA}.{quote_ident(table)}"


def connect(
    path: Path, memory_limit: str = "1GB", threads: int | None = None, wait: float = 0
) -> duckdb.DuckDBPyConnection:
    problem = check_path(path)
    if problem:
        raise ValueError(f"{path}: {problem}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new file is written in the storage format DuckDB 1.x reads; an existing one keeps its own
    con = _open(path, wait, config={"storage_compatibility_version": storage_version()})
    con.execute(f"set memory_limit = '{memory_limit}'")
    con.execute("set preserve_insertion_order = true")
    # Parallel batches leave a part-filled row group at each batch's end; the checkpoint at close would merge
    # them by rewriting (recompressing) whole row groups, about a second per few hundred thousand rows. They
    # are left as they are; a run that deleted rows (a replaced file version) turns merging back on
    # (see load_batch), so deleted rows are still reclaimed.
    con.execute("set max_vacuum_tasks = 0")
    if threads:
        con.execute(f"set threads = {int(threads)}")
    tmp = Path(os.environ.get("FEEDS_TMPDIR", path.parent / ".duckdb_tmp"))
    con.execute(f"set temp_directory = {sql_literal(str(tmp))}")
    con.execute(DDL)
    return con


def connect_read_only(path: Path, wait: float = 0) -> duckdb.DuckDBPyConnection:
    """For commands that only look: never creates the file, never takes the writer's lock."""
    if not path.is_file():
        raise WarehouseMissing(f"{path}: no such warehouse file (set ENGAGEMENT_DUCKDB or settings.duckdb)")
    return _open(path, wait, read_only=True)


def table_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Existing columns of a table, keyed by lower-cased name -> actual name."""
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ?"
        " order by ordinal_position",
        [schema, table],
    ).fetchall()
    return {r[0].lower(): r[0] for r in rows}
