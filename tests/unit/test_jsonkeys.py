"""The C scanner of top-level JSON keys agrees with Python's json module and with DuckDB on any records."""

from __future__ import annotations

import gzip
import io
import json

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders import jsonkeys

# keys and strings with what makes JSON scanning hard: quotes, backslashes, braces, brackets, commas,
# colons, control characters (escaped by json.dumps), non-ASCII and astral characters (surrogate pairs)
text = st.text(alphabet=st.sampled_from('ab"\\{}[],: \t\n\x01é€😀'), max_size=8)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
records = st.lists(st.dictionaries(text, values, max_size=5), min_size=1, max_size=20)
layouts = st.sampled_from(
    [
        {"ensure_ascii": True},
        {"ensure_ascii": False},
        {"ensure_ascii": False, "separators": (",", ":")},
    ]
)


def scan(data: bytes) -> list[str]:
    return jsonkeys.scan_keys([io.BytesIO(data)])


def test_the_scanner_is_built() -> None:
    """`pip install -e .` compiles it; without it the loader falls back to DuckDB, about 15% slower on JSON."""
    assert jsonkeys.available()


@settings(max_examples=300, deadline=None)
@given(records, layouts, st.sampled_from(["\n", "\r\n", "\n\n"]), st.booleans())
def test_keys_match_python_and_duckdb(
    rows: list[dict], layout: dict, newline: str, final_newline: bool
) -> None:
    data = newline.join(json.dumps(r, **layout) for r in rows) + (newline if final_newline else "")
    expected = list(dict.fromkeys(k for r in rows for k in r))
    assert scan(data.encode()) == expected
    if expected:  # DuckDB's own listing, which the loader used before, agrees
        con = duckdb.connect()
        got = con.execute(
            "select distinct unnest(json_keys(j)) from (select unnest($r) as j) where j <> ''",
            {"r": data.split(newline)},
        )
        assert sorted(k for (k,) in got.fetchall()) == sorted(expected)


def test_keys_of_later_records_and_other_files_are_kept_in_first_seen_order() -> None:
    one = b'{"a": 1, "b": {"nested": 1}}\n{"c": [{"not_top": 2}]}\n'
    two = b'{"b": "x", "d": null}'
    assert jsonkeys.scan_keys([io.BytesIO(one), io.BytesIO(two)]) == ["a", "b", "c", "d"]


def test_lines_longer_than_a_read_and_gzip_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonkeys, "CHUNK", 16)
    rows = [{"k" * 40: "v" * 100, "x": 1}, {"late": {"y": "}"}}]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    assert scan(data) == ["k" * 40, "x", "late"]
    assert jsonkeys.scan_keys([gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(data)))]) == [
        "k" * 40,
        "x",
        "late",
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'[{"a": 1}, {"b": 2}]', "not a JSON object"),  # an array
        (b'{\n  "a": 1\n}\n', "spanning lines"),  # pretty-printed
        (b'{"a": 1}\n42\n', "line 2: a line that is not a JSON object"),
        (b'{"a": 1}\n"text"\n', "not a JSON object"),
        (b'{"a": "unterminated}\n', "does not end"),
        (b'{"a": 1}}\n', "closing bracket"),
        (b'{"a": {"b": 1}\n', "spanning lines"),
    ],
)
def test_other_layouts_are_refused_so_the_loader_asks_duckdb(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        scan(data)


def test_keys_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        scan(b'{"\xff": 1}\n')


@pytest.mark.parametrize("built", [True, False])
def test_the_loader_lists_the_same_columns_with_or_without_the_scanner(
    tmp_path, monkeypatch: pytest.MonkeyPatch, built: bool
) -> None:
    from types import SimpleNamespace

    from loaders.load import readers

    if not built:
        monkeypatch.setattr(jsonkeys, "Scanner", None)
    plain = tmp_path / "a.json"
    plain.write_text('{"b": 1, "A": 2}\n{"c\\u00e9": {"d": 1}}\n{"a": "same name as A, other case"}\n')
    zipped = tmp_path / "b.json.gz"
    zipped.write_bytes(gzip.compress(b'{"late": true}\n'))
    array = tmp_path / "c.json"
    array.write_text('[{"x": 1}, {"y": 2}]')
    con = duckdb.connect()

    def columns(path, gz=False):
        return list(readers.json_keys(con, [SimpleNamespace(local=path, gzip=gz)]))

    assert columns(plain) == ["b", "A", "cé"]  # the first record's order, then by name; one of A and a
    assert columns(zipped, gz=True) == ["late"]
    assert columns(array) == ["x", "y"]  # not one object per line: DuckDB's record reader lists them
