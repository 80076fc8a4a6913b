"""The raw-layer promises of docs/design.md on a local folder: by name, exactly once, replace, quarantine."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.conftest import leanplum_event, query, run_feeds, write_config, write_ndjson


def _feed(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "leanplum"
    root.mkdir()
    cfg = write_config(
        tmp_path / "feeds.yml", [{"name": "lp", "vendor": "leanplum", "uri": f"file://{root}"}]
    )
    return root, cfg


def _table_digest(db: Path, table: str) -> str:
    rows = query(db, f"select * from raw.{table} order by _source_uri, _source_row")
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_new_and_reordered_columns_load_by_name(tmp_path: Path, warehouse: Path) -> None:
    root, cfg = _feed(tmp_path)
    write_ndjson(root / "dt=2024-05-01" / "a.json", [leanplum_event("e1"), leanplum_event("e2")])
    run_feeds("load", "-c", str(cfg), check=0)
    # a later file: keys in another order and one new key
    later = [
        {"properties": {"time": "2024-05-02 01:00:00.000"}, "new_field": "x", "name": "n", "event_id": "e3"}
    ]
    (root / "dt=20240502").mkdir()
    (root / "dt=20240502" / "b.json").write_text("".join(json.dumps(r) + "\n" for r in later))
    run_feeds("load", "-c", str(cfg), check=0)

    rows = query(
        warehouse,
        "select event_id, name, new_field, _part_dt, _source_row from raw.leanplum__events order by event_id",
    )
    assert rows == [
        ("e1", "(Leanplum) Email Open", None, "2024-05-01", 1),
        ("e2", "(Leanplum) Email Open", None, "2024-05-01", 2),
        ("e3", "n", "x", "20240502", 1),
    ]
    drift = query(
        warehouse,
        "select raw_table, column_name, first_uri from loader.schema_changes where column_name = 'new_field'",
    )
    assert drift == [("leanplum__events", "new_field", f"file://{root}/dt=20240502/b.json")]
    status = run_feeds("status", "-c", str(cfg), check=0)
    assert "new_field" in status.stdout


def test_second_load_loads_nothing_and_changes_nothing(tmp_path: Path, warehouse: Path) -> None:
    root, cfg = _feed(tmp_path)
    for day in range(1, 4):
        write_ndjson(
            root / f"dt=2024-05-0{day}" / "f.json", [leanplum_event(f"e{day}-{i}") for i in range(5)]
        )
    first = run_feeds("load", "-c", str(cfg), check=0)
    assert "15" in first.stdout
    before = _table_digest(warehouse, "leanplum__events")
    ledger_before = query(warehouse, "select count(*) from loader.files")
    second = run_feeds("load", "-c", str(cfg), check=0)
    assert _table_digest(warehouse, "leanplum__events") == before
    assert query(warehouse, "select count(*) from loader.files") == ledger_before
    assert query(warehouse, "select files_loaded, rows_loaded from loader.loads order by started_at") == [
        (3, 15),
        (0, 0),
    ]
    assert "lp" in second.stdout


def test_changed_local_file_replaces_its_rows(tmp_path: Path, warehouse: Path) -> None:
    root, cfg = _feed(tmp_path)
    f = write_ndjson(root / "dt=2024-05-01" / "a.json", [leanplum_event("old1"), leanplum_event("old2")])
    write_ndjson(root / "dt=2024-05-01" / "b.json", [leanplum_event("keep")])
    run_feeds("load", "-c", str(cfg), check=0)
    write_ndjson(f, [leanplum_event("new1")])
    os.utime(f, (1_800_000_000, 1_800_000_000))  # a new mtime even on coarse clocks
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select event_id from raw.leanplum__events order by 1") == [("keep",), ("new1",)]
    assert query(
        warehouse, "select status, rows from loader.files where uri like '%a.json' order by loaded_at, status"
    ) == [("replaced", 2), ("loaded", 1)]


def test_invalid_json_is_quarantined_and_the_rest_loads(tmp_path: Path, warehouse: Path) -> None:
    root, cfg = _feed(tmp_path)
    write_ndjson(root / "dt=2024-05-01" / "good1.json", [leanplum_event("g1")])
    bad = root / "dt=2024-05-01" / "bad.json"
    bad.write_text(json.dumps(leanplum_event("b1")) + "\n" + '{"event_id": "b2", "name": \n')
    write_ndjson(root / "dt=2024-05-02" / "good2.json", [leanplum_event("g2")])
    proc = run_feeds("load", "-c", str(cfg), check=1)
    assert "bad.json" in proc.stderr and "line" in proc.stderr
    assert query(warehouse, "select event_id from raw.leanplum__events order by 1") == [("g1",), ("g2",)]
    quarantined = query(warehouse, "select uri, error from loader.files where status = 'quarantined'")
    assert len(quarantined) == 1 and quarantined[0][0].endswith("bad.json") and "JSON" in quarantined[0][1]
    status = run_feeds("status", "-c", str(cfg), check=0)
    assert "bad.json" in status.stdout
    # unchanged, it stays quarantined; a fixed version loads
    run_feeds("load", "-c", str(cfg), check=0)
    write_ndjson(bad, [leanplum_event("b1"), leanplum_event("b2")])
    os.utime(bad, (1_800_000_000, 1_800_000_000))
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from raw.leanplum__events") == [(4,)]


def test_gzip_is_detected_by_magic_bytes(tmp_path: Path, warehouse: Path) -> None:
    import gzip

    root, cfg = _feed(tmp_path)
    target = root / "sub" / "dt=2024-05-01" / "events-0001"  # no extension at all
    target.parent.mkdir(parents=True)
    target.write_bytes(
        gzip.compress(b"".join(json.dumps(leanplum_event(f"z{i}")).encode() + b"\n" for i in range(3)))
    )
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*), min(_part_dt) from raw.leanplum__events") == [(3, "2024-05-01")]


def test_every_json_key_lands_in_every_layout(tmp_path: Path, warehouse: Path) -> None:
    """Keys are listed from every record, not a sample, whatever the layout: one object per line (CRLF, blank
    lines, gzip), a JSON array on one line, pretty-printed records. A key first seen on a file's last record
    becomes a column in each case."""
    import gzip

    root, cfg = _feed(tmp_path)
    day = root / "dt=2024-05-01"
    day.mkdir()
    many = [leanplum_event(f"n{i}") for i in range(3000)]
    many.append({**leanplum_event("n-last"), "late_ndjson": {"k": [1, 2.5]}})
    (day / "lines.json").write_text("\r\n\r\n".join(json.dumps(r) for r in many) + "\r\n")
    zipped = [leanplum_event("z1"), {**leanplum_event("z2"), "late_gzip": 7}]
    (day / "zipped.json.gz").write_bytes(gzip.compress("\n".join(json.dumps(r) for r in zipped).encode()))
    run_feeds("load", "-c", str(cfg), check=0)  # one object per line: the keys come from the lines
    # a second run, so these layouts are a batch of their own: the keys come from the record reader
    array = [leanplum_event("a1"), {**leanplum_event("a2"), "late_array": "x"}]
    (day / "array.json").write_text(json.dumps(array))
    pretty = [leanplum_event("p1"), {**leanplum_event("p2"), "late_pretty": True}]
    (day / "pretty.json").write_text("\n".join(json.dumps(r, indent=2) for r in pretty))
    run_feeds("load", "-c", str(cfg), check=0)

    got = dict(
        query(
            warehouse,
            "select event_id, coalesce(late_ndjson, late_gzip, late_array, late_pretty) from raw.leanplum__events"
            " where event_id in ('n-last', 'z2', 'a2', 'p2')",
        )
    )
    assert got == {"n-last": '{"k":[1,2.5]}', "z2": "7", "a2": "x", "p2": "true"}
    assert query(warehouse, "select count(*), count(distinct event_id) from raw.leanplum__events") == [
        (3007, 3007)
    ]
    # row numbers count records, blank lines aside
    assert query(warehouse, "select _source_row from raw.leanplum__events where event_id = 'n-last'") == [
        (3001,)
    ]
