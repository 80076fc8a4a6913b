"""Every row accounted for (issue 12): hostile CSV files, each with its outcome (docs/reliability.md).

One `feeds load` of all the single-file cases (each in its own Sailthru-shaped folder, so its own raw table),
then the cases that need a run of their own: a file re-sent empty or with a broken header, a file that
vanishes or changes while it is read, bad entries in the listing, one folder under two spellings or names.
Every loaded file is checked against a record count made here with the counter's Python twin: rows in raw +
rows in rejects = records in the file.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loaders import csvcount
from tests.conftest import REPO, query, run_feeds, write_config
from tests.reliability import record

HEADER = "message_id,event_id,event_time"
ROWS = [f"m{i},e{i},2024-05-01 10:00:0{i}" for i in range(3)]


def _csv(root: Path, case: str, data: bytes | str, name: str = "part-00000001.csv") -> Path:
    path = root / case / "dt=20240501" / "client_id=0000" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _lines(*rows: str, header: str = HEADER, end: str = "\n") -> str:
    return end.join([header, *rows]) + end


def _records(data: bytes, delimiter: str = ",") -> int:
    """The records of a file by the counter's Python twin (neither DuckDB nor the tolerant reader)."""
    return csvcount.count_chunks([data], delimiter=delimiter, python=True).records


class Run:
    def __init__(self, warehouse: Path, proc: subprocess.CompletedProcess) -> None:
        self.warehouse, self.code, self.stderr = warehouse, proc.returncode, proc.stderr

    def q(self, sql: str, params: list | None = None) -> list[tuple]:
        return query(self.warehouse, sql, params)

    def ledger(self, case: str) -> list[tuple]:
        return self.q(
            "select status, rows, error from loader.files where uri like ? order by loaded_at",
            [f"%/{case}/%"],
        )

    def rejects(self, case: str) -> list[tuple]:
        return self.q(
            "select line, reason from loader.rejects where uri like ? order by line", [f"%/{case}/%"]
        )

    def raw(self, case: str, columns: str = "message_id, event_id, event_time, _source_row") -> list[tuple]:
        return self.q(f"select {columns} from raw.sailthru__{case} order by _source_row")

    def tables(self) -> set[str]:
        return {r[0] for r in self.q("select table_name from information_schema.tables")}


def _load(config: Path, warehouse: Path, env: dict[str, str] | None = None) -> Run:
    return Run(
        warehouse,
        run_feeds("load", "-c", str(config), env={"ENGAGEMENT_DUCKDB": str(warehouse), **(env or {})}),
    )


