"""A file without its vendor's key columns is quarantined, not loaded, with a message that names the columns
found; the other files of its batch still load. Every reader is covered: CSV, JSON, Parquet."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from loaders.vendors import get_layout
from tests.conftest import leanplum_event, query, run_feeds, write_config, write_ndjson
from tests.servers.test_silent_skips import HEADER, feed, simon_file


def quarantined(db: Path) -> dict[str, str]:
    rows = query(db, "select uri, error from loader.files where status = 'quarantined'")
    return {uri.rsplit("/", 1)[-1]: error for uri, error in rows}


def test_every_layout_declares_its_key_columns() -> None:
    assert get_layout("simon").required_columns("simon__flow_events") == (
        "identifier",
        "timestamp",
        "operation",
    )
    assert "correlation_id" in get_layout("apsis").required_columns("apsis__email_events")
    assert get_layout("sailthru").required_columns("sailthru__campaign_open") == ("message_id", "event_time")
    assert (
        get_layout("sailthru").required_columns("sailthru__some_new_table") == ()
    )  # unknown: nothing to ask
    assert get_layout("leanplum").required_columns("leanplum__events_parquet") == ("event_id", "name", "time")
    assert get_layout("encharge").required_columns("encharge__events") == ("event", "timestamp")


def test_simon_csv_without_operation_is_quarantined_naming_the_columns(
    tmp_path: Path, warehouse: Path
) -> None:
    root = tmp_path / "simon"
    good = simon_file(root / "flows/2024/03/07", "winback", 3, seq=1)
    bad = simon_file(root / "flows/2024/03/07", "winback", 2, seq=2)
    text = bad.read_text().splitlines()
    bad.write_text("\n".join(",".join(c for c in line.split(",")[:6]) for line in text) + "\n")
    cfg = write_config(tmp_path / "feeds.yml", [feed("simon", "simon", root)])

    proc = run_feeds("load", "-c", str(cfg), check=1)
    error = quarantined(warehouse)[bad.name]
    assert "lacks the column(s) operation" in error
    assert (
        "columns found: 'identifier', 'timestamp', 'segment_name', 'flow_name', 'action', 'variant'" in error
    )
    assert bad.name in proc.stderr and "lacks the column(s) operation" in proc.stderr
    assert query(warehouse, "select distinct _source_uri from raw.simon__flow_events") == [
        (f"file://{good}",)
    ]


def test_a_tsv_forced_through_format_csv_loads_in_its_columns(tmp_path: Path, warehouse: Path) -> None:
    """Forced to read a TSV as CSV, the loader's dialect detection (issue 12: the documented dialect first, then
    the common ones) finds the tab: the file loads in its columns, never as one long column, and the ledger
    records the dialect used."""
    root = tmp_path / "simon"
    tsv = simon_file(root / "flows/2024/03/07", "winback", 2, "\t", seq=1)
    cfg = write_config(tmp_path / "feeds.yml", [feed("simon", "simon", root, format="csv")])
    run_feeds("load", "-c", str(cfg), check=0)
    assert tsv.name not in quarantined(warehouse)
    columns = {r[0] for r in query(warehouse, "select column_name from information_schema.columns"
                                   " where table_schema = 'raw' and table_name like 'simon__%'")}  # fmt: skip
    assert {"identifier", "timestamp", "operation"} <= columns
    assert "\t".join(HEADER) not in columns
    notes = query(warehouse, "select error from loader.files where status = 'loaded' and uri like $u",
                  {"u": f"%{tsv.name}"})  # fmt: skip
    assert notes and "dialect detected" in (notes[0][0] or ""), notes


def test_json_files_without_event_are_quarantined_and_their_batch_loads(
    tmp_path: Path, warehouse: Path
) -> None:
    root = tmp_path / "encharge"
    day = root / "dt=2024-05-01"
    event = {"event": "email-open", "type": "email", "timestamp": 1714557600000, "user": {"email": "a@x.io"}}
    for i in range(4):
        write_ndjson(day / f"encharge-events-20240501T00000{i}-0a1b2c3d.ndjson", [{**event, "n": i}])
    bad = write_ndjson(day / "encharge-events-20240501T000009-0a1b2c3d.ndjson",
                       [{"name": "email-open", "timestamp": 1714557600000}])  # fmt: skip
    cfg = write_config(tmp_path / "feeds.yml", [feed("encharge", "encharge", root)])
    run_feeds("load", "-c", str(cfg), check=1)
    assert set(quarantined(warehouse)) == {bad.name}
    assert "lacks the column(s) event" in quarantined(warehouse)[bad.name]
    assert "columns found: 'name', 'timestamp'" in quarantined(warehouse)[bad.name]
    assert query(warehouse, "select count(*) from raw.encharge__events") == [(4,)]


@pytest.mark.parametrize("drop", ["event_id", "time"])
def test_parquet_without_a_key_column_is_quarantined(tmp_path: Path, warehouse: Path, drop: str) -> None:
    root = tmp_path / "leanplum"
    (root / "dt=2024-05-01").mkdir(parents=True)
    columns = {"event_id": "'e' || i", "name": "'(Leanplum) Email Open'", "time": "1714557600000 + i",
               "user_id": "'u1'"}  # fmt: skip
    with duckdb.connect() as con:
        for name, cols in (("good", columns), ("bad", {k: v for k, v in columns.items() if k != drop})):
            select = ", ".join(f"{v} as {k}" for k, v in cols.items())
            con.execute(f"copy (select {select} from range(3) t(i)) to '{root}/dt=2024-05-01/{name}.parquet'")
    write_ndjson(root / "dt=2024-05-01/c.json", [leanplum_event("j1")])
    cfg = write_config(tmp_path / "feeds.yml", [feed("lp", "leanplum", root)])
    run_feeds("load", "-c", str(cfg), check=1)
    assert set(quarantined(warehouse)) == {"bad.parquet"}
    assert (
        f"lacks the column(s) {drop} that every leanplum__events_parquet file has"
        in quarantined(warehouse)["bad.parquet"]
    )
    assert query(warehouse, "select count(*) from raw.leanplum__events_parquet") == [(3,)]
    assert query(warehouse, "select count(*) from raw.leanplum__events") == [(1,)]
