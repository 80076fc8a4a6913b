"""Bad files, each with its documented outcome (docs/reliability.md), from one `feeds load` of them all.

Every case sits in its own Sailthru-shaped folder, so it lands in its own raw table (`sailthru__<case>`) and
can be checked alone: bad rows go to `loader.rejects` with file, line and reason and the good rows of the
file load; a file that cannot be read at all is quarantined with its reason; the rest of the run loads.
The count promise is checked per file: rows in raw + rows in rejects = data rows written.
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import query, run_feeds, write_config
from tests.reliability import record

HEADER = "message_id,event_id,event_time"
GOOD_ROWS = [f"m{i},e{i},2024-05-01 10:00:0{i}" for i in range(3)]


def _csv(root: Path, case: str, data: bytes | str, name: str = "part-00000001.csv") -> Path:
    path = root / "sailthru" / case / "dt=20240501" / "client_id=0000" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _lines(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


class Load:
    def __init__(self, root: Path, warehouse: Path, stdout: str, stderr: str, code: int) -> None:
        self.root, self.warehouse, self.stdout, self.stderr, self.code = root, warehouse, stdout, stderr, code

    def q(self, sql: str, params: list | None = None) -> list[tuple]:
        return query(self.warehouse, sql, params)

    def ledger(self, case: str) -> list[tuple]:
        return self.q(
            "select status, rows, error from loader.files where uri like ? order by uri", [f"%/{case}/%"]
        )

    def rejects(self, case: str) -> list[tuple]:
        return self.q(
            "select line, reason, content from loader.rejects where uri like ? order by line", [f"%/{case}/%"]
        )

    def raw(self, case: str, columns: str = "message_id, _source_row") -> list[tuple]:
        return self.q(f"select {columns} from raw.sailthru__{case} order by _source_row")

    def accounted(self, case: str, written: int) -> None:
        """Rows in raw + rows in rejects = data rows written: none lost, none counted twice."""
        raw = self.q(f"select count(*) from raw.sailthru__{case}")[0][0]
        rejected = len(self.rejects(case))
        assert raw + rejected == written, f"{case}: {raw} raw + {rejected} rejected != {written} written"


@pytest.fixture(scope="module")
def load(tmp_path_factory: pytest.TempPathFactory) -> Load:
    tmp = tmp_path_factory.mktemp("badinput")
    root = tmp / "feeds"
    rng = random.Random(6)

    _csv(root, "good", _lines(*GOOD_ROWS))
    data = bytearray(gzip.compress(_lines(*GOOD_ROWS).encode() * 50))
    data[20:40] = bytes(20)  # the deflate stream is broken, the magic bytes are not
    _csv(root, "corrupt_gzip", bytes(data), "part-00000001.csv.gz")
    _csv(
        root,
        "invalid_utf8",
        _lines(GOOD_ROWS[0]).encode() + b"m1,e1,\xff\xfe caf\xe9\n" + GOOD_ROWS[2].encode() + b"\n",
    )
    _csv(root, "ragged", _lines(GOOD_ROWS[0], "m1,e1", "m2,e2,t,extra", GOOD_ROWS[2].replace("m2", "m3")))
    _csv(root, "unterminated_quote", _lines(GOOD_ROWS[0], GOOD_ROWS[1], 'm2,e2,"2024-05-01', "m3,e3,t3"))
    _csv(root, "long_field", _lines(GOOD_ROWS[0], "m1,e1," + "x" * 10_000_000, GOOD_ROWS[2]))
    _csv(root, "empty", b"")
    _csv(root, "header_only", HEADER + "\n")
    garbage = bytearray(range(256)) * 16
    rng.shuffle(garbage)
    _csv(root, "binary_garbage", bytes(garbage))
    wide = [f"c{i}" for i in range(2000)]
    _csv(root, "wide", ",".join(wide) + "\n" + ",".join(str(i) for i in range(2000)) + "\n")
    _csv(root, "duplicate_headers", "a,b,a,a\n1,2,3,4\n")
    _csv(root, "case_headers", "Email,email,EMAIL\n1,2,3\n")
    _csv(root, "case_across_files", "Name,x\n1,2\n", "part-00000001.csv")
    _csv(root, "case_across_files", "name,x\n3,4\n", "part-00000002.csv")
    # the strict pass refuses a row; the tolerant pass still needs the header's duplicates named as DuckDB does
    _csv(root, "duplicate_headers_ragged", "a,A,b\n1,2,3\n4,5\n6,7,8\n")

    # a limit of 100 kB on its own feed: a 1 kB gzip that inflates to 300 kB is refused unread
    small = root / "small_limit"
    bomb = gzip.compress(_lines(*(GOOD_ROWS * 4000)).encode())
    path = small / "bomb" / "dt=20240501" / "client_id=0000" / "part-00000001.csv.gz"
    path.parent.mkdir(parents=True)
    path.write_bytes(bomb)
    fine = small / "fine" / "dt=20240501" / "client_id=0000" / "part-00000001.csv"
    fine.parent.mkdir(parents=True)
    fine.write_text(_lines(*GOOD_ROWS))

    leanplum = root / "leanplum" / "dt=2024-05-01"
    leanplum.mkdir(parents=True)
    table = pa.table({"event_id": ["p1", "p2"], "name": ["a", "b"], "time": [1714557600000, 1714557600001]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    (leanplum / "truncated.parquet").write_bytes(buf.getvalue()[:-40])
    whole = root / "leanplum" / "dt=2024-05-02"
    whole.mkdir(parents=True)
    pq.write_table(table, whole / "whole.parquet")

    warehouse = tmp / "wh" / "engagement.duckdb"
    cfg = write_config(
        tmp / "feeds.yml",
        [
            {"name": "st", "vendor": "sailthru", "uri": (root / "sailthru").as_uri()},
            {
                "name": "st_small",
                "vendor": "sailthru",
                "uri": small.as_uri(),
                "max_decompressed_bytes": 100_000,
            },
            {"name": "lp", "vendor": "leanplum", "uri": (root / "leanplum").as_uri()},
        ],
    )
    proc = run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(warehouse)})
    record("test_badinput", bad_inputs=15)
    return Load(root, warehouse, proc.stdout, proc.stderr, proc.returncode)


def test_the_run_goes_on_and_exits_1_with_a_summary(load: Load) -> None:
    assert load.code == 1, load.stderr
    assert load.raw("good") == [("m0", 1), ("m1", 2), ("m2", 3)]
    for case in ("corrupt_gzip", "binary_garbage", "truncated.parquet", "bomb"):
        assert case in load.stderr, f"{case} not named in the summary:\n{load.stderr}"
    assert "rejected rows:" in load.stderr and "ragged" in load.stderr
    statuses = load.q("select status, count(*) from loader.files group by 1 order by 1")
    assert statuses == [("loaded", 15), ("quarantined", 4)], statuses


def test_corrupt_gzip_is_quarantined(load: Load) -> None:
    ((status, rows, error),) = load.ledger("corrupt_gzip")
    assert (status, rows) == ("quarantined", 0) and "decompress" in error and "corrupt_gzip" in error
    assert not load.q("select * from information_schema.tables where table_name = 'sailthru__corrupt_gzip'")


def test_truncated_parquet_is_quarantined_and_the_whole_one_loads(load: Load) -> None:
    rows = load.q("select uri, status, error from loader.files where feed = 'lp' order by uri")
    assert [(u.rsplit("/", 1)[1], s) for u, s, _ in rows] == [
        ("truncated.parquet", "quarantined"),
        ("whole.parquet", "loaded"),
    ]
    assert "truncated.parquet" in rows[0][2]
    assert load.q("select event_id from raw.leanplum__events_parquet order by 1") == [("p1",), ("p2",)]


def test_invalid_utf8_row_is_rejected_with_its_line(load: Load) -> None:
    assert load.raw("invalid_utf8") == [("m0", 1), ("m2", 3)]
    ((line, reason, _),) = load.rejects("invalid_utf8")
    assert line == 3 and "INVALID ENCODING" in reason
    ((status, rows, note),) = load.ledger("invalid_utf8")
    assert (status, rows) == ("loaded", 2) and "1 rows rejected" in note
    load.accounted("invalid_utf8", 3)


def test_ragged_rows_are_rejected_and_row_numbers_stay_true(load: Load) -> None:
    assert load.raw("ragged") == [("m0", 1), ("m3", 4)]
    rejects = load.rejects("ragged")
    assert [(line, reason.split(":")[0]) for line, reason, _ in rejects] == [
        (3, "MISSING COLUMNS"),
        (4, "TOO MANY COLUMNS"),
    ]
    assert rejects[0][2] == "m1,e1" and rejects[1][2] == "m2,e2,t,extra"
    load.accounted("ragged", 4)


def test_unterminated_quote_rejects_the_rest_of_the_file_as_one_row(load: Load) -> None:
    assert load.raw("unterminated_quote") == [("m0", 1), ("m1", 2)]
    ((line, reason, content),) = load.rejects("unterminated_quote")
    assert line == 4 and "UNQUOTED VALUE" in reason and "m2,e2" in content
    # CSV itself makes the rest of the file one quoted value: the reject holds those lines, nothing is dropped
    load.accounted("unterminated_quote", 3)


def test_a_10mb_field_loads_whole(load: Load) -> None:
    assert load.q(
        "select message_id, length(event_time) from raw.sailthru__long_field order by _source_row"
    ) == [
        ("m0", 19),
        ("m1", 10_000_000),
        ("m2", 19),
    ]
    assert load.rejects("long_field") == []


def test_empty_and_header_only_files_load_zero_rows(load: Load) -> None:
    assert load.ledger("empty") == [("loaded", 0, None)]
    assert load.ledger("header_only") == [("loaded", 0, None)]
    assert load.raw("header_only") == []
    columns = [r[0] for r in load.q("describe raw.sailthru__header_only")]
    assert {"message_id", "event_id", "event_time"} <= set(columns)


def test_binary_garbage_named_csv_is_quarantined_before_any_column_is_made(load: Load) -> None:
    ((status, _, error),) = load.ledger("binary_garbage")
    assert status == "quarantined" and "binary content" in error
    assert not load.q("select * from information_schema.tables where table_name = 'sailthru__binary_garbage'")


def test_file_over_the_decompressed_limit_is_quarantined_unread(load: Load) -> None:
    ((status, _, error),) = load.ledger("bomb")
    assert status == "quarantined" and "max_decompressed_bytes (100000" in error
    assert load.ledger("fine") == [("loaded", 3, None)]


def test_two_thousand_columns_load(load: Load) -> None:
    columns = [r[0] for r in load.q("describe raw.sailthru__wide")]
    assert [c for c in columns if c.startswith("c")] == [f"c{i}" for i in range(2000)]
    assert load.q('select "c0", "c1999" from raw.sailthru__wide') == [("0", "1999")]


def test_duplicate_headers_get_duckdb_suffixes(load: Load) -> None:
    assert load.q("select a, b, a_1, a_2 from raw.sailthru__duplicate_headers") == [("1", "2", "3", "4")]
    # the tolerant pass names them the same way, so the good rows of a bad file land in the same columns
    assert load.q(
        'select a, "A_1", b, _source_row from raw.sailthru__duplicate_headers_ragged order by 4'
    ) == [
        ("1", "2", "3", 1),
        ("6", "7", "8", 3),
    ]
    load.accounted("duplicate_headers_ragged", 3)


def test_headers_differing_only_in_case(load: Load) -> None:
    # within one file DuckDB keeps them apart with suffixes; across files they are one column (by name,
    # case-insensitively, as docs/design.md promises)
    assert load.q('select "Email", email_1, "EMAIL_2" from raw.sailthru__case_headers') == [("1", "2", "3")]
    columns = [r[0] for r in load.q("describe raw.sailthru__case_across_files")]
    assert [c for c in columns if c.lower() == "name"] == ["Name"]
    assert load.q('select "Name" from raw.sailthru__case_across_files order by 1') == [("1",), ("3",)]
