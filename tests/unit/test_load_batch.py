"""The batch transaction and the DuckDB raw target (loaders/load/batch.py, raw.py), in memory."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from loaders.load.batch import apply_schema, load_batch, prepare_batch
from loaders.load.errors import BatchValidationError, FileRejected
from loaders.load.model import Prepared
from loaders.load.raw import DuckDBTarget, RawTarget
from loaders.warehouse import META_SCHEMA, table_columns
from tests.unit.loadparts import feed, ledger, pending

TARGET: RawTarget = DuckDBTarget()


def _csv(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return pending(name, local=path, size=path.stat().st_size)


def _load(con: duckdb.DuckDBPyConnection, files: list, load_id: str = "L1", validate=None) -> dict[str, int]:
    batch = prepare_batch(con, files, load_id)
    apply_schema(con, TARGET, [batch], load_id)
    return load_batch(con, TARGET, batch, load_id, validate)


def test_a_batch_lands_by_name_with_its_ledger_rows(tmp_path: Path) -> None:
    con = ledger()
    a = _csv(tmp_path, "a.csv", "id,x\n1,a\n2,b\n")
    b = _csv(tmp_path, "b.csv", "y,id\n9,3\n")
    assert _load(con, [a, b]) == {a.remote.uri: 2, b.remote.uri: 1}
    assert list(table_columns(con, "raw", "t")) == [
        "_source_uri", "_source_row", "_file_version", "_load_id", "_loaded_at", "id", "x", "y",
    ]  # fmt: skip
    assert con.execute("select id, x, y from raw.t order by id").fetchall() == [
        ("1", "a", None),
        ("2", "b", None),
        ("3", None, "9"),
    ]
    assert con.execute(f"select uri, status, rows from {META_SCHEMA}.files order by uri").fetchall() == [
        (a.remote.uri, "loaded", 2),
        (b.remote.uri, "loaded", 1),
    ]
    drift = con.execute(f"select column_name, first_uri from {META_SCHEMA}.schema_changes").fetchall()
    assert sorted(drift) == [("id", a.remote.uri), ("x", a.remote.uri), ("y", a.remote.uri)]


def test_a_new_version_replaces_the_rows_of_the_old_one(tmp_path: Path) -> None:
    con = ledger()
    old = _csv(tmp_path, "a.csv", "id,z\n1,a\n2,b\n")
    _load(con, [old])
    new = _csv(tmp_path, "a2.csv", "id,w\n7,c\n")
    new.remote = old.remote.__class__(old.remote.uri, old.remote.relpath, new.remote.size, 1.0, "v2")
    new.replaces = True
    _load(con, [new], "L2")
    assert con.execute("select id, _file_version from raw.t").fetchall() == [("7", "v2")]
    assert con.execute(f"select version, status from {META_SCHEMA}.files order by version").fetchall() == [
        ("v1", "replaced"),
        ("v2", "loaded"),
    ]
    added = con.execute(f"select column_name, load_id from {META_SCHEMA}.schema_changes where load_id = 'L2'")
    assert added.fetchall() == [("w", "L2")]  # the new column is logged once, as drift


def test_a_failed_validation_leaves_nothing(tmp_path: Path) -> None:
    con = ledger()
    a = _csv(tmp_path, "a.csv", "id\n1\n")
    with pytest.raises(BatchValidationError) as raised:
        _load(con, [a], validate=lambda counts: {uri: "wrong count" for uri in counts})
    assert raised.value.bad == {a.remote.uri: "wrong count"}
    assert con.execute("select count(*) from raw.t").fetchone() == (0,)  # the table stays, empty
    assert con.execute(f"select count(*) from {META_SCHEMA}.files").fetchone() == (0,)


def test_empty_files_have_no_statement_but_a_ledger_row(tmp_path: Path) -> None:
    con = ledger()
    empty = _csv(tmp_path, "e.csv", "")
    batch = prepare_batch(con, [empty], "L1")
    assert batch.query is None and batch.columns == []
    assert load_batch(con, TARGET, batch, "L1") == {empty.remote.uri: 0}
    assert con.execute(f"select status, rows from {META_SCHEMA}.files").fetchall() == [("loaded", 0)]


def test_prepare_refuses_a_file_lacking_a_required_column(tmp_path: Path) -> None:
    a = _csv(tmp_path, "a.csv", "x\n1\n")
    a.required = ("id",)
    with pytest.raises(FileRejected, match="lacks the column"):
        prepare_batch(ledger(), [a], "L1")


def test_prepare_hashes_emails_when_the_feed_asks(tmp_path: Path) -> None:
    a = _csv(tmp_path, "a.csv", "address\nA@b.cd\n")
    a.feed = feed(vendor="apsis", hash_emails=True)
    a.route = a.route.__class__("apsis__email_events", "csv")
    con = ledger()
    batch = prepare_batch(con, [a], "L1")
    assert batch.query is not None and batch.query.startswith("select * replace (")
    apply_schema(con, TARGET, [batch], "L1")
    load_batch(con, TARGET, batch, "L1")
    (value,) = con.execute("select address from raw.apsis__email_events").fetchone() or ()
    assert len(value) == 64 and "@" not in value


def test_rejects_and_quarantine_are_ledger_rows(tmp_path: Path) -> None:
    con = ledger()
    a = _csv(tmp_path, "a.csv", "id\n1\n")
    batch = prepare_batch(con, [a], "L1")
    batch = Prepared(
        batch.files, batch.query, batch.params, batch.columns, batch.loaded_at, [(3, "why", "raw")], "note"
    )
    apply_schema(con, TARGET, [batch], "L1")
    load_batch(con, TARGET, batch, "L1")
    assert con.execute(f"select uri, line, reason, content from {META_SCHEMA}.rejects").fetchall() == [
        (a.remote.uri, 3, "why", "raw")
    ]
    assert con.execute(f"select error from {META_SCHEMA}.files").fetchone() == ("note",)
    b = pending("b.csv")
    TARGET.quarantine(con, b, "L1", "bad file")
    assert con.execute(
        f"select status, rows, error from {META_SCHEMA}.files where uri = ?", [b.remote.uri]
    ).fetchall() == [("quarantined", 0, "bad file")]
