"""No file skipped in silence: a file no layout claims is in the ledger as unrecognized (with the reason), in
`feeds load`'s summary and in `feeds status`, and the exit code is 1 -- unless the feed's `ignore:` globs name
it. Folder placeholder keys are not files; a feed that holds no file of its vendor says so. Simon's own path
forms (unpadded day folders, flow names with spaces, TSV named .csv) load rather than vanish."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from fixtures.devservers import Moto
from loaders.listing import glob_regex, is_ignored
from loaders.vendors import simon
from tests.conftest import leanplum_event, query, run_feeds, write_config, write_ndjson

HEADER = ["identifier", "timestamp", "segment_name", "flow_name", "action", "variant", "operation", "plan"]


def simon_file(
    folder: Path, flow: str, rows: int, delim: str = ",", flow_id: str = "4101", seq: int = 0
) -> Path:
    """A Simon data file named `.csv` (comma or tab inside) and its control file."""
    name = simon.data_file_name("acme", flow, "add", f"r{seq}", datetime(2024, 3, 7, 2, 0, seq), "csv")
    folder.mkdir(parents=True, exist_ok=True)
    lines = [delim.join(HEADER)] + [
        delim.join([f"p{i}@x.io", "2024-03-07 02:00:00", "VIP, gold", flow, "", "", "add", "free"])
        if delim == "\t"
        else f'p{i}@x.io,2024-03-07 02:00:00,"VIP, gold",{flow},,,add,free'
        for i in range(rows)
    ]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    entry = simon.ControlEntry(name, f"s3://b/flows/{name}", "b", "flows", rows, flow_id, flow, "csv")
    (folder / simon.control_file_name(name)).write_text(json.dumps(simon.control_document([entry])))
    return path


def feed(name: str, vendor: str, root: Path, **extra: object) -> dict:
    return {"name": name, "vendor": vendor, "uri": f"file://{root}", **extra}


# ---------------------------------------------------------------- Simon as its document writes it


def test_simon_unpadded_folders_spaced_flow_names_and_tsv_named_csv_load(
    tmp_path: Path, warehouse: Path
) -> None:
    root = tmp_path / "simon"
    comma = simon_file(root / "flows/2024/3/7", "Welcome journey", 3, seq=1)
    tab = simon_file(root / "flows/2024/3/7", "Churn_risk high", 2, "\t", flow_id="4102", seq=2)
    cfg = write_config(tmp_path / "feeds.yml", [feed("simon", "simon", root)])

    proc = run_feeds("load", "-c", str(cfg), check=0)
    assert "unrecognized" not in proc.stderr.replace("unrecognized │", "")
    got = query(
        warehouse,
        "select _source_uri, identifier, segment_name, flow_name, operation, plan, _part_year, _part_month,"
        " _part_day, _control_flow_id, _control_flow_name from raw.simon__flow_events order by all",
    )
    assert len(got) == 5
    by_file = {}
    for uri, *rest in got:
        by_file.setdefault(uri.rsplit("/", 1)[-1], []).append(tuple(rest))
    # the TSV file named .csv is split on tabs: every column in its place, not one garbage column
    assert by_file[tab.name][0] == ("p0@x.io", "VIP, gold", "Churn_risk high", "add", "free", "2024", "03", "07",
                                    "4102", "Churn_risk high")  # fmt: skip
    assert by_file[comma.name][0][:5] == ("p0@x.io", "VIP, gold", "Welcome journey", "add", "free")
    assert by_file[comma.name][0][-2:] == ("4101", "Welcome journey")
    assert query(warehouse, "select count(*) from loader.files where status = 'loaded'") == [(2,)]


# ---------------------------------------------------------------- files no layout claims


CASES = {
    # vendor: (a file the layout claims, a stray next to it, a word of the reason)
    "simon-month-13": ("simon", "flows/2024/13/7/acme_4101_add_r1_20240307020005.csv", "year"),
    "simon-stamp-typo": ("simon", "flows/2024/3/7/acme_4101_add_r1_2024030702000.csv", "file name"),
    "simon-no-day": ("simon", "flows/2024/3/acme_4101_add_r1_20240307020005.csv", "year"),
    "leanplum-dt-typo": ("leanplum", "dt-2024-05-01/leanplum-events-20240501-00000.json", "dt="),
    "leanplum-marker": ("leanplum", "dt=2024-05-01/_SUCCESS", "marker"),
    "sailthru-no-extension": ("sailthru", "campaign_send/dt=20240501/client_id=0000/part-1", ".csv"),
    "sailthru-no-client": ("sailthru", "campaign_send/dt=20240501/part-1.csv", "client_id"),
    "apsis-renamed": ("apsis", "apsis-email-events-2024-05-01.csv.gz", "export file name"),
    "encharge-no-dt": ("encharge", "encharge-events-20240501T000000-0a1b2c3d.ndjson", "dt="),
}


def _claimed_file(vendor: str, root: Path) -> None:
    if vendor == "simon":
        simon_file(root / "flows/2024/03/07", "winback", 2)
    elif vendor == "leanplum":
        write_ndjson(root / "dt=2024-05-01/a.json", [leanplum_event("e1")])
    elif vendor == "sailthru":
        path = root / "campaign_send/dt=20240501/client_id=0000/part-0.csv"
        path.parent.mkdir(parents=True)
        path.write_text("message_id,event_time,email_sha256\nm1,2024-05-01 10:00:00,abc\n")
    elif vendor == "apsis":
        path = root / "apsis-email-events-20240501T000000Z_20240502T000000Z.csv"
        path.write_text(
            "correlation_id,type,address,event_time,server_time\nc1,SENT,a@x.io,0,1714557600000\n"
        )
    else:
        write_ndjson(root / "dt=2024-05-01/encharge-events-20240501T000000-0a1b2c3d.ndjson",
                     [{"event": "email-open", "timestamp": 1714557600000, "user": {"email": "a@x.io"}}])  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_file_no_layout_claims_is_reported_with_exit_1(case: str, tmp_path: Path, warehouse: Path) -> None:
    vendor, stray, reason = CASES[case]
    root = tmp_path / "feed"
    root.mkdir()
    _claimed_file(vendor, root)
    (root / stray).parent.mkdir(parents=True, exist_ok=True)
    (root / stray).write_text("a,b\n1,2\n")
    cfg = write_config(tmp_path / "feeds.yml", [feed("f", vendor, root)])

    proc = run_feeds("load", "-c", str(cfg), check=1)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("unrecognized:")]
    assert len(lines) == 1 and stray in lines[0] and reason in lines[0], proc.stderr
    assert "ignore:" in proc.stderr  # says what to do
    assert query(warehouse, "select status, raw_table, rows, error from loader.files where uri = ?",
                 [f"file://{root / stray}"]) == [("unrecognized", None, 0, lines[0].split(f"{stray}: ", 1)[1])]  # fmt: skip
    assert query(warehouse, "select count(*) from loader.files where status = 'loaded'") == [(1,)]
    assert query(warehouse, "select status from loader.loads") == [("partial",)]
    status = run_feeds("status", "-c", str(cfg), check=0).stdout
    assert stray in status and f"unrecognized: {lines[0].split(': ', 2)[-1][:20]}" in status.replace(
        "\n      ", " "
    )


def test_unrecognized_once_in_the_ledger_then_ignored_on_request(tmp_path: Path, warehouse: Path) -> None:
    root = tmp_path / "leanplum"
    write_ndjson(root / "dt=2024-05-01/a.json", [leanplum_event("e1")])
    for rel in ("dt=2024-05-01/_SUCCESS", "notes/README.txt", "dt-2024-05-02/b.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    cfg = write_config(tmp_path / "feeds.yml", [feed("lp", "leanplum", root)])
    run_feeds("load", "-c", str(cfg), check=1)
    run_feeds("load", "-c", str(cfg), check=1)  # still there, still reported: but once in the ledger
    assert query(
        warehouse, "select count(*), count(distinct uri) from loader.files where status = 'unrecognized'"
    ) == [(3, 3)]

    write_config(tmp_path / "feeds.yml", [feed("lp", "leanplum", root, ignore=["_SUCCESS", "notes/**"])])
    proc = run_feeds("load", "-c", str(cfg), check=1)  # the typo'd folder is still unrecognized
    assert "dt-2024-05-02/b.json" in proc.stderr and "_SUCCESS" not in proc.stderr
    table = proc.stdout.splitlines()
    row = next(line for line in table if line.strip("│ ").startswith("lp "))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[5:7] == ["1", "2"]  # unrecognized, ignored

    (root / "dt-2024-05-02/b.json").unlink()
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from loader.files where status = 'unrecognized'") == [(0,)]
    assert query(warehouse, "select count(*) from loader.files where status = 'unrecognized_cleared'") == [
        (3,)
    ]
    assert "unrecognized:" not in run_feeds("status", "-c", str(cfg), check=0).stdout


def test_a_feed_without_any_file_of_its_vendor_says_so(tmp_path: Path, warehouse: Path) -> None:
    empty, strays = tmp_path / "empty", tmp_path / "strays"
    empty.mkdir()
    (strays / "2024-03-07").mkdir(parents=True)
    (strays / "2024-03-07/export.csv").write_text("a\n1\n")
    cfg = write_config(tmp_path / "feeds.yml", [feed("s1", "simon", empty), feed("s2", "simon", strays)])

    proc = run_feeds("load", "-c", str(cfg), "--feed", "s1", check=0)  # nothing there: said, not an error
    assert f"warning: s1: no simon file under file://{empty}: the listing is empty" in proc.stderr
    proc = run_feeds("load", "-c", str(cfg), "--feed", "s2", check=1)
    assert "no simon file under" in proc.stderr and "1 files listed, none in the simon layout" in proc.stderr
    status = run_feeds("status", "-c", str(cfg), check=0).stdout
    assert "s1: at the last load, no simon file" in status and "s2: at the last load, no simon file" in status


def test_folder_placeholders_are_not_files_but_strays_on_s3_are_reported(
    moto: Moto, tmp_path: Path, warehouse: Path
) -> None:
    client = moto.client()
    bucket = "silent-skips"
    client.create_bucket(Bucket=bucket)
    local = tmp_path / "src"
    data = simon_file(local / "flows/2024/3/7", "winback", 2)
    for path in local.rglob("*"):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=f"simon/{path.relative_to(local).as_posix()}", Body=path.read_bytes()
            )
    for key in ("simon/", "simon/flows/", "simon/flows/2024/3/7/", "simon/flows_$folder$"):
        client.put_object(Bucket=bucket, Key=key, Body=b"")
    cfg = write_config(
        tmp_path / "feeds.yml",
        [
            {
                "name": "simon",
                "vendor": "simon",
                "uri": f"s3://{bucket}/simon",
                "s3": {"endpoint_url": moto.endpoint_url},
            }
        ],
    )
    proc = run_feeds("load", "-c", str(cfg), check=0)
    assert "unrecognized:" not in proc.stderr
    assert query(warehouse, "select count(*) from raw.simon__flow_events") == [(2,)]

    client.put_object(Bucket=bucket, Key="simon/flows/2024/3/7/acme winback export.csv", Body=b"a\n")
    proc = run_feeds("load", "-c", str(cfg), check=1)
    assert (
        f"unrecognized: s3://{bucket}/simon/flows/2024/3/7/acme winback export.csv: not a Simon file name"
        in (proc.stderr)
    )
    assert data.name not in proc.stderr


def test_ignore_globs() -> None:
    assert is_ignored("dt=2024-05-01/_SUCCESS", ["_SUCCESS"])  # no slash: a name in any folder
    assert is_ignored("_SUCCESS", ["_SUCCESS"])
    assert not is_ignored("dt=2024-05-01/_SUCCESS.json", ["_SUCCESS"])
    assert is_ignored("notes/a/b.txt", ["notes/**"]) and not is_ignored("x/notes/a.txt", ["notes/**"])
    assert is_ignored("x/notes/a.txt", ["**/notes/*.txt"])
    assert not glob_regex("flows/*/x.csv").match("flows/a/b/x.csv")  # * stays within one folder
    assert is_ignored("flows/2024/3/7/x.tmp", ["*.tmp"]) and is_ignored("a1.csv", ["a[0-9].csv"])
    assert not is_ignored("ab.csv", ["a[!b].csv"]) and is_ignored("ac.csv", ["a[!b].csv"])
    assert is_ignored("a+b (1).csv", ["a+b (?).csv"])  # regex characters are literal
