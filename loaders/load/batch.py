"""The batch transaction: bind a batch's statement, add its columns, then load it whole or not at all.

`prepare_batch` builds and binds the statement (DESCRIBE reads only headers and samples) and refuses what
cannot load; `apply_schema` creates tables and adds new columns for every prepared batch in one short
transaction, before the parallel inserts; `load_batch` writes one batch's rows and its ledger rows in one
transaction, after a check of its counts, through the raw target (see raw.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from ..warehouse import LINEAGE_COLUMNS
from . import clock
from .emails import with_email_hashing
from .errors import BatchValidationError
from .faults import fault_point
from .guards import check_names, check_required
from .model import PendingFile, Prepared
from .raw import RawTarget
from .readers import batch_query

# checked inside a batch's transaction: rows per URI -> why files are bad (raises to roll back the batch)
Validator = Callable[[dict[str, int]], dict[str, str]]


def prepare_batch(con: duckdb.DuckDBPyConnection, files: Sequence[PendingFile], load_id: str) -> Prepared:
    """Build the batch statement and bind it (DESCRIBE reads only headers and samples). Raises if unreadable."""
    loaded_at = clock.utcnow()
    readable = [f for f in files if f.remote.size > 0]
    if not readable:
        return Prepared(list(files), None, {}, [], loaded_at)
    query, params, _ = batch_query(con, readable, load_id, loaded_at)
    for f in readable:
        check_required(con, f)
    described = con.execute(f"describe {query}", params).fetchall()
    columns = [
        (r[0], "VARCHAR" if r[1] == "JSON" else r[1]) for r in described if r[0] not in LINEAGE_COLUMNS
    ]
    check_names(readable, described)
    query = with_email_hashing(query, params, columns, files[0].feed, files[0].route.table)
    return Prepared(list(files), query, params, columns, loaded_at)


def apply_schema(
    con: duckdb.DuckDBPyConnection, target: RawTarget, prepared: Sequence[Prepared], load_id: str
) -> None:
    """Create tables and add new columns before the parallel inserts, in one short transaction.

    A column added for a batch that later fails stays, empty: harmless, and it is logged as seen.
    """
    with target.transaction(con):
        for p in prepared:
            if p.query is not None:
                target.ensure_table(con, p.table, p.columns, p.files[0].remote.uri, load_id)


def load_batch(
    con: duckdb.DuckDBPyConnection,
    target: RawTarget,
    batch: Prepared,
    load_id: str,
    validate: Validator | None = None,
) -> dict[str, int]:
    """Load one prepared batch in one transaction. Returns rows per URI. Raises on failure, leaving nothing."""
    with target.transaction(con):
        counts = target.insert(con, batch, load_id)
        if validate:
            bad = validate(counts)
            if bad:
                raise BatchValidationError(bad)
        target.record_loaded(con, batch, counts, load_id)
        fault_point("before_commit")
    fault_point("after_commit")
    return counts
