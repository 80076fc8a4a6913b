"""The export side writes each vendor's files exactly as its layout says: paths, names, headers, control files,
Parquet schema; and every written file routes back to its raw table through the same vendor module."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export
from loaders.listing import is_ignored
from loaders.vendors import apsis as apsis_layout
from loaders.vendors import encharge as encharge_layout
from loaders.vendors import get_layout
from loaders.vendors import leanplum as leanplum_layout
from loaders.vendors import sailthru as sailthru_layout
from loaders.vendors import simon as simon_layout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export") / "out"
    export(
        parse_destination(f"file://{root}"), seed=7, contacts=300, events=8_000, start="2024-03-18", days=4
    )
    return root


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def header_of(path: Path, delimiter: str = ",") -> list[str]:
    return next(csv.reader(io.StringIO(read_text(path)), delimiter=delimiter))


# ------------------------------------------------------------------ routes (pure)


def test_sailthru_routes_all_three_folder_forms() -> None:
    layout = get_layout("sailthru")
    r = layout.route("campaign_click/dt=20190926/client_id=0000/part-1ae5f73f.csv")
    assert r is not None and r.table == "sailthru__campaign_click" and r.fmt == "csv"
    assert r.partitions == {"dt": "20190926", "client_id": "0000"}
    r = layout.route("prefix/campaign/dt=20191001/hr=00/client_id=0000/part-1ae5f73f.csv")
    assert r is not None and r.table == "sailthru__campaign"
    assert r.partitions == {"dt": "20191001", "hr": "00", "client_id": "0000"}
    r = layout.route("label/dt=20191001/hr=07client_id=0042/part-x.csv")
    assert r is not None and r.partitions == {"dt": "20191001", "hr": "07", "client_id": "0042"}
    assert layout.route("README.csv") is None
    assert layout.route("campaign/notes.txt") is None
    assert layout.route("campaign_send/dt=20190926/client_id=0000/_SUCCESS") is None
    assert "marker" in layout.unclaimed("campaign_send/dt=20190926/client_id=0000/_SUCCESS")


def test_simon_routes_data_and_control_files() -> None:
    layout = get_layout("simon")
    name = simon_layout.data_file_name(
        "acme", "4101", "add", "ab12cd34ef", datetime(2024, 3, 18, 2, 0, 5), "tsv"
    )
    assert name == "acme_4101_add_ab12cd34ef_20240318020005.tsv"
    r = layout.route(f"flows/2024/03/18/{name}")
    # delimited text: the content decides between comma and tab (a TSV file may be named .csv)
    assert r is not None and (r.table, r.fmt, r.kind) == ("simon__flow_events", None, "data")
    assert layout.route(f"flows/2024/03/18/{name[:-4]}.jsonl").fmt == "json"
    r = layout.route(f"flows/2024/03/18/{simon_layout.control_file_name(name)}")
    assert r is not None and (r.table, r.fmt, r.kind) == ("simon__flow_events", None, "control")
    assert layout.route("flows/2024/03/18/notes.txt") is None
    assert layout.route(f"flows/{name}") is None
    assert "year" in layout.unclaimed(f"flows/{name}")


@pytest.mark.parametrize(
    ("relpath", "partitions"),
    [
        ("flows/2024/3/7/acme_4101_add_r1_20240307020005.csv", ("2024", "03", "07")),
        ("2024/03/7/acme_4101_add_r1_20240307020005.csv", ("2024", "03", "07")),  # empty path, mixed padding
        ("a/b/2024/12/31/acme_Welcome journey_remove_9f_x_20241231235959.csv", ("2024", "12", "31")),
        ("flows/2024/3/7/acme_flow_with_underscores_add_r-1.2_20240307020005.jsonl", ("2024", "03", "07")),
        ("flows/2024/3/7/ACME_4101_add_r1_20240307020005.CSV", ("2024", "03", "07")),
        ("flows/2024/3/7/control_acme_Welcome journey_add_r1_20240307020005.csv.json", ("2024", "03", "07")),
    ],
)
def test_simon_paths_as_the_document_writes_them(relpath: str, partitions: tuple[str, str, str]) -> None:
    r = get_layout("simon").route(relpath)
    assert r is not None, relpath
    assert (r.partitions["year"], r.partitions["month"], r.partitions["day"]) == partitions


@pytest.mark.parametrize(
    "relpath",
    [
        "flows/2024/13/7/acme_4101_add_r1_20240307020005.csv",  # no 13th month
        "flows/2024/3/acme_4101_add_r1_20240307020005.csv",  # no day folder
        "flows/24/3/7/acme_4101_add_r1_20240307020005.csv",  # a two-digit year
        "flows/2024/3/7/acme_4101_add_20240307020005.csv",  # three parts before the stamp
        "flows/2024/3/7/acme_4101_add_r1_2024030702000.csv",  # a 13-digit stamp
        "flows/2024/3/7/acme_4101_add_r1_20240307020005.txt",
    ],
)
def test_simon_names_it_does_not_claim(relpath: str) -> None:
    assert get_layout("simon").route(relpath) is None


def test_simon_name_parts_with_spaces_and_underscores() -> None:
    parsed = simon_layout.parse_data_name("acme_Spring sale_v2_add_a_b_20240307020005.csv")
    assert parsed == {"client": "acme", "flow": "Spring sale_v2", "operation": "add", "random": "a_b",
                      "stamp": "20240307020005", "ext": "csv"}  # fmt: skip
    assert simon_layout.folder_for("flows", datetime(2024, 3, 7).date(), padded=False) == "flows/2024/3/7"


def test_simon_parse_control_lists_several_files() -> None:
    doc = {"delta": True, "file_count": 2, "files": [
        {"bucket": "b", "path": "p", "file_type": "csv", "file": "s3://b/p/2024/03/18/a_1_add_x_20240318000000.csv",
         "rows": 3, "flow_ID": 7, "flow_name": "F"},
        {"bucket": "b", "path": "p", "file_type": "jsonl", "file": "s3://b/p/2024/03/18/a_1_remove_y_20240318000000.jsonl",
         "rows": "0", "flow_ID": "7", "flow_name": "F"}]}  # fmt: skip
    entries = simon_layout.parse_control(json.dumps(doc).encode())
    assert [(e.file, e.rows, e.flow_id) for e in entries] == [
        ("a_1_add_x_20240318000000.csv", 3, "7"),
        ("a_1_remove_y_20240318000000.jsonl", 0, "7"),
    ]
    with pytest.raises(simon_layout.ControlFileError):
        simon_layout.parse_control(b'{"files": [{"file": "x.csv", "rows": -1}]}')


def test_apsis_and_encharge_names() -> None:
    start, end = datetime(2024, 3, 18, tzinfo=UTC), datetime(2024, 3, 19, 12, tzinfo=UTC)
    name = apsis_layout.export_file_name(start, end)
    assert name == "apsis-email-events-20240318T000000Z_20240319T120000Z.csv.gz"
    assert apsis_layout.parse_export_file_name(name) == (start, end)
    assert get_layout("apsis").route(name).table == "apsis__email_events"
    path = encharge_layout.landing_path(datetime(2024, 3, 18, 23, 59, 58), "0a1b2c3d")
    assert path == "dt=2024-03-18/encharge-events-20240318T235958-0a1b2c3d.ndjson"
    r = get_layout("encharge").route(path)
    assert r is not None and r.table == "encharge__events" and r.partitions == {"dt": "2024-03-18"}
    with pytest.raises(ValueError):
        encharge_layout.landing_path(datetime(2024, 3, 18), "../../x")


# ------------------------------------------------------------------ the written files


def test_every_written_file_routes_to_its_raw_table(exported: Path) -> None:
    with open(exported / "truth" / "files.csv", newline="") as fh:
        manifest = {r["relpath"]: r for r in csv.DictReader(fh)}
    roots = {"sailthru": "sailthru", "simon": "simon", "apsis": "apsis", "encharge": "encharge",
             "leanplum": "leanplum/json", "leanplum_parquet": "leanplum/parquet"}  # fmt: skip
    seen = strays = 0
    config = yaml.safe_load((exported / "feeds.yml").read_text())
    ignore = {f["name"]: f.get("ignore", []) for f in config["feeds"]}
    ignore["leanplum"] = ignore["leanplum_json"]
    for key, sub in roots.items():
        layout = get_layout(key.split("_")[0])
        for rel in files_under(exported / sub):
            route = layout.route(rel)
            entry = manifest[f"{sub.split('/')[0]}/{rel}" if key != "leanplum_parquet" and key != "leanplum"
                             else f"leanplum/{sub.split('/')[1]}/{rel}"]  # fmt: skip
            if entry["kind"] == "stray":  # a file no layout claims, which the generated feeds.yml ignores
                assert route is None and is_ignored(rel, ignore.get(key, [])), rel
                strays += 1
                seen += 1
                continue
            assert route is not None, f"{sub}/{rel} does not match the {key} layout"
            if route.kind == "control":
                assert entry["kind"] == "control"
            else:
                fmt = "parquet" if rel.endswith(".parquet") else "json" if ".json" in rel else None
                assert layout.table_for(route, fmt or route.fmt) == entry["raw_table"]
            seen += 1
    assert seen == len(manifest)
    assert strays > 0 and ignore["sailthru"] == ["_SUCCESS"], "the stray quirk wrote no stray file"


def test_sailthru_files(exported: Path) -> None:
    root = exported / "sailthru"
    tables = {p.name for p in root.iterdir()}
    assert tables == set(sailthru_layout.EMAIL_EVENT_TABLES) | {"mobile_notifications"} | set(
        sailthru_layout.LOOKUP_TABLES
    )
    name_re = re.compile(r"^part-[0-9a-f]{8}\.csv$")
    shapes = set()
    for rel in files_under(root):
        if rel.endswith("/_SUCCESS"):  # the stray quirk: Spark's marker, in event folders only
            assert rel.split("/")[0] in sailthru_layout.EMAIL_EVENT_TABLES, rel
            continue
        assert name_re.match(rel.rsplit("/", 1)[-1]), rel
        path = root / rel
        if path.stat().st_size == 0:
            continue
        table = rel.split("/")[0]
        day = rel.split("/")[1][3:]
        header = header_of(path)
        expected = set(
            sailthru_layout.LOOKUP_COLUMNS.get(table)
            or (
                sailthru_layout.MOBILE_COLUMNS
                if table == "mobile_notifications"
                else sailthru_layout.EVENT_COLUMNS[table]
            )
        )
        if table not in sailthru_layout.LOOKUP_COLUMNS and day < "20240320":
            expected.discard("event_id")  # older exports lack the column
        assert expected <= set(header) <= expected | {"geo_country"}, rel
        if "event_time" in header:
            rows = list(csv.DictReader(io.StringIO(read_text(path))))
            for row in rows[:5]:
                t = row["event_time"]
                shapes.add("iso" if t.endswith("Z") else "millis" if "." in t else "seconds")
                if table != "mobile_notifications" and day >= "20240320":
                    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-7", row["event_id"]), row
            if "email_sha256" in header:
                assert all(re.fullmatch(r"[0-9a-f]{64}", r["email_sha256"]) for r in rows)
    assert shapes == {"seconds", "millis", "iso"}
    raw = [p.read_bytes() for p in root.rglob("*.csv")]
    assert any(b.startswith(b"\xef\xbb\xbf") for b in raw), "no file with a BOM"
    assert any(b"\r\n" in b for b in raw), "no CRLF file"
    assert any(b == b"" for b in raw), "no empty file"
    assert any(b.count(b"\n") == 1 and b for b in raw), "no header-only file"
    assert any("hr=" in p.parent.name and "client_id=" in p.parent.name for p in root.rglob("*.csv")), (
        "no seed-form path"
    )


def test_simon_files_and_controls(exported: Path) -> None:
    root = exported / "simon"
    data, controls = {}, {}
    for rel in files_under(root):
        name = rel.rsplit("/", 1)[-1]
        assert re.match(r"^flows/\d{4}/\d{1,2}/\d{1,2}/", rel), rel
        if simon_layout.data_name_of_control(name) is not None:
            controls[name] = json.loads((root / rel).read_text())
        else:
            assert simon_layout.parse_data_name(name), name
            data[name] = root / rel
    # [doc] only .csv and .jsonl: the TSV flow's files are .csv too, and the day folders are not padded
    assert {p.suffix for p in data.values()} == {".csv", ".jsonl"}
    assert any(re.match(r"^flows/\d{4}/\d/", rel) for rel in files_under(root)), "no unpadded month folder"
    tabbed = [p for p in data.values() if p.suffix == ".csv" and "\t" in read_text(p).split("\n", 1)[0]]
    assert tabbed, "no TSV file named .csv"
    listed: dict[str, int] = {}
    for doc in controls.values():
        assert doc["delta"] is True and doc["file_count"] == len(doc["files"])
        for entry in doc["files"]:
            assert set(entry) == {"bucket", "path", "file_type", "file", "rows", "flow_ID", "flow_name"}
            assert entry["file_type"] in ("csv", "jsonl")  # [doc] the only two file types
            listed[entry["file"].rsplit("/", 1)[-1]] = entry["rows"]
    assert any(len(d["files"]) > 1 for d in controls.values()), "no control file listing several data files"
    assert set(listed) == set(data), "every data file has exactly one control entry"
    hashed = plain = 0
    for name, path in data.items():
        text = read_text(path)
        lines = [line for line in text.splitlines() if line]
        rows = len(lines) if path.suffix == ".jsonl" else max(len(lines) - 1, 0)
        assert rows == listed[name], f"{name}: control says {listed[name]}, file has {rows}"
        if path.suffix == ".jsonl":
            first = json.loads(lines[0]) if lines else None
            header = list(first) if first else simon_layout.COLUMNS
            ident = first["identifier"] if first else None
        else:
            delim = "\t" if "\t" in lines[0] else ","
            header = header_of(path, delim)
            ident = lines[1].split(delim)[header.index("identifier")] if rows else None
        assert set(simon_layout.COLUMNS) <= set(header)
        if ident:
            hashed += bool(re.fullmatch(r"[0-9a-f]{64}", ident))
            plain += "@" in ident
    assert hashed and plain, "both hashed and clear identities appear"


def test_leanplum_json_and_parquet(exported: Path) -> None:
    root = exported / "leanplum"
    names = set()
    for rel in files_under(root / "json"):
        assert re.match(r"^dt=\d{4}-\d{2}-\d{2}/leanplum-events-\d{8}-\d{5}\.json(\.gz)?$", rel), rel
        for line in read_text(root / "json" / rel).splitlines():
            event = json.loads(line)
            assert list(event) == ["event_id", "name", "properties"]
            assert event["name"].startswith(leanplum_layout.NAME_PREFIX)
            names.add(event["name"][len(leanplum_layout.NAME_PREFIX) :])
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", event["properties"]["time"])
    parquet = sorted((root / "parquet").rglob("*.parquet"))
    assert parquet
    schema = pq.read_schema(parquet[0])
    assert schema.names == ["schema_version", "name", "event_id", "user_id", "device_id", "time", "user_attributes",
                            "user_attributes_numeric", "AbTest", "Campaign", "Message"]  # fmt: skip
    assert str(schema.field("time").type) == "int64" and str(schema.field("schema_version").type) == "int32"
    assert str(schema.field("user_attributes").type).startswith("map<string, string")
    assert str(schema.field("user_attributes_numeric").type).startswith("map<string, int64")
    assert [f.name for f in schema.field("Message").type] == ["name", "id", "campaign_name", "campaign_id", "channel",
        "message_occurrence_id", "email_id", "link_url", "link_id", "event_type"]  # fmt: skip
    assert [f.name for f in schema.field("AbTest").type] == ["name", "id", "variant_id"]
    assert [f.name for f in schema.field("Campaign").type] == ["name", "id", "event_type"]
    for path in parquet:
        names |= {
            n[len(leanplum_layout.NAME_PREFIX) :]
            for n in pq.read_table(path, columns=["name"]).column(0).to_pylist()
        }
    # every event kind of the seed appears, message names formatted from channel and event type as the document
    # says ("(Leanplum) Email Open"), a sent message's event type being the example's `Send`
    channels = {"Email": "Email", "Push Notification": "Push Notification", "App Inbox": "App Inbox",
                "In-App Message": "In App Message", "Webhook": "Webhook"}  # fmt: skip
    expected = set()
    for title in leanplum_layout.CANONICAL:
        head = next((h for h in channels if title.startswith(h + " ")), None)
        if head is None:
            expected.add(title)
        else:
            kind = title[len(head) + 1 :]
            expected.add(f"{channels[head]} {'Send' if kind == 'Sent' else kind}")
    assert names == expected
    assert "Email Send" in names and "Email Sent" not in names
    dts = {p.parent.name for p in parquet}
    assert len(dts) >= 4


def test_apsis_and_encharge_files(exported: Path) -> None:
    apsis = sorted((exported / "apsis").iterdir())
    assert apsis and all(apsis_layout.parse_export_file_name(p.name) for p in apsis)
    types, zero = set(), 0
    for path in apsis:
        rows = list(csv.reader(io.StringIO(read_text(path))))
        header = rows[0]
        assert header[: len(apsis_layout.DEFAULT_COLUMNS)] == apsis_layout.DEFAULT_COLUMNS
        extra = header[len(apsis_layout.DEFAULT_COLUMNS) :]
        assert extra and all(apsis_layout.parse_field_header(h) for h in extra)
        ti = header.index("type")
        types |= {r[ti] for r in rows[1:]}
        zero += sum(r[header.index("event_time")] == "0" for r in rows[1:])
        tag_values = {r[i] for r in rows[1:] for i, h in enumerate(header) if h.startswith("vip (")}
        assert tag_values <= {"TAG", ""}
    assert types == set(apsis_layout.EVENT_TYPES) and zero > 0
    kinds = set()
    for rel in files_under(exported / "encharge"):
        for line in read_text(exported / "encharge" / rel).splitlines():
            event = json.loads(line)
            assert list(event) == encharge_layout.TOP_LEVEL_KEYS and set(event["user"]) == {"id", "email"}
            assert encharge_layout.event_type_of(event["event"]) is not None, event["event"]
            kinds.add(re.sub(r"(?<=[-:])[^-:]+$", "", event["event"]) if event["type"] in ("tag", "step", "object",
                                                                                             "association") else event["event"])  # fmt: skip
    assert set(encharge_layout.EVENTS) <= kinds
    assert {"added-tag-", "removed-tag-", "performed-step:", "errored-step:", "newObject-", "updatedObject-",
            "deletedObject-", "newAssociation-", "deletedAssociation-"} <= kinds  # fmt: skip
