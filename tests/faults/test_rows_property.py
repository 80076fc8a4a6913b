"""Randomly polluted CSV files through the real load core, each checked for the promise of issue 12:

either rows in raw + rows in rejects = the records of the file (counted here by the record counter's Python
twin, in the dialect the file was written in: neither DuckDB nor the tolerant reader) and every loaded value
sits in its own column, or the file is quarantined with a reason. Never a file marked loaded with rows missing.

Each value written in column j starts with `c<j>_`, so a value that lands under another column shows. The
pollution: stray and unbalanced quotes, one delimiter more or less in a row (a trailing one too), NUL bytes,
bytes that are not UTF-8, long and multi-line fields, other dialects, a preamble, a BOM, CRLF.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from loaders import csvcount
from loaders.config import parse_config
from loaders.load.run import Loader
from loaders.warehouse import connect
from tests.reliability import record

DIALECTS = [(",", False), (";", False), ("\t", False), ("|", False), (",", True)]  # (delimiter, `, `)
TEXT = st.text(alphabet="abcxyz 019é,;|\t\"'\n", max_size=12)
LONG = b"<long>"  # becomes 2.2 MB of text in the file (past the strict reader's 2 MB line limit)
POLLUTION = st.sampled_from(
    ["stray_quote", "open_quote", "drop_delim", "extra_delim", "trailing_delim", "nul", "bad_bytes", "long"]
)


@st.composite
def polluted_csv(draw: st.DrawFn) -> tuple[bytes, tuple[str, bool], int, int]:
    """(file bytes, (delimiter, `, `), preamble lines, columns)."""
    ncols = draw(st.integers(2, 5))
    nrows = draw(st.integers(0, 10))
    delimiter, spaced = draw(st.sampled_from(DIALECTS))
    header = [f"col{j}" for j in range(ncols)]
    rows = [[f"c{j}_" + draw(TEXT) for j in range(ncols)] for _ in range(nrows)]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    for row in [header, *rows]:
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerow(row)  # quotes \r and \n
        text = buf.getvalue().removesuffix("\r\n")
        if spaced:
            text = text.replace(delimiter, delimiter + " ")  # only where no value holds a delimiter
            if any(delimiter in v for v in row):
                buf = io.StringIO()
                csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerow(row)
                text = buf.getvalue().removesuffix("\r\n")
        lines.append(text.encode())
    # pollute a few rows, each once (two changes to one row could shift it without a trace: no reader can
    # tell `a,bc,,d` made from `a,b,c,d` by a lost and an added delimiter); the header now and then
    header_too = len(lines) == 1 or draw(st.integers(0, 9)) == 0
    targets = draw(st.sets(st.integers(0 if header_too else 1, len(lines) - 1), max_size=4))
    for i in targets:
        line = lines[i]
        at = draw(st.integers(0, len(line)))
        kind = draw(POLLUTION)
        d = delimiter.encode()
        if kind == "stray_quote":
            line = line[:at] + b'"' + line[at:]
        elif kind == "open_quote":
            cut = line.split(d)
            k = draw(st.integers(0, len(cut) - 1))
            cut[k] = b'"' + cut[k]
            line = d.join(cut)
        elif kind == "drop_delim" and d in line:
            pos = line.find(d, at) if line.find(d, at) >= 0 else line.find(d)
            line = line[:pos] + line[pos + 1 :]
        elif kind == "extra_delim":
            line = line[:at] + d + line[at:]
        elif kind == "trailing_delim":
            line = line + d
        elif kind == "nul":
            line = line[:at] + b"\x00" + line[at:]
        elif kind == "bad_bytes":
            line = line[:at] + b"\xff\xfe" + line[at:]
        elif kind == "long":
            line = line + LONG
        lines[i] = line
    preamble = draw(st.integers(0, 2))
    head = b"".join(f"Export {k} of the engagement feed{end}".encode() for k in range(preamble))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    body = end.encode().join(lines) + (end.encode() if draw(st.booleans()) else b"")
    return bom + head + body, (delimiter, spaced), preamble, ncols


_seq = itertools.count()


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("property") / "wh" / "engagement.duckdb"
    con = connect(path, "1GB", 1)
    yield con, path.parent.parent
    con.close()


OUTCOMES = {"loaded": 0, "quarantined": 0, "files": 0, "rows": 0}


# no shrinking: a failure prints its file's bytes, and shrinking a load can take minutes
# derandomized in CI (the same 120 files, about 30 s); random runs: ROWS_PROPERTY_RANDOM=1
# ROWS_PROPERTY_EXAMPLES=2000 pytest ... --hypothesis-seed=N. A counterexample found becomes an @example below.
@settings(
    max_examples=int(os.environ.get("ROWS_PROPERTY_EXAMPLES", 120)),
    derandomize=not os.environ.get("ROWS_PROPERTY_RANDOM"),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
# counterexamples random runs found (docs/reliability.md): the counter and the tolerant reader once split these
# into different records; now the reader reads the counter's record bounds
@example(  # a multi-line quoted field with doubled quotes, a line end just before a stray opening quote
    sample=(
        b'col0,col1,col2,col3\r\nc0_x,c1_y,"c2_z\'\xc3\xa9""ya1,b\n",c3_;9\r\n",c0_ayc,,xc\r\n'
        b'c0_q,c1_r,c2_s,c3_t\r\n"c0_""a\r\n",c1_"b,c2_c,c3_d\r\n',
        (",", False),
        0,
        4,
    )
)
@example(  # `, `-separated with stray quotes
    sample=(b'col0, col1, col2\nc0_a, "c1_b\nc0_"c, c1_d, c2_e\nc0_f, c1_"g, c2_h\n', (",", True), 0, 3)
)
@example(  # a delimiter added inside a quoted value: text, the value stays in its column
    sample=(b'col0;col1;col2\r\nc0_;"c;1_z\n0";c2_y\r\nc0_a;c1_b;c2_c', (";", False), 0, 3)
)
@example(  # the header and a record missing a delimiter were once taken as a preamble in another dialect
    sample=(b"Export 0 of the engagement feed\r\ncol0, col1, col2\r\nc0_ z c1_, c2_;\r\n", (",", True), 1, 3)
)
@example(  # `, `-separated fitting no dialect: once read as plain comma, its records split otherwise
    sample=(
        b'col0, col1, col2\r\n"c0_,0;0\n9;ba"c1_,c2_x\r\nc0_aa, "c1_1yz|,z 0 ", c2_\r\n'
        b'"c0_""",c1_,"c2_z\ny",c3_\r\nc0_, "c1_""", "c2_b ""c|"\r\n',
        (",", True),
        0,
        3,
    )
)
@given(sample=polluted_csv())
def test_polluted_files_are_accounted_for_or_quarantined(
    con: tuple[duckdb.DuckDBPyConnection, Path], sample: tuple[bytes, tuple[str, bool], int, int]
) -> None:
    db, tmp = con
    data, (delimiter, spaced), preamble, ncols = sample
    data = data.replace(LONG, b"z" * 2_200_000)
    case = f"case{next(_seq)}"
    root = tmp / case / "sailthru"
    path = root / case / "dt=20240501" / "client_id=0000" / "part-00000001.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    config = parse_config(
        {
            "settings": {"threads": 1, "parallel_batches": 1},
            "feeds": [{"name": case, "vendor": "sailthru", "uri": root.as_uri()}],
        }
    )
    Loader(db, config).run()
    ((status, rows, error),) = db.execute(
        "select status, rows, error from loader.files where feed = ?", [case]
    ).fetchall()
    OUTCOMES["files"] += 1
    OUTCOMES[status] += 1
    if status == "quarantined":
        assert error, "quarantined without a reason"
        return
    assert status == "loaded"
    body = data.removeprefix(b"\xef\xbb\xbf")
    for _ in range(preamble):
        body = body.split(b"\n", 1)[1] if b"\n" in body else b""
    counted = csvcount.count_chunks([body], delimiter=delimiter, skip_space=spaced, python=True)
    records = counted.records if body else 0
    table = f"raw.sailthru__{case}"
    exists = db.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = ?",
        [f"sailthru__{case}"],
    ).fetchone()[0]
    raw = db.execute(f"select count(*) from {table}").fetchone()[0] if exists else 0
    rejected = db.execute("select count(*) from loader.rejects where feed = ?", [case]).fetchone()[0]
    assert raw == rows
    assert raw + rejected == records, (
        f"{raw} loaded + {rejected} rejected != {records} records\n{data[:400]!r}"
    )
    OUTCOMES["rows"] += raw + rejected
    if not raw:
        return
    columns = [f"col{j}" for j in range(ncols)]
    names = {r[0] for r in db.execute(f"describe {table}").fetchall()}
    assert set(columns) <= names, f"columns {sorted(names)} for a header of {columns}\n{data[:400]!r}"
    for row in db.execute(f"select {', '.join(columns)} from {table}").fetchall():
        for j, value in enumerate(row):
            if value is None:
                continue
            bare = value.replace('"', "").lstrip()
            # a delimiter added inside a quoted value is text (no reader can tell): `c;1_` is col1's value
            bare = bare[:4].replace(delimiter, "") + bare[4:]
            assert bare.startswith(f"c{j}_"), f"{value!r} under col{j}\n{data[:400]!r}"


def test_zz_record_property_counts() -> None:
    """Runs after the property test (same module, file order): its totals for docs/reliability.md."""
    assert OUTCOMES["files"] >= 100
    record("test_rows_property", bad_inputs=OUTCOMES["files"], rows_checked=OUTCOMES["rows"])
    print(OUTCOMES)