CASES: dict[str, bytes] = {
    # a stray quote in the header: DuckDB read 0 rows and no reject, exit 0
    "stray_quote_header": _lines(*ROWS, header='message_id,"event_id,event_time').encode(),
    # one delimiter too many, its last field empty: the row used to load shifted
    "trailing_delimiter": _lines(ROWS[0], "m1,,e1,", ROWS[2]).encode(),
    # a header missing one delimiter: every value under the wrong name
    "header_missing_delimiter": _lines(*ROWS, header="message_id,event_id event_time").encode(),
    "semicolon": _lines(*(r.replace(",", ";") for r in ROWS), header=HEADER.replace(",", ";")).encode(),
    "tab_in_csv": _lines(*(r.replace(",", "\t") for r in ROWS), header=HEADER.replace(",", "\t")).encode(),
    "pipe": _lines(*(r.replace(",", "|") for r in ROWS), header=HEADER.replace(",", "|")).encode(),
    "comma_space": _lines(*(r.replace(",", ", ") for r in ROWS), header=HEADER.replace(",", ", ")).encode(),
    "preamble": ("Sailthru export\r\ngenerated 2024-05-02\r\n" + _lines(*ROWS, end="\r\n")).encode(),
    "backslash_escape": _lines('m0,"e0 \\"quoted\\", here",t0', ROWS[1], ROWS[2]).encode(),
    # a NUL byte far past the first 8 KB: it used to load silently
    "nul_late": _lines(
        *[f"m{i},e{i},t{i}" for i in range(500)], "m500,e\x00500,t500", "m501,e501,t501"
    ).encode(),
    # a reject that swallows lines (a multi-line quoted field in a row with too many fields)
    "multiline_reject": _lines(ROWS[0], 'm1,"e1\nstill e1\nand more",t1,extra', ROWS[2]).encode(),
    "bom_crlf": b"\xef\xbb\xbf" + _lines(*ROWS, end="\r\n").encode(),
    # one column of joined values, in no dialect
    "one_column": b"message_id event_id event_time\nm0 e0 t0\n",
    # a 3 MB last row without a line end (past DuckDB's 2 MB strict line limit)
    "long_last_row": (_lines(ROWS[0]) + "m1,e1," + "y" * 3_000_000).encode(),
    # the 228 KB file of 10,000 columns: over max_columns (5,000 by default)
    "too_wide": (
        ",".join(["message_id", "event_id", "event_time", *(f"c{i}" for i in range(3, 10000))])
        + "".join("\n" + ",".join(str(r) * 10000) for r in range(8))
        + "\n"
    ).encode(),
    # a 2 MiB first line: no header
    "long_header": b"h" * (2 << 20) + b"\n1\n",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("rows")
    root = tmp / "sailthru"
    for case, data in CASES.items():
        _csv(root, case, data)
    # 100 MB of one line in a 100 kB gzip: over the ratio limit (100 x its size, at least 64 MiB)
    bomb = gzip.compress(b"message_id\n" + b"a" * (100 << 20), 1)
    _csv(root, "gzip_one_line", bomb, "part-00000001.csv.gz")
    cfg = write_config(tmp / "feeds.yml", [{"name": "st", "vendor": "sailthru", "uri": root.as_uri()}])
    run = _load(cfg, tmp / "wh" / "engagement.duckdb")
    record("test_rows_hostile", bad_inputs=len(CASES) + 1)
    return run


def _accounted(run: Run, case: str) -> None:
    """Rows in raw + rejects = the file's records, by the independent count."""
    ((status, rows, _),) = run.ledger(case)
    assert status == "loaded"
    delimiter = {"semicolon": ";", "tab_in_csv": "\t", "pipe": "|"}.get(case, ",")
    data = CASES[case]
    if case == "preamble":
        data = data.split(b"\r\n", 2)[2]
    raw = run.q(f"select count(*) from raw.sailthru__{case}")[0][0]
    assert raw == rows
    assert raw + len(run.rejects(case)) == _records(data, delimiter)


def test_exit_code_and_summary(hostile: Run) -> None:
    assert hostile.code == 1, hostile.stderr
    assert "Traceback" not in hostile.stderr


def test_stray_quote_in_the_header_quarantines_the_file(hostile: Run) -> None:
    ((status, rows, error),) = hostile.ledger("stray_quote_header")
    assert (status, rows) == ("quarantined", 0)
    assert "never closed" in error
    assert "sailthru__stray_quote_header" not in hostile.tables()


def test_a_trailing_delimiter_is_a_field_more_and_the_row_is_rejected(hostile: Run) -> None:
    assert hostile.raw("trailing_delimiter") == [
        ("m0", "e0", "2024-05-01 10:00:00", 1),
        ("m2", "e2", "2024-05-01 10:00:02", 3),
    ]
    assert hostile.rejects("trailing_delimiter") == [
        (3, "TOO MANY COLUMNS: 4 fields where the header has 3 (a value is never shifted)")
    ]
    _accounted(hostile, "trailing_delimiter")


def test_a_header_missing_a_delimiter_quarantines_the_file(hostile: Run) -> None:
    ((status, _, error),) = hostile.ledger("header_missing_delimiter")
    assert status == "quarantined"
    assert "the header has 2 fields but 3 of 3 records have more" in error
    assert "sailthru__header_missing_delimiter" not in hostile.tables()


@pytest.mark.parametrize(
    ("case", "described"),
    [
        ("semicolon", "semicolon"),
        ("tab_in_csv", "tab"),
        ("pipe", "pipe"),
        ("comma_space", "comma and space"),
        ("preamble", "2 preamble line(s)"),
        ("backslash_escape", "escape '\\\\'"),
    ],
)
def test_other_dialects_load_in_their_columns_and_the_dialect_is_recorded(
    hostile: Run, case: str, described: str
) -> None:
    ((status, rows, note),) = hostile.ledger(case)
    assert status == "loaded" and rows == 3 and "dialect detected" in note and described in note, note
    got = hostile.raw(case)
    if case == "backslash_escape":
        assert got[0] == ("m0", 'e0 "quoted", here', "t0", 1)
        return
    assert got == [(f"m{i}", f"e{i}", f"2024-05-01 10:00:0{i}", i + 1) for i in range(3)]
    _accounted(hostile, case)


def test_a_nul_byte_anywhere_rejects_its_row(hostile: Run) -> None:
    assert hostile.rejects("nul_late") == [(502, "NUL BYTE: a NUL byte in a value")]
    assert hostile.q("select count(*), max(_source_row) from raw.sailthru__nul_late") == [(501, 502)]
    assert hostile.raw("nul_late")[-1] == ("m501", "e501", "t501", 502)
    _accounted(hostile, "nul_late")


def test_rows_after_a_reject_spanning_lines_keep_their_record_number(hostile: Run) -> None:
    assert [r[0] for r in hostile.rejects("multiline_reject")] == [3]  # the line the record starts on
    assert hostile.raw("multiline_reject") == [
        ("m0", "e0", "2024-05-01 10:00:00", 1),
        ("m2", "e2", "2024-05-01 10:00:02", 3),
    ]
    _accounted(hostile, "multiline_reject")


def test_bom_and_crlf_load_plainly(hostile: Run) -> None:
    assert hostile.raw("bom_crlf") == [(f"m{i}", f"e{i}", f"2024-05-01 10:00:0{i}", i + 1) for i in range(3)]
    ((_, _, note),) = hostile.ledger("bom_crlf")
    assert note is None  # the documented dialect: the strict reader loaded it


def test_never_a_one_column_table_of_joined_values(hostile: Run) -> None:
    ((status, _, error),) = hostile.ledger("one_column")
    assert status == "quarantined" and "one column" in error
    assert "sailthru__one_column" not in hostile.tables()


def test_a_long_last_row_loads_whole(hostile: Run) -> None:
    got = hostile.raw("long_last_row", "message_id, length(event_time), _source_row")
    assert got == [("m0", 19, 1), ("m1", 3_000_000, 2)]
    _accounted(hostile, "long_last_row")


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("too_wide", "the header has 10000 columns, over max_columns (5000)"),
        ("long_header", "the first line is longer than 1048576 bytes"),
        ("gzip_one_line", "max_decompressed_ratio"),
    ],
)
def test_resource_bounds_quarantine_with_the_figure(hostile: Run, case: str, why: str) -> None:
    ((status, _, error),) = hostile.ledger(case)
    assert status == "quarantined" and why in error, error
    assert f"sailthru__{case}" not in hostile.tables()


