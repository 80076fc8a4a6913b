"""Readers, headers, JSON keys and the batch statement (loaders/load/readers.py)."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from loaders.load.errors import FileRejected
from loaders.load.readers import (
    PARTITION_PREFIX,
    batch_query,
    column_names,
    csv_header,
    file_columns,
    json_keys,
    key_columns,
    parquet_query,
    reader_sql,
)
from tests.unit.loadparts import pending

AT = datetime(2024, 5, 1, 12, 0, 0)


def test_column_names_trim_name_empties_and_number_repeats_in_any_case() -> None:
    assert column_names([" a ", "", "B", "b", "a", "A"], "u") == ["a", "column1", "B", "b_1", "a_1", "A_2"]


@pytest.mark.parametrize("bad", ["a\x00b", "caf\udce9"])
def test_column_names_refuse_a_header_that_is_not_text(bad: str) -> None:
    with pytest.raises(FileRejected, match="u: the header line is not UTF-8"):
        column_names(["ok", bad], "u")


def test_csv_header_reads_the_first_record_with_its_quotes_bom_and_compression(tmp_path: Path) -> None:
    plain = tmp_path / "a.csv"
    plain.write_bytes('\ufeff"id","a, b",id\n1,2,3\n'.encode())
    assert csv_header(pending(local=plain)) == ["id", "a, b", "id_1"]
    tsv = tmp_path / "b.tsv.gz"
    tsv.write_bytes(gzip.compress(b"x\ty,z\n1\t2\n"))
    assert csv_header(pending(local=tsv, fmt="tsv", gzip=True)) == ["x", "y,z"]


def test_csv_header_of_an_empty_or_broken_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(FileRejected, match="no readable header line"):
        csv_header(pending(local=empty))
    broken = tmp_path / "f.csv.gz"
    broken.write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(FileRejected, match="cannot decompress"):
        csv_header(pending(local=broken, gzip=True))


def test_file_columns_are_partitions_then_vouched_lineage() -> None:
    f = pending(partitions={"dt": "2024-05-01"})
    f.lineage = {"_control_flow_id": "42"}
    assert file_columns(f) == {PARTITION_PREFIX + "dt": "2024-05-01", "_control_flow_id": "42"}


def test_key_columns_follow_the_first_record_then_the_name_and_drop_case_twins() -> None:
    columns = key_columns(["z", "A", "b", "a", "c"], first=["c", "a"])
    assert list(columns) == ["c", "a", "b", "z"]  # `A` is `a` to DuckDB: the first one seen stays
    assert set(columns.values()) == {"VARCHAR"}


def test_json_keys_list_every_key_of_every_line(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text('{"b": 1, "a": {"x": 1}}\n{"late": [1]}\n')
    b = tmp_path / "b.json"
    b.write_text('{"other": null}\n')
    files = [pending("a.json", fmt="json", local=a), pending("b.json", fmt="json", local=b)]
    assert list(json_keys(duckdb.connect(), files)) == ["b", "a", "late", "other"]
    assert files[1].header == ["other"]  # each file's own keys, for its required columns


def test_reader_sql_binds_the_path_and_options(tmp_path: Path) -> None:
    local = tmp_path / "a.tsv"
    local.write_text("x\ty\n1\t2\n")
    params: dict[str, object] = {}
    sql = reader_sql(pending(local=local, fmt="tsv"), 3, params, None)
    assert sql.startswith("read_csv($p3, columns = $h3,")
    assert "delim = $d3" in sql and "compression = 'none'" in sql
    assert params == {"p3": str(local), "d3": "\t", "h3": {"x": "VARCHAR", "y": "VARCHAR"}}
    assert str(local) not in sql  # a path is never spliced into the SQL
    params = {}
    sql = reader_sql(pending(local=local, fmt="json", gzip=True), 0, params, {"k": "VARCHAR"})
    assert sql.startswith("read_json($p0, columns = $c0") and "compression = 'gzip'" in sql
    assert params["c0"] == {"k": "VARCHAR"}
    with pytest.raises(FileRejected, match="unknown file format"):
        reader_sql(pending(local=local, fmt="xml"), 0, {}, None)


def test_batch_query_unites_files_by_name_with_lineage_and_row_numbers(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("id,x\n1,a\n2,b\n")
    b = tmp_path / "b.csv"
    b.write_text("y,id\n9,3\n")
    files = [
        pending("dt=1/a.csv", local=a, partitions={"dt": "1"}),
        pending("b.csv", local=b, version="v7"),
    ]
    query, params, part_keys = batch_query(duckdb.connect(), files, "L1", AT)
    assert part_keys == ["_part_dt"]
    assert query.count("union all by name") == 1
    rows = (
        duckdb.connect()
        .execute(
            f"select id, x, y, _source_row, _source_uri, _file_version, _part_dt, _load_id, _loaded_at"
            f" from ({query}) order by id",
            params,
        )
        .fetchall()
    )
    assert rows == [
        ("1", "a", None, 1, files[0].remote.uri, "v1", "1", "L1", AT),
        ("2", "b", None, 2, files[0].remote.uri, "v1", "1", "L1", AT),
        ("3", None, "9", 1, files[1].remote.uri, "v7", None, "L1", AT),
    ]


def test_parquet_query_joins_each_file_to_its_lineage(tmp_path: Path) -> None:
    con = duckdb.connect()
    paths = []
    for name, n in (("a", 2), ("b", 1)):
        path = tmp_path / f"{name}.parquet"
        con.execute(f"copy (select range as v from range({n})) to '{path}' (format parquet)")
        paths.append(path)
    files = [
        pending("dt=1/a.parquet", fmt="parquet", local=paths[0], partitions={"dt": "1"}),
        pending("b.parquet", fmt="parquet", local=paths[1]),
    ]
    params: dict[str, object] = {"load_id": "L", "loaded_at": AT}
    query = parquet_query(files, params, ["_part_dt"])
    rows = con.execute(
        f"select v, _source_row, _source_uri, _part_dt from ({query}) order by _source_uri, v", params
    ).fetchall()
    assert rows == [
        (0, 1, files[1].remote.uri, None),  # no partition: '' in the bound list, NULL in the row
        (0, 1, files[0].remote.uri, "1"),
        (1, 2, files[0].remote.uri, "1"),
    ]
    assert json.dumps(params["files"]) == json.dumps([str(p) for p in paths])
