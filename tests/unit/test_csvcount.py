"""The record rule (loaders/csvcount.py) is one rule: the C counter, its Python twin and the tolerant reader
(which reads the bounds the counter marks) split any bytes into the same records.

Random bytes drawn from the characters that matter (delimiters, quotes, a backslash, line breaks, spaces, NUL,
bytes that are not UTF-8), fed in random chunks, in every dialect the loader detects.
"""

from __future__ import annotations

import csv
import io
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loaders import csvcount, csvtolerant
from loaders.csvdialect import Dialect

DIALECTS = [
    Dialect(","),
    Dialect(";", '"', "\\"),
    Dialect(",", skip_space=True),
    Dialect("\t"),
    Dialect("|", None, None),
]
BYTES = st.lists(
    st.sampled_from(
        [
            b"a",
            b"b",
            b"\xc3\xa9",
            b",",
            b";",
            b"|",
            b"\t",
            b'"',
            b"\\",
            b"\r",
            b"\n",
            b"\r\n",
            b" ",
            b"\x00",
            b"\xff",
        ]
    ),
    max_size=80,
).map(b"".join)


def _run(counter, data: bytes, cuts: list[int]) -> tuple[dict, list[int]]:
    marks = b""
    prev = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        counter.feed(data[prev:cut])
        marks += counter.take()
        prev = cut
    found = counter.finish()
    return found, array("q", marks + counter.take()).tolist()


def _args(d: Dialect) -> dict:
    return {"delimiter": d.delimiter, "quote": d.quote, "escape": d.escape, "skip_space": d.skip_space}


@pytest.mark.skipif(not csvcount.available(), reason="the C counter is not built on this machine")
@settings(max_examples=1500, derandomize=True, deadline=None)
@given(data=BYTES, cuts=st.lists(st.integers(0, 100), max_size=3), which=st.integers(0, len(DIALECTS) - 1))
def test_the_c_counter_and_its_python_twin_mark_the_same_records(data: bytes, cuts: list[int], which: int):
    d = DIALECTS[which]
    c = _run(csvcount.make_counter(**_args(d), marks=True), data, cuts)
    py = _run(csvcount.make_counter(**_args(d), python=True, marks=True), data, cuts)
    assert c == py, data
    found, marks = c
    records = [marks[k : k + 5] for k in range(0, len(marks), 5)]
    assert len(records) == found["records"] + (found["header_fields"] >= 0)
    for start, end, _line, fields, flags in records:
        split = csvcount.split_record(
            data[start:end],
            ord(d.delimiter),
            ord(d.quote) if d.quote else -1,
            ord(d.escape) if d.escape else -1,
            d.skip_space,
        )
        if not flags & (csvcount.MARK_STRAY | csvcount.MARK_UNTERMINATED):
            assert split is not None and len(split) == fields, (data, data[start:end], split)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(body=BYTES, which=st.integers(0, len(DIALECTS) - 1))
def test_the_tolerant_reader_reads_exactly_the_records_counted(body: bytes, which: int, tmp_path_factory):
    d = DIALECTS[which]
    data = d.delimiter.join(["h0", "h1", "h2"]).encode() + b"\n" + body
    counted = csvcount.count_chunks([data], **_args(d))
    dest = Path(tmp_path_factory.mktemp("staged")) / "staged.csv"
    try:
        staged = csvtolerant.stage(io.BytesIO(data), dest, d, 1 << 20)
    except csvtolerant.HeaderRejected:
        pytest.fail(f"a plain header rejected: {data!r}")
    assert staged.rows + len(staged.rejects) == counted.records, data
    with open(dest, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == staged.rows
    assert all(len(row) == 4 for row in rows)  # the record number and the header's 3 fields, never shifted
    assert [int(row[0]) for row in rows] == sorted({int(row[0]) for row in rows})