# ---------------------------------------------------------------- cases with runs of their own


def _feed(tmp: Path, name: str = "st", uri: str | None = None) -> Path:
    return write_config(
        tmp / "feeds.yml", [{"name": name, "vendor": "sailthru", "uri": uri or (tmp / "sailthru").as_uri()}]
    )


def test_a_loaded_file_re_sent_empty_or_with_a_broken_header_keeps_its_rows(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "engagement.duckdb"
    path = _csv(tmp_path / "sailthru", "resent", _lines(*ROWS))
    cfg = _feed(tmp_path)
    assert _load(cfg, wh).code == 0
    path.write_bytes(b"")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    run = _load(cfg, wh)
    assert run.code == 1
    assert [r[:2] for r in run.ledger("resent")] == [("loaded", 3), ("quarantined", 0)]
    assert "now 0 bytes: suspicious" in run.ledger("resent")[1][2]
    assert len(run.raw("resent")) == 3
    path.write_text(_lines(*ROWS, header='message_id,"event_id,event_time'))
    run = _load(cfg, wh)
    assert run.code == 1
    assert [r[0] for r in run.ledger("resent")] == ["loaded", "quarantined", "quarantined"]
    assert len(run.raw("resent")) == 3  # the re-sent copy with a broken header deletes nothing


def _pause_and(tmp: Path, cfg: Path, wh: Path, point: str, action) -> subprocess.CompletedProcess:
    """Run `feeds load` paused at a fault point, do `action` to the files, let it go on."""
    marker = tmp / "paused"
    env = {
        **os.environ,
        "ENGAGEMENT_DUCKDB": str(wh),
        "FEEDS_FAULT": f"{point}:pause",
        "FEEDS_FAULT_PAUSE_FILE": str(marker),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "loaders.cli", "load", "-c", str(cfg)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    action()
    marker.unlink()
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_file_gone_between_listing_and_reading_is_taken_next_run(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "engagement.duckdb"
    gone = _csv(tmp_path / "sailthru", "vanish", _lines(*ROWS))
    _csv(tmp_path / "sailthru", "stays", _lines(*ROWS))
    saved = gone.read_bytes()
    cfg = _feed(tmp_path)
    proc = _pause_and(tmp_path, cfg, wh, "after_list", gone.unlink)
    assert proc.returncode == 1, proc.stderr
    assert "disappeared while it was read; retried on the next run" in proc.stderr
    run = Run(wh, proc)
    assert run.ledger("vanish") == []  # not quarantined: nothing to hold against the next run
    assert len(run.raw("stays")) == 3
    gone.write_bytes(saved)
    run = _load(cfg, wh)
    assert run.code == 0 and [r[:2] for r in run.ledger("vanish")] == [("loaded", 3)]


def test_a_file_growing_while_read_is_retried_in_its_new_version(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "engagement.duckdb"
    path = _csv(tmp_path / "sailthru", "grows", _lines(*ROWS))
    cfg = _feed(tmp_path)

    def grow() -> None:
        with open(path, "a") as fh:
            fh.write("m3,e3,cut")

    proc = _pause_and(tmp_path, cfg, wh, "after_insert", grow)
    assert proc.returncode == 1, proc.stderr
    assert "changed or disappeared while read" in proc.stderr
    run = Run(wh, proc)
    assert run.ledger("grows") == []
    assert run.q("select count(*) from raw.sailthru__grows") == [(0,)]
    with open(path, "a") as fh:
        fh.write("\n")
    run = _load(cfg, wh)
    assert run.code == 0 and [r[:2] for r in run.ledger("grows")] == [("loaded", 4)]


def test_listing_reports_bad_entries_and_loads_the_rest(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "engagement.duckdb"
    root = tmp_path / "sailthru"
    _csv(root, "fine", _lines(*ROWS))
    folder = root / "fine" / "dt=20240501" / "client_id=0000"
    (folder / "part-00000009.csv").symlink_to(folder / "nowhere.csv")  # dangling
    (folder / "loop").symlink_to(root)  # a loop back to the feed's folder
    os.makedirs(os.fsencode(folder) + b"/bad-\xff-name", exist_ok=True)
    with open(os.fsencode(folder) + b"/part-\xff.csv", "wb") as fh:
        fh.write(_lines(*ROWS).encode())
    other = tmp_path / "other" / "sailthru"
    _csv(other, "elsewhere", _lines(*ROWS))
    cfg = write_config(
        tmp_path / "feeds.yml",
        [
            {"name": "st", "vendor": "sailthru", "uri": root.as_uri()},
            {"name": "st2", "vendor": "sailthru", "uri": other.as_uri()},
        ],
    )
    run = _load(cfg, wh)
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "a link to nothing (dangling)" in run.stderr
    assert "a loop" in run.stderr
    assert "the file name is not UTF-8" in run.stderr
    assert len(run.raw("fine")) == 3 and len(run.raw("elsewhere")) == 3


def test_one_file_one_load_whatever_the_spelling_or_the_feed_name(tmp_path: Path) -> None:
    wh = tmp_path / "wh" / "engagement.duckdb"
    root = tmp_path / "sailthru"
    _csv(root, "once", _lines(*ROWS))
    assert _load(_feed(tmp_path), wh).code == 0
    link = tmp_path / "link"
    link.symlink_to(root)
    for name, uri in (
        ("st", f"file://{tmp_path}/sailthru/../sailthru"),
        ("st", link.as_uri()),
        ("renamed", root.as_uri() + "/"),
    ):
        run = _load(_feed(tmp_path, name, uri), wh)
        assert run.code == 0, run.stderr
        assert len(run.raw("once")) == 3
        assert [r[:2] for r in run.ledger("once")] == [("loaded", 3)]


def test_two_feeds_over_one_folder_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "sailthru"
    root.mkdir()
    cfg = write_config(
        tmp_path / "feeds.yml",
        [
            {"name": "a", "vendor": "sailthru", "uri": root.as_uri()},
            {"name": "b", "vendor": "sailthru", "uri": f"file://{tmp_path}/./sailthru/"},
        ],
    )
    proc = run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(tmp_path / "w.duckdb")})
    assert proc.returncode == 2
    assert "feed 'b': key 'uri'" in proc.stderr and "two feeds over one folder" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("feeds_yml", "expected"),
    [
        ("max_batch_files: 0", "key 'max_batch_files'"),
        ("max_batch_bytes: 0", "key 'max_batch_bytes'"),
    ],
)
def test_config_values_that_used_to_crash_are_one_line_errors(
    tmp_path: Path, feeds_yml: str, expected: str
) -> None:
    cfg = tmp_path / "feeds.yml"
    cfg.write_text(
        f"feeds:\n  - name: a\n    vendor: sailthru\n    uri: {tmp_path.as_uri()}\n    {feeds_yml}\n"
    )
    proc = run_feeds("load", "-c", str(cfg))
    assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr


def test_a_config_path_that_is_a_folder_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run_feeds("load", "-c", str(tmp_path))
    assert proc.returncode == 2 and "is a folder" in proc.stderr and "Traceback" not in proc.stderr
