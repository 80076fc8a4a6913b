"""A published table brought up to date in a copy of the last serving file, one `loaded_at` bucket at a time.

A daily build adds about 1 % to the fact, and writing all of it into a new serving file cost most of the
daily `dbt build` (at 10 M events the publish wrote 2 GB: 22 s of DuckDB compressing the same rows again).
So a publish starts from a copy of the file it published last and, for each table with a `loaded_at`
column, compares its rows per `loaded_at` value with the warehouse's: a bucket is its row count and the sum of
a 64-bit hash of every column of its rows, recorded in `publication.table_buckets` when the file is written.
Buckets whose count or hash differ are deleted from the copy and copied again from the warehouse; the rest
are the same rows. This is exact whatever happened to the warehouse table (rows added, deleted, changed, the
table rebuilt), up to a collision of the 64-bit sums, and it is cheap where new loads add buckets: the
warehouse side is one scan of the table. Tables without `loaded_at`, or whose columns changed, are copied
whole.
"""

from __future__ import annotations

import duckdb

from .warehouse import quote_ident, sql_literal

BUCKETS = "table_buckets"
BUCKET_COLUMN = "loaded_at"


def columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(kind))
        for name, kind in con.execute(
            "select column_name, data_type from duckdb_columns()"
            " where database_name = ? and schema_name = ? and table_name = ? order by column_index",
            [catalog, schema, table],
        ).fetchall()
    ]


def create_buckets_table(con: duckdb.DuckDBPyConnection, info: str) -> None:
    """`info` is the serving file's publication schema, quoted."""
    con.execute(
        f"create table if not exists {info}.{BUCKETS} (table_schema varchar, table_name varchar,"
        f" {BUCKET_COLUMN} timestamp, row_count bigint, row_hash hugeint)"
    )


def _bucket_sql(source: str, cols: list[tuple[str, str]], schema: str, table: str) -> str:
    hashed = ", ".join(quote_ident(name) for name, _ in cols)
    return (
        f"select {sql_literal(schema)} as table_schema, {sql_literal(table)} as table_name,"
        f" {BUCKET_COLUMN}, count(*)::bigint as row_count,"
        f" sum(hash({hashed}))::hugeint as row_hash from {source} group by all"
    )


def bucketed(cols: list[tuple[str, str]]) -> bool:
    """A table is compared bucket by bucket where it has a `loaded_at` timestamp (ours: the load time)."""
    return (BUCKET_COLUMN, "TIMESTAMP") in cols


def _forget(con: duckdb.DuckDBPyConnection, info: str, schema: str, table: str) -> None:
    con.execute(f"delete from {info}.{BUCKETS} where table_schema = ? and table_name = ?", [schema, table])


def forget_others(con: duckdb.DuckDBPyConnection, info: str, tables: list[tuple[str, str]]) -> None:
    """Drop the buckets of every table but these (the tables now written bucket by bucket)."""
    kept = set(tables)
    for schema, table in con.execute(
        f"select distinct table_schema, table_name from {info}.{BUCKETS}"
    ).fetchall():
        if (schema, table) not in kept:
            _forget(con, info, schema, table)


def record(
    con: duckdb.DuckDBPyConnection,
    info: str,
    served: str,
    cols: list[tuple[str, str]],
    schema: str,
    table: str,
) -> None:
    """The buckets of a table just written whole into the serving file (`served`, its quoted name there)."""
    _forget(con, info, schema, table)
    con.execute(f"insert into {info}.{BUCKETS} {_bucket_sql(served, cols, schema, table)}")


def update(
    con: duckdb.DuckDBPyConnection,
    info: str,
    source: str,
    served: str,
    cols: list[tuple[str, str]],
    schema: str,
    table: str,
) -> int:
    """Bring `served` (the copy's table) to the rows of `source` (the warehouse's), bucket by bucket, in one
    transaction: the buckets and the rows copied come from one snapshot of the warehouse. Returns the number
    of rows copied."""
    key = [schema, table]
    new = f"{info}.{quote_ident('_buckets_' + table)}"
    changed = f"{info}.{quote_ident('_changed_' + table)}"
    same_bucket = f"c.{BUCKET_COLUMN} is not distinct from t.{BUCKET_COLUMN}"
    con.execute("begin transaction")
    try:
        con.execute(f"create table {new} as {_bucket_sql(source, cols, schema, table)}")
        con.execute(
            f"""create table {changed} as
            select coalesce(new.{BUCKET_COLUMN}, old.{BUCKET_COLUMN}) as {BUCKET_COLUMN}
            from {new} as new
            full outer join (
                select * from {info}.{BUCKETS} where table_schema = ? and table_name = ?
            ) as old on new.{BUCKET_COLUMN} is not distinct from old.{BUCKET_COLUMN}
            where new.row_count is distinct from old.row_count or new.row_hash is distinct from old.row_hash""",
            key,
        )
        con.execute(
            f"delete from {served} as t where exists (select 1 from {changed} as c where {same_bucket})"
        )
        copied = con.execute(
            f"insert into {served} select t.* from {source} as t semi join {changed} as c on {same_bucket}"
        ).fetchall()[0][0]
        _forget(con, info, schema, table)
        con.execute(f"insert into {info}.{BUCKETS} select * from {new}")
        con.execute(f"drop table {new}")
        con.execute(f"drop table {changed}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return int(copied)
