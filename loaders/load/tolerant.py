"""The tolerant second pass for CSV: a file the strict reader cannot take is read record by record.

Good records are staged in a clean CSV that DuckDB loads strictly; bad ones become rejects with their line
and reason (`loader.rejects`). A file whose records cannot be split without risking values in the wrong
column is refused whole.
"""

from __future__ import annotations

import uuid
import zlib
from pathlib import Path

import duckdb

from .. import csvdialect, csvtolerant
from ..warehouse import LINEAGE_COLUMNS, quote_ident
from . import clock
from .emails import with_email_hashing
from .errors import FileRejected, environment_problem
from .guards import check_required
from .model import PendingFile, Prepared
from .readers import column_names, file_columns, open_local


def why_tolerant(f: PendingFile) -> str:
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


def prepare_tolerant(
    con: duckdb.DuckDBPyConnection, f: PendingFile, load_id: str, max_line_bytes: int, tmp: Path
) -> tuple[Prepared, list[str]]:
    """Read a CSV that the strict reader cannot take as it is, record by record (loaders/csvtolerant.py).

    Good records are staged in a clean CSV (their record number first) that DuckDB loads strictly; bad ones
    become rejects with their line and reason. `_source_row` is each record's number in the file, whatever
    came before it. Raises FileRejected when the first record cannot be the header. Returns the prepared
    batch and the staged files to delete once it is loaded.
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
    loaded_at = clock.utcnow()
    qparams: dict[str, object] = {
        "p": str(staging),
        "cols": {"_feeds_row": "BIGINT", **{n: "VARCHAR" for n in names}},
        "u": f.remote.uri,
        "v": f.remote.version,
        "load_id": load_id,
        "loaded_at": loaded_at,
    }
    query = staged_query(qparams, file_columns(f), max_line_bytes)
    columns = [(n, "VARCHAR") for n in names] + [(k, "VARCHAR") for k in sorted(file_columns(f))]
    query = with_email_hashing(query, qparams, columns, f.feed, f.route.table)
    notes = []
    if staged.rejects:
        notes.append(f"{len(staged.rejects)} rows rejected (loader.rejects), the other rows loaded")
    if dialect != csvdialect.documented(f.fmt):
        notes.append(f"dialect detected: {dialect.describe()}")
    prepared = Prepared([f], query, qparams, columns, loaded_at, staged.rejects, "; ".join(notes) or None)
    return prepared, [str(staging)]


def staged_query(params: dict[str, object], extra: dict[str, str | None], max_line_bytes: int) -> str:
    """The strict read of a staged CSV (`$p`, columns `$cols`, its record number first as `_feeds_row`),
    with the lineage columns; `extra` are the file's own columns (partitions, control-file lineage)."""
    parts = []
    for n, (key, value) in enumerate(sorted(extra.items())):
        params[f"k{n}"] = value
        parts.append(f", $k{n}::varchar as {quote_ident(key)}")
    size = max(int(max_line_bytes), 1 << 20)
    return (
        "select * exclude (_feeds_row), _feeds_row as _source_row,"
        f" $u::varchar as _source_uri, $v::varchar as _file_version{''.join(parts)},"
        " $load_id::varchar as _load_id, $loaded_at::timestamp as _loaded_at"
        " from read_csv($p, columns = $cols, header = false, auto_detect = false, delim = ',', quote = '\"',"
        " escape = '\"', null_padding = false, strict_mode = true, encoding = 'utf-8',"
        f" hive_partitioning = false, max_line_size = {size}, buffer_size = {2 * size})"
    )
