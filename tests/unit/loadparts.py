"""Small builders for the load core's unit tests: a feed, a remote file, a pending file, a ledger in memory."""

from __future__ import annotations

from pathlib import Path

import duckdb

from loaders.config import Feed
from loaders.load.model import PendingFile
from loaders.transports import RemoteFile
from loaders.vendors import Route
from loaders.warehouse import DDL


def feed(name: str = "lp", vendor: str = "leanplum", **options: object) -> Feed:
    return Feed.model_validate({"name": name, "vendor": vendor, "uri": "file:///nowhere", **options})


def remote(relpath: str, size: int = 10, version: str = "v1") -> RemoteFile:
    return RemoteFile(
        uri=f"file:///nowhere/{relpath}", relpath=relpath, size=size, mtime=0.0, version=version
    )


def pending(
    relpath: str = "a.csv",
    *,
    table: str = "t",
    fmt: str | None = "csv",
    local: Path | None = None,
    size: int = 10,
    gzip: bool = False,
    partitions: dict[str, str] | None = None,
    replaces: bool = False,
    the_feed: Feed | None = None,
    version: str = "v1",
) -> PendingFile:
    f = PendingFile(
        the_feed or feed(),
        remote(relpath, size, version),
        Route(table=table, fmt=fmt, partitions=partitions or {}),
        replaces,
    )
    f.local, f.fmt, f.gzip = local, fmt, gzip
    return f


def ledger() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the loader's schema."""
    con = duckdb.connect()
    con.execute(DDL)
    return con
