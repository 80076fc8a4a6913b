"""Raw rows as Parquet objects in a lake (file:// or s3://) instead of rows in the DuckDB raw tables.

One object per source file, at a path derived from the file's identity (feed and URI):
`<lake>/raw/<table>/<feed>/<sha256 of the URI>.parquet`. A new version of the file is written whole to a
temporary object and swapped in: on a local lake by rename (atomic), on S3 by one PUT (an object is replaced
whole or not at all). So a crash leaves the old or the new version, never both, and a rerun overwrites the
object instead of adding a second copy: exactly once per file version without any lock shared between runs.
The ledger (`loader.files`, and `loader.lake_objects`: which version each object holds) is written in the
batch's transaction after the object is in place; a run killed between the two rewrites the same object.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

import duckdb

from ..load.faults import fault_point
from ..warehouse import META_SCHEMA, RAW_SCHEMA, quote_ident, sql_literal

if TYPE_CHECKING:
    from ..load.model import Prepared

LAKE_DDL = f"""
create table if not exists {META_SCHEMA}.lake_objects (
    feed varchar, uri varchar, version varchar, object varchar, rows bigint, load_id varchar, written_at timestamp
)
"""


class RawSink(Protocol):
    """Where a batch's raw rows go. Returns rows per source URI; raises leaving nothing visible."""

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None: ...

    def write(self, con: duckdb.DuckDBPyConnection, batch: Prepared, load_id: str) -> dict[str, int]: ...


def _safe(name: str) -> str:
    """A path segment from a configured name (feed, table): letters, digits, `-`, `_` only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


def object_key(table: str, feed: str, uri: str) -> str:
    """The object's path under the lake root: the same for every version of one source file."""
    digest = hashlib.sha256(uri.encode("utf-8", errors="surrogateescape")).hexdigest()[:40]
    return f"{RAW_SCHEMA}/{_safe(table)}/{_safe(feed)}/{digest}.parquet"


class LakeSink:
    """Writes each file of a batch as one Parquet object, swapped in whole."""

    def __init__(self, location: str, endpoint_url: str | None = None, region: str | None = None) -> None:
        parsed = urlparse(location)
        if parsed.scheme not in ("file", "s3"):
            raise ValueError(f"lake {location!r}: use file:///path or s3://bucket/prefix")
        self.location = location.rstrip("/")
        self.scheme = parsed.scheme
        if parsed.scheme == "file":
            self.root = Path(parsed.path)
        else:
            from ..transports.s3 import s3_client

            self.bucket = parsed.netloc
            self.prefix = parsed.path.strip("/")
            self.client = s3_client(endpoint_url, region)

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """The ledger of objects, created once before the parallel batches."""
        con.execute(LAKE_DDL)

    def uri_of(self, key: str) -> str:
        return f"{self.location}/{key}"

    def write(self, con: duckdb.DuckDBPyConnection, batch: Prepared, load_id: str) -> dict[str, int]:
        counts = {f.remote.uri: 0 for f in batch.files}
        if batch.query is None:  # empty files: nothing to write, the ledger still records them
            return counts
        # the batch's files are read once into a temporary table, sorted by file so that each file's COPY
        # reads only its own row groups (zone maps), not the whole batch again
        stage = quote_ident(f"_lake_batch_{uuid.uuid4().hex}")
        con.execute(
            f"create temp table {stage} as select * from ({batch.query}) order by _source_uri, _source_row",
            batch.params,
        )
        # created in the batch's transaction: a failure's rollback removes it with everything else
        self._write_files(con, batch, load_id, stage, counts)
        con.execute(f"drop table {stage}")
        return counts

    def _write_files(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: Prepared,
        load_id: str,
        stage: str,
        counts: dict[str, int],
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="feeds-lake-") as tmp:
            for i, f in enumerate(batch.files):
                local = Path(tmp) / f"{i}.parquet"
                n = con.execute(
                    f"copy (select * from {stage} where _source_uri = $lake_uri) to "
                    f"{sql_literal(str(local))} (format parquet, compression zstd)",
                    {"lake_uri": f.remote.uri},
                ).fetchall()[0][0]
                counts[f.remote.uri] = int(n)
                key = object_key(batch.table, f.feed.name, f.remote.uri)
                fault_point("lake_before_publish")
                self._publish(local, key)
                con.execute(
                    f"delete from {META_SCHEMA}.lake_objects where feed = ? and uri = ?",
                    [f.feed.name, f.remote.uri],
                )
                con.execute(
                    f"insert into {META_SCHEMA}.lake_objects values (?, ?, ?, ?, ?, ?, ?)",
                    [
                        f.feed.name,
                        f.remote.uri,
                        f.remote.version,
                        self.uri_of(key),
                        int(n),
                        load_id,
                        batch.loaded_at,
                    ],
                )

    def _publish(self, local: Path, key: str) -> None:
        """Put the finished file in place whole: rename on a local lake, one PUT on S3."""
        if self.scheme == "file":
            target = self.root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            # a dot-name is ignored by Spark and by readers of the folder until it is renamed into place
            staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            with open(local, "rb") as src, open(staging, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(staging, target)
            return
        name = f"{self.prefix}/{key}" if self.prefix else key
        # upload_file uses multipart above 8 MB: the object appears only at CompleteMultipartUpload, whole
        self.client.upload_file(str(local), self.bucket, name)


def open_sink(
    location: str | None, endpoint_url: str | None = None, region: str | None = None
) -> LakeSink | None:
    return LakeSink(location, endpoint_url, region) if location else None


__all__ = ["LakeSink", "RawSink", "object_key", "open_sink", "quote_ident"]
