"""Hostile names: vendor headers, JSON keys, partition values and remote file names written to break out of
SQL or out of a folder. None reaches SQL unescaped (the raw schema holds exactly the tables it should, a
decoy table survives, the header text is kept verbatim as a column name) and none reaches the disk (the
landing folder and the loader's temporary folder are unchanged; no file appears outside them).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import duckdb

from fixtures.devservers import Moto
from tests.conftest import query, run_feeds, write_config
from tests.reliability import record

INJECTIONS = [
    'x"; drop table raw.decoy; --',
    "x'); drop table raw.decoy; --",
    "a\"b'c`d",
    "select * from raw.decoy",
    "É-mail (version_id: 1); DELETE",
    "  padded  ",
    "$1",
    "?",
]


def _tree(root: Path) -> dict[str, str]:
    """Every file under root with a digest of its bytes and its mtime: "untouched" means equal."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest() + f"-{st.st_mtime_ns}"
            )
    return out


def _decoy(warehouse: Path) -> None:
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    con.execute(
        "create schema raw; create table raw.decoy (v varchar); insert into raw.decoy values ('still here')"
    )
    con.close()


def _csv_line(values: list[str]) -> str:
    return ",".join('"' + v.replace('"', '""') + '"' for v in values)


def test_hostile_headers_keys_partitions_and_local_names(tmp_path: Path, warehouse: Path) -> None:
    _decoy(warehouse)
    landing = tmp_path / "landing"
    st = landing / "sailthru" / "campaign_open" / "dt=20240501" / "client_id=0000"
    st.mkdir(parents=True)
    (st / "part-00000001.csv").write_text(
        _csv_line(["message_id", "event_time", *INJECTIONS])
        + "\n"
        + _csv_line(["m1", "2024-05-01 10:00:00", *map(str, range(len(INJECTIONS)))])
        + "\n"
    )
    # a header colliding with a lineage column, or with the row numbering: quarantined, never mixed in
    clash = landing / "sailthru" / "campaign_click" / "dt=20240501" / "client_id=0000"
    clash.mkdir(parents=True)
    (clash / "part-00000001.csv").write_text("message_id,event_time,_source_uri\nm1,t,file:///etc/passwd\n")
    (clash / "part-00000002.csv").write_text("message_id,event_time,ordinality\nm2,t,999\n")
    (clash / "part-00000003.csv").write_text("message_id,event_time,_Load_Id\nm3,t,forged\n")

    lp = landing / "leanplum"
    hostile_dt = lp / "dt=2024'); drop table raw.decoy; --"
    hostile_dt.mkdir(parents=True)
    event = {"event_id": "e1", "name": "n", "properties": {}, **{k: k for k in INJECTIONS[:4]}}
    (hostile_dt / "x'; drop table raw.decoy; --.json").write_text(json.dumps(event) + "\n")
    (lp / "dt=2024-05-01").mkdir()
    (lp / "dt=2024-05-01" / "line\nbreak.json").write_text(json.dumps({"event_id": "nl"}) + "\n")
    (lp / "dt=2024-05-01" / "fine.json").write_text(
        json.dumps({"event_id": "ok", "name": "n", "properties": {}}) + "\n"
    )

    before = _tree(landing)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    cfg = write_config(
        tmp_path / "feeds.yml",
        [
            {"name": "st", "vendor": "sailthru", "uri": (landing / "sailthru").as_uri()},
            {"name": "lp", "vendor": "leanplum", "uri": (landing / "leanplum").as_uri()},
        ],
    )
    proc = run_feeds(
        "load", "-c", str(cfg), env={"TMPDIR": str(tmpdir), "FEEDS_TMPDIR": str(tmpdir / "duckdb")}
    )
    assert proc.returncode == 2, proc.stderr  # the unsafe name is an error of the run, named
    assert "unsafe remote file name" in proc.stderr and "line\\nbreak.json" in proc.stderr

    assert query(warehouse, "select v from raw.decoy") == [("still here",)]
    tables = {
        t
        for (t,) in query(
            warehouse, "select table_name from information_schema.tables where table_schema = 'raw'"
        )
    }
    assert tables == {"decoy", "sailthru__campaign_open", "leanplum__events"}
    columns = [
        c
        for (c,) in query(
            warehouse,
            "select column_name from information_schema.columns where table_name = 'sailthru__campaign_open' order by ordinal_position",
        )
    ]
    # header text verbatim (DuckDB trims surrounding blanks, as for any header)
    assert [c for c in columns if not c.startswith("_")] == [
        "message_id",
        "event_time",
        *[i.strip() for i in INJECTIONS],
    ]
    quoted = ", ".join(
        '"' + c.replace('"', '""') + '"' for c in ["message_id", *[i.strip() for i in INJECTIONS]]
    )
    assert query(warehouse, f"select {quoted} from raw.sailthru__campaign_open") == [
        ("m1", *map(str, range(len(INJECTIONS))))
    ]

    clashes = query(
        warehouse,
        "select uri, status, error from loader.files where raw_table = 'sailthru__campaign_click' order by uri",
    )
    assert [s for _, s, _ in clashes] == ["quarantined"] * 3
    assert (
        "'_source_uri' collides" in clashes[0][2]
        and "ordinality" in clashes[1][2]
        and "_load_id' collides" in clashes[2][2].lower()
    )

    lp_rows = query(warehouse, "select event_id, _part_dt, _source_uri from raw.leanplum__events order by 1")
    assert lp_rows == [
        ("e1", "2024'); drop table raw.decoy; --", f"file://{hostile_dt}/x'; drop table raw.decoy; --.json"),
        ("ok", "2024-05-01", f"file://{lp}/dt=2024-05-01/fine.json"),
    ]
    keys = {
        c
        for (c,) in query(
            warehouse,
            "select column_name from information_schema.columns where table_name = 'leanplum__events'",
        )
    }
    assert set(INJECTIONS[:4]) <= keys
    assert not query(warehouse, "select * from loader.files where uri like '%line%break%'")

    assert _tree(landing) == before, "the loader changed the landing folder"
    leftovers = [p for p in tmpdir.rglob("*") if p.is_file()]
    assert leftovers == [], f"files left in the temporary folder: {leftovers}"
    record("test_hostile_local", bad_inputs=len(INJECTIONS) + 6)


