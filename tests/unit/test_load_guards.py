"""Content checks before and while reading (loaders/load/guards.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from loaders.load.errors import FileRejected
from loaders.load.guards import (
    DEFLATE_MAX_RATIO,
    check_names,
    check_required,
    content_problem,
    missing_columns,
)
from tests.unit.loadparts import pending


def test_nul_bytes_in_json_are_binary_content(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes('{"a": 1}\n'.encode("utf-16"))
    problem = content_problem(pending(fmt="json", local=path, size=path.stat().st_size), limit=10**9)
    assert problem is not None and "binary content (NUL bytes)" in problem
    path.write_bytes(b'{"a": 1}\n')
    assert content_problem(pending(fmt="json", local=path, size=9), limit=10**9) is None


def test_a_plain_file_over_the_limit_is_refused_unless_parquet(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"a\n" * 50)
    assert content_problem(pending(local=path, size=100), limit=100) is None
    problem = content_problem(pending(local=path, size=101), limit=100)
    assert problem == "101 bytes is over max_decompressed_bytes (100); raise it for this feed"
    assert content_problem(pending(fmt="parquet", local=path, size=101), limit=100) is None


def test_gzip_is_measured_decompressed_across_members(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    # two members, 3000 bytes in all: the second member counts too
    path.write_bytes(gzip.compress(b"x" * 1500) + gzip.compress(b"y" * 1500))
    size = path.stat().st_size
    assert content_problem(pending(local=path, size=size, gzip=True), limit=3000) is None
    problem = content_problem(pending(local=path, size=size, gzip=True), limit=2999)
    assert problem is not None and problem.startswith(
        "decompresses to more than max_decompressed_bytes (2999"
    )


def test_a_small_gzip_file_is_not_even_opened(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    path.write_bytes(b"\x1f\x8b garbage")  # never read: it cannot expand past the limit
    assert content_problem(pending(local=path, size=10, gzip=True), limit=10 * DEFLATE_MAX_RATIO) is None
    problem = content_problem(pending(local=path, size=10, gzip=True), limit=10 * DEFLATE_MAX_RATIO - 1)
    assert problem is not None and problem.startswith("cannot decompress")


def test_missing_columns_match_without_case() -> None:
    assert missing_columns(["ID", "Time"], ("id", "time", "kind")) == ["kind"]
    assert missing_columns([], ("id",)) == ["id"]


def test_check_required_names_what_is_missing_and_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id\tkind\n1\tx\n")  # a TSV read as CSV: one long column
    f = pending(local=path, table="t")
    f.required = ("id", "kind")
    with pytest.raises(FileRejected) as raised:
        check_required(duckdb.connect(), f)
    message = str(raised.value)
    assert "lacks the column(s) id, kind that every t file has" in message
    assert "columns found: 'id\\tkind'" in message
    f.fmt = "tsv"
    f.header = None
    check_required(duckdb.connect(), f)  # read as TSV, it has both
    assert f.header == ["id", "kind"]


def test_check_required_lets_an_empty_json_file_pass(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("")
    f = pending(fmt="json", local=path)
    f.required = ("id",)
    check_required(duckdb.connect(), f)


@pytest.mark.parametrize(
    ("described", "why"),
    [
        ([("a\x00b", "VARCHAR")], "contains a NUL byte"),
        ([("_source_uri", "VARCHAR"), ("_Source_URI", "VARCHAR")], "collides with a column the loader adds"),
        ([("_source_row", "VARCHAR")], "collides with the row numbering"),
    ],
)
def test_check_names_refuses_names_that_corrupt_the_insert(described: list[tuple], why: str) -> None:
    with pytest.raises(FileRejected, match=why):
        check_names([pending()], described)


def test_check_names_passes_the_lineage_columns_of_a_clean_batch() -> None:
    check_names([pending(), pending("b.csv")], [("id", "VARCHAR"), ("_source_row", "BIGINT")])
