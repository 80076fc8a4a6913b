"""Exports travel their real paths and load: a local folder through `feeds load` with the generated feeds.yml,
the moto S3 server over HTTP, OpenSSH's sshd over SFTP."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from fixtures.destinations import parse_destination
from fixtures.devservers import Moto
from fixtures.run import export
from tests.conftest import query, run_feeds

ARGS = {"seed": 3, "contacts": 200, "events": 5_000, "start": "2024-03-18", "days": 3}


def raw_rows(root: Path) -> dict[str, int]:
    with open(root / "truth" / "raw_rows.csv", newline="") as fh:
        return {r["raw_table"]: int(r["rows"]) for r in csv.DictReader(fh)}


def loaded_rows(db: Path) -> dict[str, int]:
    tables = [
        r[0] for r in query(db, "select table_name from information_schema.tables where table_schema = 'raw'")
    ]
    return {t: query(db, f'select count(*) from raw."{t}"')[0][0] for t in tables}


def test_export_with_quirks_then_load_every_row(tmp_path: Path, warehouse: Path) -> None:
    root = tmp_path / "export"
    run_feeds("export", "--to", f"file://{root}", "--seed", "3", "--contacts", "200", "--events", "5000",
              "--days", "3", check=0, module="fixtures")  # fmt: skip
    # the installed loader does not carry the fixtures: `feeds export` says where the command is, exit 2
    moved = run_feeds("export", "--to", f"file://{tmp_path / 'elsewhere'}", check=2)
    assert "python -m fixtures export" in moved.stderr and not (tmp_path / "elsewhere").exists()
    config = yaml.safe_load((root / "feeds.yml").read_text())
    assert {f["name"] for f in config["feeds"]} == {"sailthru", "simon", "apsis_files", "encharge", "leanplum_json",
                                                    "leanplum_parquet"}  # fmt: skip
    proc = run_feeds("load", "--config", str(root / "feeds.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert loaded_rows(warehouse) == raw_rows(root)
    # TSV files named .csv load column by column, and unpadded day folders (flows/2024/3/18) are not skipped
    columns = [c for (c,) in query(warehouse, "select column_name from information_schema.columns"
                                   " where table_name = 'simon__flow_events'")]  # fmt: skip
    assert not [c for c in columns if "\t" in c] and "_control_flow_id" in columns
    simon = query(warehouse, "select count(*), count(identifier), count(operation), count(_control_flow_id),"
                             " count(*) filter (where _source_uri like '%/flows/2024/3/%') from raw.simon__flow_events")  # fmt: skip
    assert simon[0][0] > 0 and len(set(simon[0])) == 1, simon
    # the stray files (Spark markers) are ignored by the generated feeds.yml: counted, not loaded, not an error
    assert query(warehouse, "select count(*) from loader.files where status = 'unrecognized'") == [(0,)]
    with open(root / "truth" / "files.csv", newline="") as fh:
        strays = {r["relpath"] for r in csv.DictReader(fh) if r["kind"] == "stray"}
    assert strays
    # a second load finds nothing new
    run_feeds("load", "--config", str(root / "feeds.yml"), check=0)
    assert loaded_rows(warehouse) == raw_rows(root)

    # without the ignore: globs, the same strays are reported, in the ledger, and the run exits 1
    for feed in config["feeds"]:
        feed.pop("ignore", None)
    (root / "no-ignore.yml").write_text(yaml.safe_dump(config))
    proc = run_feeds("load", "--config", str(root / "no-ignore.yml"), check=1)
    unrecognized = query(warehouse, "select uri from loader.files where status = 'unrecognized'")
    assert {u[len(f"file://{root}/") :] for (u,) in unrecognized} == strays
    assert proc.stderr.count("unrecognized: ") == min(len(strays), 20) + (
        len(strays) > 20
    )  # then "... and N more"


def test_export_to_s3_over_http_then_load(moto: Moto, tmp_path: Path, warehouse: Path) -> None:
    dest = parse_destination("s3://fixture-feeds/run-1", endpoint_url=moto.endpoint_url)
    result = export(dest, ["leanplum", "simon", "apsis"], **ARGS)
    client = moto.client()
    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="fixture-feeds", Prefix="run-1/"):
        keys |= {o["Key"][len("run-1/") :] for o in page.get("Contents", [])}
    with open(tmp_path / "files.csv", "wb") as fh:
        client.download_fileobj("fixture-feeds", "run-1/truth/files.csv", fh)
    with open(tmp_path / "files.csv", newline="") as fh:
        manifest = {r["relpath"] for r in csv.DictReader(fh)}
    assert manifest and manifest <= keys and "feeds.yml" in keys and "truth/events.csv" in keys
    assert result.files == len(manifest)
    with open(tmp_path / "feeds.yml", "wb") as fh:
        client.download_fileobj("fixture-feeds", "run-1/feeds.yml", fh)
    config = yaml.safe_load((tmp_path / "feeds.yml").read_text())
    assert all(f["uri"].startswith("s3://fixture-feeds/run-1/") for f in config["feeds"])
    assert all(f["s3"]["endpoint_url"] == moto.endpoint_url for f in config["feeds"])
    with open(tmp_path / "raw_rows.csv", "wb") as fh:
        client.download_fileobj("fixture-feeds", "run-1/truth/raw_rows.csv", fh)
    (tmp_path / "truth").mkdir()
    shutil.move(tmp_path / "raw_rows.csv", tmp_path / "truth" / "raw_rows.csv")
    proc = run_feeds("load", "--config", str(tmp_path / "feeds.yml"), "--feed", "leanplum_json", "--feed",
                     "leanplum_parquet", "--feed", "apsis_files")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    expected = {t: n for t, n in raw_rows(tmp_path).items() if t.startswith(("leanplum", "apsis"))}
    assert loaded_rows(warehouse) == expected


def test_export_to_sftp(tmp_path: Path) -> None:
    from fixtures import sshd

    context = sshd.local_sshd()
    server = context.__enter__()
    try:
        dest = parse_destination(
            server.uri("drop"), known_hosts=str(server.known_hosts), key_file=str(server.key_file)
        )
        result = export(dest, ["simon"], **{**ARGS, "events": 2_000})
        landed = sorted(p.relative_to(server.root / "drop").as_posix() for p in (server.root / "drop").rglob("*")
                        if p.is_file())  # fmt: skip
        with open(server.root / "drop" / "truth" / "files.csv", newline="") as fh:
            manifest = sorted(r["relpath"] for r in csv.DictReader(fh))
        assert set(manifest) <= set(landed) and result.files == len(manifest)
        assert not any(name.endswith(".part") for name in landed)
        config = yaml.safe_load((server.root / "drop" / "feeds.yml").read_text())
        assert config["feeds"][0]["sftp"]["known_hosts"] == str(server.known_hosts)
        # a host key that does not match is refused: nothing is uploaded to an impostor
        wrong = tmp_path / "known_hosts"
        wrong.write_text(f"[{server.host}]:{server.port} ssh-ed25519 "
                         "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")  # fmt: skip
        from fixtures.destinations import DestinationError

        with pytest.raises(DestinationError):
            export(parse_destination(server.uri("other"), known_hosts=str(wrong), key_file=str(server.key_file)),
                   ["simon"], **{**ARGS, "events": 500})  # fmt: skip
        assert not (server.root / "other").exists()
    finally:
        context.__exit__(None, None, None)


def test_post_events_retries_until_acknowledged() -> None:
    """Encharge's side: every event POSTed as JSON arrays; a failed request is retried (at least once)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from fixtures.encharge import event_payloads, post_events
    from fixtures.world import build_world

    received: list[dict] = []
    calls = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            calls["n"] += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if calls["n"] % 3 == 1:  # every third request fails before storing anything
                self.send_response(503)
                self.end_headers()
                return
            assert self.headers["X-Webhook-Secret"] == "s3cret"
            received.extend(json.loads(body))
            self.send_response(200)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        world = build_world(5, 50, 1_000, "2024-03-18", 1)
        expected = event_payloads(world)
        sent = post_events(
            world, f"http://127.0.0.1:{server.server_port}/encharge", secret="s3cret", batch=40
        )
    finally:
        server.shutdown()
    assert sent == len(expected) == len(received) and received == expected
    assert calls["n"] > -(-len(expected) // 40), "some requests were retried"
    assert {e["type"] for e in received} >= {"email", "tag", "step", "page"}