def test_hostile_s3_keys_are_skipped_and_never_touch_the_disk(
    tmp_path: Path, warehouse: Path, moto: Moto
) -> None:
    bucket = f"hostile-{uuid.uuid4().hex[:10]}"
    client = moto.client()
    client.create_bucket(Bucket=bucket)
    body = json.dumps({"event_id": "evil"}).encode() + b"\n"
    hostile = [
        "leanplum/dt=2024-05-01/../../../../escaped.json",
        "leanplum/dt=2024-05-01/nul\x00byte.json",
        "leanplum/..",
        "leanplum//absolute.json",
        "leanplum/dt=2024-05-01/..\\..\\..\\backslash.json",
    ]
    for key in hostile:
        client.put_object(Bucket=bucket, Key=key, Body=body)
    client.put_object(
        Bucket=bucket,
        Key="leanplum/dt=2024-05-01/x'; drop table raw.decoy; --.json",
        Body=json.dumps({"event_id": "ok", "name": "n", "properties": {}}).encode() + b"\n",
    )
    _decoy(warehouse)
    work = tmp_path / "work"
    tmpdir = work / "tmp"
    tmpdir.mkdir(parents=True)
    feed = {
        "name": "lp",
        "vendor": "leanplum",
        "uri": f"s3://{bucket}/leanplum/",
        "s3": {"endpoint_url": moto.endpoint_url},
    }
    cfg = write_config(tmp_path / "feeds.yml", [feed])
    cwd_before = set(os.listdir(tmp_path))
    proc = run_feeds(
        "load", "-c", str(cfg), env={"TMPDIR": str(tmpdir), "FEEDS_TMPDIR": str(tmpdir / "duckdb")}
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("unsafe remote file name") == len(hostile), proc.stderr

    assert query(warehouse, "select event_id from raw.leanplum__events") == [("ok",)]
    assert query(warehouse, "select v from raw.decoy") == [("still here",)]
    assert query(warehouse, "select count(*) from loader.files") == [(1,)]
    # nothing named after a remote key anywhere on the disk the run could reach
    for name in ("escaped.json", "absolute.json", "backslash.json"):
        found = [*tmp_path.rglob(name), *tmp_path.parent.glob(name), *tmp_path.parent.parent.glob(name)]
        assert not found, found
    assert [p for p in tmpdir.rglob("*") if p.is_file()] == []
    assert set(os.listdir(tmp_path)) == cwd_before
    record("test_hostile_s3", bad_inputs=len(hostile) + 1)
