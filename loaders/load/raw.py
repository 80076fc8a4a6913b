"""The seam where raw rows are written: `RawTarget`, and `DuckDBTarget`, the warehouse's implementation.

The load core decides what to load and how to read it; a target owns the writes that make a batch land:
a transaction, the raw table and its new columns (logged as schema drift), the rows of a prepared batch
(replacing the rows of earlier versions of its files), and the ledger rows that commit with them (the
files loaded, their rejected rows, a quarantined file). Another warehouse is another class with these
methods; nothing else in the load core writes raw tables.

Every method takes the connection (a cursor per worker thread) the batch runs on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Protocol

import duckdb

from ..lake.sink import RawSink
from ..warehouse import LINEAGE_COLUMNS, META_SCHEMA, RAW_SCHEMA, quote_ident, raw_table, table_columns
from . import clock
from .faults import fault_point
from .model import PendingFile, Prepared


class RawTarget(Protocol):
    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Once per run, before any batch (e.g. the ledger tables the target needs)."""
        ...

    def transaction(self, con: duckdb.DuckDBPyConnection) -> contextlib.AbstractContextManager[None]:
        """One transaction: committed when the block ends, rolled back (nothing visible) when it raises."""
        ...

    def ensure_table(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        columns: Sequence[tuple[str, str]],
        first_uri: str,
        load_id: str,
    ) -> None:
        """Create the raw table if new, add every column it lacks, and log each new column."""
        ...

    def insert(self, con: duckdb.DuckDBPyConnection, batch: Prepared, load_id: str) -> dict[str, int]:
        """Write the batch's rows, removing the rows of earlier versions of its files. Returns rows per URI."""
        ...

    def record_loaded(
        self, con: duckdb.DuckDBPyConnection, batch: Prepared, counts: dict[str, int], load_id: str
    ) -> None:
        """The ledger rows of a loaded batch: its files (earlier versions marked replaced), its rejected rows."""
        ...

    def quarantine(self, con: duckdb.DuckDBPyConnection, f: PendingFile, load_id: str, error: str) -> None:
        """The ledger row of a file that is not loaded for a reason of its own."""
        ...


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open (a failed commit has already ended it)."""
    with contextlib.suppress(duckdb.Error):
        con.execute("rollback")


class DuckDBTarget:
    """Raw tables in the DuckDB warehouse, the ledger beside them in the same transaction.

    With a `sink` (the Parquet lake, `settings.lake`) a batch's rows go to the sink instead of the raw table;
    the tables and their columns, and the ledger, stay here."""

    def __init__(self, sink: RawSink | None = None) -> None:
        self.sink = sink

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        if self.sink is not None:
            self.sink.prepare(con)

    @contextlib.contextmanager
    def transaction(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        con.execute("begin transaction")
        try:
            yield
            con.execute("commit")
        except BaseException:
            rollback(con)
            raise

    def ensure_table(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        columns: Sequence[tuple[str, str]],
        first_uri: str,
        load_id: str,
    ) -> None:
        existing = table_columns(con, RAW_SCHEMA, table)
        now = clock.utcnow()
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

    def insert(self, con: duckdb.DuckDBPyConnection, batch: Prepared, load_id: str) -> dict[str, int]:
        files = batch.files
        table = batch.table
        counts: dict[str, int] = {f.remote.uri: 0 for f in files}
        replaced = [f.remote.uri for f in files if f.replaces]
        if self.sink is not None:  # a lake object is replaced whole, by the sink
            return self.sink.write(con, batch, load_id)
        if replaced and table_columns(con, RAW_SCHEMA, table):
            con.execute(
                f"delete from {raw_table(table)} where _source_uri in (select unnest($u))", {"u": replaced}
            )
            con.execute("reset max_vacuum_tasks")  # reclaim the deleted rows at the next checkpoint
        if batch.query is None:
            return counts
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
        return counts

    def record_loaded(
        self, con: duckdb.DuckDBPyConnection, batch: Prepared, counts: dict[str, int], load_id: str
    ) -> None:
        files = batch.files
        replaced = [f.remote.uri for f in files if f.replaces]
        if replaced:
            con.execute(
                f"update {META_SCHEMA}.files set status = 'replaced' where status = 'loaded'"
                " and uri in (select unnest($u))",
                {"u": replaced},
            )
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
                    batch.table,
                    counts[f.remote.uri],
                    load_id,
                    batch.loaded_at,
                    batch.note,
                ]
                for f in files
            ],
        )

    def quarantine(self, con: duckdb.DuckDBPyConnection, f: PendingFile, load_id: str, error: str) -> None:
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
                clock.utcnow(),
                error,
            ],
        )
