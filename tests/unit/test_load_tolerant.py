"""The tolerant CSV pass (loaders/load/tolerant.py) and the recount check (loaders/load/feedrun.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from loaders.csvcount import Counts
from loaders.csvdialect import Dialect
from loaders.csvinspect import Inspection
from loaders.load.batch import apply_schema, load_batch
from loaders.load.errors import FileRejected, RecountMismatch
from loaders.load.guards import recounts
from loaders.load.raw import DuckDBTarget
from loaders.load.tolerant import prepare_tolerant, why_tolerant
from loaders.warehouse import META_SCHEMA
from tests.unit.loadparts import ledger, pending

CLEAN = Counts(
    records=3, header_fields=2, header_lines=1, bad_fields=0, nul_records=0, stray_records=0, lines=4,
    unterminated=False, header_stray=False, header_nul=False, first_bad_line=0,
)  # fmt: skip


DOCUMENTED = Dialect()


def inspected(counts: Counts, dialect: Dialect = DOCUMENTED):
    f = pending("a.csv")
    f.inspection = Inspection(dialect, counts, 100, dialect == DOCUMENTED)
    return f


def test_why_tolerant_lists_every_reason_and_the_first_line() -> None:
    counts = replace(CLEAN, bad_fields=2, stray_records=1, unterminated=True, first_bad_line=7)
    f = inspected(counts, Dialect(delimiter=";"))
    why = why_tolerant(f)
    assert why.startswith(f"{f.remote.uri}: read in the dialect detected: ")
    assert "2 records with another field count than the header" in why
    assert "1 records with a stray quote" in why
    assert "a quote left open at the end of the file" in why
    assert why.endswith("(first at line 7)")


def test_recounts_compare_rows_with_the_inspections_records() -> None:
    f = inspected(CLEAN)
    uri = f.remote.uri
    assert recounts({uri: f}, {uri: 3}, {}, None) == {}
    with pytest.raises(RecountMismatch) as raised:  # strict: the file goes to the tolerant pass
        recounts({uri: f}, {uri: 2}, {}, None)
    assert raised.value.bad[uri].startswith("2 rows read, but the file holds 3 records")
    # tolerant: rows + rejected must add up, else it is a reason to quarantine
    assert recounts({uri: f}, {uri: 2}, {}, 1) == {}
    assert recounts({uri: f}, {uri: 1}, {}, 1)[uri].startswith("1 rows loaded + 1 rejected")
    assert recounts({uri: f}, {uri: 0}, {uri: "control"}, None) == {}  # already bad: not counted again


def test_good_rows_load_and_bad_ones_become_rejects(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,x\n1,a\n2,b,extra\n3,"c"\n')
    f = pending("dt=1/a.csv", local=path, size=path.stat().st_size, partitions={"dt": "1"})
    con = ledger()
    prepared, temps = prepare_tolerant(con, f, "L1", 1 << 20, tmp_path)
    assert [line for line, _, _ in prepared.rejects] == [3]
    assert prepared.columns == [("id", "VARCHAR"), ("x", "VARCHAR"), ("_part_dt", "VARCHAR")]
    assert prepared.note == "1 rows rejected (loader.rejects), the other rows loaded"
    target = DuckDBTarget()
    apply_schema(con, target, [prepared], "L1")
    assert load_batch(con, target, prepared, "L1") == {f.remote.uri: 2}
    rows = con.execute("select id, x, _source_row, _part_dt from raw.t order by id").fetchall()
    assert rows == [("1", "a", 1, "1"), ("3", "c", 3, "1")]  # each record keeps its number in the file
    assert con.execute(f"select line from {META_SCHEMA}.rejects").fetchall() == [(3,)]
    assert all(Path(t).exists() for t in temps)


def test_a_header_that_collides_with_the_lineage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,_source_uri\n1,a\n")
    with pytest.raises(FileRejected, match="collides with a column the loader adds"):
        prepare_tolerant(ledger(), pending(local=path, size=20), "L1", 1 << 20, tmp_path)
