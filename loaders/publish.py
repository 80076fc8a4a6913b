"""`feeds publish`: copy the marts to a serving database (and Parquet) that readers open, swapped in whole.

The warehouse is the pipeline's: loads and dbt hold DuckDB's writer lock on it, and a reader holding it open
would stop them. Readers (BI tools, analysts) open the serving file instead. Each publish writes a new file
in full beside it and renames it over the old one: a reader that has the old file open keeps reading that
version until it reconnects, and nothing the pipeline does ever waits for a reader. The Parquet copy is a
folder per version behind a symbolic link that is swapped the same way.

A file is only ever replaced if a publish wrote it (its inode is recorded in `<file>.published`): a file of
the user's at that path is refused, untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow

from . import publish_buckets as buckets
from .warehouse import WarehouseMissing, _locked, quote_ident, sql_literal, storage_version

SCHEMAS_ENV = "ENGAGEMENT_SERVING_SCHEMAS"
DEFAULT_SCHEMAS = ("marts", "health")  # those present in the warehouse are published
INFO_SCHEMA = "publication"
# zstd at level 1: measured on 1 M events, a quarter less CPU than the default level (3) for 11 % larger files
PARQUET_OPTIONS = "format parquet, compression zstd, compression_level 1"
KEEP_VERSIONS = 2  # Parquet versions kept: the current one and the one before, for readers mid-scan


class PublishRefused(Exception):
    """The target exists and was not written by a publish, or is being written by someone else."""


@dataclass
class Published:
    publish_id: str
    path: Path
    parquet: Path
    tables: list[tuple[str, str, int]] = field(default_factory=list)
    seconds: float = 0.0
    updated: bool = False  # a copy of the last published file brought up to date, not a new file
    rows_copied: int = 0  # rows written into the serving file (all of them in a new file)
    not_updated: str | None = None  # why the last version was copied but a new file written instead


def serving_path(warehouse: Path) -> Path:
    env = os.environ.get("ENGAGEMENT_MARTS_DUCKDB")
    return Path(env) if env else warehouse.with_name(f"{warehouse.stem}_marts.duckdb")


def parquet_path(serving: Path) -> Path:
    return serving.with_name(serving.stem + "_parquet")


def _versions_dir(serving: Path) -> Path:
    return serving.with_name(f".{serving.stem}_parquet.versions")


def _marker(serving: Path) -> Path:
    return serving.with_name(serving.name + ".published")


def configured_schemas() -> list[str]:
    env = os.environ.get(SCHEMAS_ENV)
    return [s.strip() for s in env.split(",") if s.strip()] if env else list(DEFAULT_SCHEMAS)


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_dev, st.st_ino]


def check_ours(serving: Path) -> None:
    """Refuse to replace a file (or Parquet link) that no publish wrote."""
    if serving.exists() or serving.is_symlink():
        try:
            known = json.loads(_marker(serving).read_text(encoding="utf-8"))["files"]
        except (FileNotFoundError, ValueError, KeyError):
            known = []
        if not serving.is_file() or _identity(serving) not in known:
            raise PublishRefused(
                f"{serving}: exists and was not written by `feeds publish`; it is left as it is."
                " Move it away or publish elsewhere (--to PATH or ENGAGEMENT_MARTS_DUCKDB)"
            )
        wal = serving.with_name(serving.name + ".wal")
        if wal.exists():
            raise PublishRefused(
                f"{serving}: a process has written into the serving file ({wal.name} beside it); close it"
                " (readers open the serving file read-only: duckdb -readonly) and publish again"
            )
    link = parquet_path(serving)
    if (link.exists() or link.is_symlink()) and not (
        link.is_symlink() and Path(os.readlink(link)).parent.name == _versions_dir(serving).name
    ):
        raise PublishRefused(f"{link}: exists and was not written by `feeds publish`; it is left as it is")


def attach_read_only(con: duckdb.DuckDBPyConnection, path: Path, alias: str, wait: float) -> None:
    """ATTACH a file read-only, waiting up to `wait` seconds while a writer holds it."""
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            con.execute(f"attach {sql_literal(str(path))} as {alias} (read_only)")
            return
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise _locked(path, exc) from None
        time.sleep(0.5)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    warehouse: Path, target: Path | None = None, schemas: list[str] | None = None, wait: float = 0
) -> Published:
    """`feeds publish`: the warehouse attached read-only in a connection of our own, then `publish_from`."""
    target = target or serving_path(warehouse)
    check_ours(target)
    if not warehouse.is_file():
        raise WarehouseMissing(f"{warehouse}: no such warehouse file; run feeds load and dbt build first")
    # a mart is a set: rows are written in any order, from both cores (dbt's connection has the same setting)
    con = duckdb.connect(config={"preserve_insertion_order": False})
    try:
        # attached under its own name: dbt's views name their catalog, and `wh.x` would not resolve them
        catalog = quote_ident(warehouse.stem)
        attach_read_only(con, warehouse, catalog, wait)
        con.execute(f"use {catalog}")
        return publish_from(con, warehouse, target, schemas)
    finally:
        con.close()


def publish_from(
    con: duckdb.DuckDBPyConnection, warehouse: Path, target: Path, schemas: list[str] | None = None
) -> Published:
    """Publish the serving schemas of `con`'s current catalog (the warehouse) to `target`: a new file written
    in full beside it, then renamed over it. `con` is ours (`feeds publish`) or a cursor on dbt's own
    connection (the `publish_marts` model); either way it commits nothing to the warehouse."""
    started = time.perf_counter()
    check_ours(target)
    wanted = schemas or configured_schemas()
    publish_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    result = Published(publish_id, target, parquet_path(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    # the new file keeps the serving file's name (DuckDB names the catalog after it), in a folder of its own
    stage = target.with_name(f".{target.stem}.publish-{publish_id}")
    stage.mkdir()
    staged_db = stage / target.name
    versions = _versions_dir(target)
    staged_parquet = versions / publish_id
    # attached databases are shared by every connection of a DuckDB instance (dbt's): a name of this publish
    alias = f"serving_{publish_id.replace('-', '_')}"
    try:
        # the last published file, copied, is brought up to date (loaders/publish_buckets.py)
        result.updated = _reusable(target)
        if result.updated:
            _copy(target, staged_db)
            try:
                _write(con, wanted, staged_db, staged_parquet, alias, publish_id, result)
            except duckdb.Error as exc:
                # the copy cannot be brought up to date (damaged, or from a DuckDB that cannot write it): a new
                # file, and the reason said; an error in the warehouse itself comes back from the new file's write
                result.not_updated = f"the last version could not be brought up to date ({exc})"
                result.updated, result.rows_copied, result.tables = False, 0, []
                staged_db.unlink()
                staged_db.with_name(staged_db.name + ".wal").unlink(missing_ok=True)
                shutil.rmtree(staged_parquet, ignore_errors=True)
        if not result.updated:
            _write(con, wanted, staged_db, staged_parquet, alias, publish_id, result)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)  # our own half-written copy, never the published one
        shutil.rmtree(staged_parquet, ignore_errors=True)
        raise
    _fsync(staged_db)
    _swap(target, stage, staged_db, versions, publish_id)
    result.seconds = time.perf_counter() - started
    return result


def _copy(source: Path, target: Path) -> None:
    """A copy of the published file by the kernel (`copy_file_range`: a filesystem that shares extents, such as
    XFS or btrfs, makes it a reflink, instant and without a second copy on disk), else by read and write."""
    with source.open("rb") as src, target.open("wb") as dst:
        size = os.fstat(src.fileno()).st_size
        try:
            done = 0
            while done < size:
                step = os.copy_file_range(src.fileno(), dst.fileno(), size - done)
                if step == 0:
                    break
                done += step
        except OSError:
            src.seek(0)
            dst.seek(0)
            dst.truncate()
            shutil.copyfileobj(src, dst, 16 << 20)


def _reusable(target: Path) -> bool:
    """Whether the published file can be copied and brought up to date: a publish wrote it (check_ours, which
    also refuses a WAL beside it) in the storage version configured now."""
    if not target.is_file():
        return False
    try:
        recorded = json.loads(_marker(target).read_text(encoding="utf-8")).get("storage_version")
    except (FileNotFoundError, ValueError, AttributeError):
        return False
    return recorded == storage_version()


def _write(
    con: duckdb.DuckDBPyConnection,
    wanted: list[str],
    staged_db: Path,
    staged_parquet: Path,
    alias: str,
    publish_id: str,
    result: Published,
) -> None:
    """Write the serving schemas into `staged_db`: a new file, or (result.updated) a copy of the published one,
    whose tables are brought up to date and whose tables no longer published are dropped."""
    catalog = con.execute("select current_database()").fetchall()[0][0]
    found = con.execute(
        "select table_schema, table_name from information_schema.tables"
        " where table_catalog = ? and list_contains(?, table_schema)"
        " order by 1, 2",
        [catalog, wanted],
    ).fetchall()
    if not found:
        raise PublishRefused(
            f"{catalog}: no tables in schema(s) {', '.join(wanted)}; run dbt build first"
            f" (or name the schemas with --schema or {SCHEMAS_ENV})"
        )
    serving = quote_ident(alias)
    info = f"{serving}.{INFO_SCHEMA}"
    version = "" if result.updated else f" (storage_version {sql_literal(storage_version())})"
    con.execute(f"attach {sql_literal(str(staged_db))} as {serving}{version}")
    try:
        if result.updated:
            _drop_unpublished(con, alias, found)
        for schema in sorted({s for s, _ in found}):
            con.execute(f"create schema if not exists {serving}.{quote_ident(schema)}")
        con.execute(f"create schema if not exists {info}")
        buckets.create_buckets_table(con, info)
        now = datetime.now(UTC).replace(tzinfo=None)
        in_buckets = []
        for schema, table in found:
            name = f"{quote_ident(schema)}.{quote_ident(table)}"
            served = f"{serving}.{name}"
            cols = buckets.columns(con, catalog, schema, table)
            bucketed = buckets.bucketed(cols)
            if bucketed:
                in_buckets.append((schema, table))
            copied: int | None = None  # None: the table written whole
            if result.updated and bucketed and buckets.columns(con, alias, schema, table) == cols:
                copied = buckets.update(con, info, name, served, cols, schema, table)
            else:
                con.execute(f"create or replace table {served} as select * from {name}")
                if bucketed:
                    buckets.record(con, info, served, cols, schema, table)
            rows = con.execute(f"select count(*) from {served}").fetchall()[0][0]
            result.rows_copied += rows if copied is None else copied
            result.tables.append((schema, table, rows))
            out = staged_parquet / schema / f"{table}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"copy {served} to {sql_literal(str(out))} ({PARQUET_OPTIONS})")
        buckets.forget_others(con, info, in_buckets)
        con.execute(
            f"create or replace table {info}.tables (publish_id varchar, published_at timestamp,"
            " table_schema varchar, table_name varchar, row_count bigint)"
        )
        con.executemany(
            f"insert into {info}.tables values (?, ?, ?, ?, ?)",
            [[publish_id, now, s, t, n] for s, t, n in result.tables],
        )
    finally:
        con.execute(f"detach {serving}")  # checkpoints: the file is whole, no WAL beside it


def _drop_unpublished(con: duckdb.DuckDBPyConnection, alias: str, found: list[tuple[str, str]]) -> None:
    """In a copy of the published file: drop the tables and schemas this publish does not write (a table the
    warehouse no longer has, a schema no longer published), so the copy holds what a new file would."""
    keep = set(found)
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = ? and schema_name <> ?",
        [alias, INFO_SCHEMA],
    ).fetchall():
        if (schema, table) not in keep:
            con.execute(f"drop table {quote_ident(alias)}.{quote_ident(schema)}.{quote_ident(table)}")
    schemas = {s for s, _ in found} | {INFO_SCHEMA, "main"}
    for (schema,) in con.execute(
        "select schema_name from duckdb_schemas() where database_name = ? and not internal", [alias]
    ).fetchall():
        if schema not in schemas:
            con.execute(f"drop schema {quote_ident(alias)}.{quote_ident(schema)}")


def _swap(target: Path, stage: Path, staged_db: Path, versions: Path, publish_id: str) -> None:
    # record the new file's identity before the rename, so a crash between the two leaves it recognised
    marker = _marker(target)
    previous = _identity(target) if target.is_file() else None
    files = [i for i in (previous, _identity(staged_db)) if i]
    tmp_marker = stage / marker.name
    # no storage version yet: a crash before the second marker leaves the next publish writing a new file
    tmp_marker.write_text(json.dumps({"files": files, "publish_id": publish_id}), encoding="utf-8")
    os.replace(tmp_marker, marker)
    os.replace(staged_db, target)
    _fsync(target.parent)
    stage.rmdir()
    tmp_marker = target.with_name(f".{marker.name}.{publish_id}")
    tmp_marker.write_text(
        json.dumps(
            {"files": [_identity(target)], "publish_id": publish_id, "storage_version": storage_version()}
        ),
        encoding="utf-8",
    )
    os.replace(tmp_marker, marker)

    link = parquet_path(target)
    tmp_link = link.with_name(f".{link.name}.{publish_id}")
    tmp_link.symlink_to(Path(versions.name) / publish_id, target_is_directory=True)
    os.replace(tmp_link, link)
    _prune(versions, keep={publish_id})


def _prune(versions: Path, keep: set[str]) -> None:
    """Drop Parquet versions older than the newest KEEP_VERSIONS; only folders this module named."""
    ours = sorted(
        (p for p in versions.iterdir() if p.is_dir() and len(p.name) == 22 and p.name[8] == "T"),
        key=lambda p: p.name,
    )
    for old in ours[:-KEEP_VERSIONS]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def publish_in_dbt(session: duckdb.DuckDBPyConnection) -> pyarrow.Table:
    """The `publish_marts` dbt model: the same publish, on a cursor of dbt's own connection (the warehouse is
    dbt's open file: no second process, no waiting), returning one row that records what it published."""
    con = session.cursor()  # a connection of its own on dbt's database: its own transaction, autocommit
    try:
        path = con.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchall()[0][0]
        if not path:
            raise PublishRefused(
                "the dbt target is an in-memory database: nothing to publish; set --vars"
                " '{publish_marts: false}' or build a warehouse file"
            )
        warehouse = Path(path)
        done = publish_from(con, warehouse, serving_path(warehouse))
    finally:
        con.close()
    row = (
        done.publish_id,
        datetime.now(UTC).replace(tzinfo=None),
        str(done.path),
        str(done.parquet),
        [f"{s}.{t}" for s, t, _ in done.tables],
        sum(n for _, _, n in done.tables),
        round(done.seconds, 3),
    )
    return session.sql(
        "select ?::varchar as publish_id, ?::timestamp as published_at, ?::varchar as duckdb_path,"
        " ?::varchar as parquet_path, ?::varchar[] as tables, ?::bigint as row_count, ?::double as seconds",
        params=list(row),
    ).to_arrow_table()
