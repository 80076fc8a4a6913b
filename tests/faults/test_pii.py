"""PII: no clear-text e-mail in any mart column; `hash_emails: true` keeps it out of raw too, with the hash
the mart uses; credentials never appear in output, errors, the ledger or the DuckDB file.

The mart scan is deliberately not skippable: it builds whatever marts the dbt project has with `dbt build`
on a small export, and fails if the project or its marts are missing.
"""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import requests
import yaml

from fixtures.apsis_api import FakeApsisAPI
from fixtures.destinations import parse_destination
from fixtures.devservers import free_port
from fixtures.run import export
from fixtures.sshd import local_sshd
from tests.conftest import REPO, run_feeds, write_config
from tests.reliability import record
from tests.servers.test_apsis_api import CLIENT_ID, render
from tests.servers.test_apsis_load import apsis_feed

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
TEXT_TYPES = ("VARCHAR", "JSON", "MAP", "STRUCT", "[]")


def _dbt(args: list[str], warehouse: Path, work: Path) -> subprocess.CompletedProcess[str]:
    dbt = Path(sys.executable).parent / "dbt"
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "DBT_PROFILES_DIR": str(REPO)}
    cmd = [str(dbt), *args, "--project-dir", str(REPO), "--profiles-dir", str(REPO),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs")]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


def _text_columns(con: duckdb.DuckDBPyConnection, schema: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns where table_schema = ?"
        " order by all",
        [schema],
    ).fetchall()
    return [(t, c) for t, c, ty in rows if any(k in ty.upper() for k in TEXT_TYPES)]


def _hits(con: duckdb.DuckDBPyConnection, schema: str, where: str) -> dict[str, int]:
    """(table.column) -> rows whose text (nested values included, as JSON text) matches `where` on `v`."""
    found = {}
    for table, column in _text_columns(con, schema):
        q = '"' + column.replace('"', '""') + '"'
        n = con.execute(
            f'select count(*) from (select cast(to_json({q}) as varchar) as v from {schema}."{table}") where {where}'
        ).fetchall()[0][0]
        if n:
            found[f"{table}.{column}"] = n
    return found


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert (REPO / "dbt_project.yml").is_file(), "the dbt project is missing: nothing to scan"
    root = tmp_path_factory.mktemp("pii") / "export"
    export(parse_destination(root.as_uri()), events=1500, contacts=80, days=2, seed=3)
    return root


def _load_and_build(root: Path, work: Path, hash_emails: bool) -> Path:
    config = yaml.safe_load((root / "feeds.yml").read_text())
    for feed in config["feeds"]:
        feed["hash_emails"] = hash_emails
    cfg = work / "feeds.yml"
    cfg.write_text(yaml.safe_dump(config))
    warehouse = work / "wh.duckdb"
    run_feeds("load", "-c", str(cfg), env={"ENGAGEMENT_DUCKDB": str(warehouse)}, check=0)
    build = _dbt(["build"], warehouse, work)
    assert build.returncode == 0, f"dbt build failed:\n{build.stdout[-6000:]}\n{build.stderr[-2000:]}"
    return warehouse


def _scan_marts(warehouse: Path, root: Path) -> int:
    """Every text column of every mart: no '@'; and the contact keys equal the export's ground truth."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        marts = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()]  # fmt: skip
        assert "fct_engagement_events" in marts, f"no marts built: {marts}"
        mart_columns = _text_columns(con, "marts")
        mart_hits = _hits(con, "marts", "v like '%@%'")
        keys = {
            r[0]
            for r in con.execute("select distinct contact_key from marts.fct_engagement_events").fetchall()
        }
    finally:
        con.close()
    print(f"scanned {len(mart_columns)} text columns in {len(marts)} marts")
    assert len(mart_columns) >= 20
    assert not mart_hits, f"clear text '@' in the marts: {mart_hits}"
    with open(root / "truth" / "contacts.csv", newline="") as fh:
        truth = {r["contact_key"] for r in csv.DictReader(fh)}
    assert keys == truth, f"{len(keys ^ truth)} contact keys differ, e.g. {sorted(keys ^ truth)[:3]}"
    return len(mart_columns)


def test_no_clear_text_email_in_any_mart_column(exported: Path, tmp_path: Path) -> None:
    warehouse = _load_and_build(exported, tmp_path, hash_emails=False)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        clear_in_raw = _hits(con, "raw", f"regexp_matches(v, '{EMAIL}')")
    finally:
        con.close()
    assert "apsis__email_events.address" in clear_in_raw  # without hash_emails raw keeps the vendor's text
    columns = _scan_marts(warehouse, exported)
    record("test_pii_marts", rows_checked=columns)


def test_hash_emails_keeps_clear_text_out_of_raw_with_the_marts_hash(exported: Path, tmp_path: Path) -> None:
    warehouse = _load_and_build(exported, tmp_path, hash_emails=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        raw_hits = _hits(con, "raw", f"regexp_matches(v, '{EMAIL}')")
        raw_columns = len(_text_columns(con, "raw"))
        hashed = con.execute(
            "select count(*) from raw.apsis__email_events where length(address) = 64"
        ).fetchall()
    finally:
        con.close()
    print(f"scanned {raw_columns} raw text columns")
    # the sender address of a campaign is the brand's, not a person's: the one e-mail allowed in raw
    assert set(raw_hits) <= {"sailthru__campaign.from_email"}, raw_hits
    assert hashed[0][0] > 0
    # the load-time hash is the mart's: the contact keys still equal the export's ground truth
    columns = _scan_marts(warehouse, exported)
    record("test_pii_hash_emails", rows_checked=columns + raw_columns)


def test_credentials_never_appear_in_output_errors_ledger_or_the_file(tmp_path: Path) -> None:
    apsis_secret = "apsis-secret-Zq81-" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
    wrong_secret = "wrong-secret-Yx55-" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
    sftp_password = "sftp-password-Kp07-" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
    receiver_secret = "receiver-secret-Lm33-" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
    secrets = [apsis_secret, wrong_secret, sftp_password, receiver_secret]
    warehouse = tmp_path / "wh" / "engagement.duckdb"
    outputs: list[str] = []
    with FakeApsisAPI(render, CLIENT_ID, apsis_secret, polls_until_complete=1) as api, local_sshd() as sshd:
        good = apsis_feed(api.base_url, "2024-01-05T00:00:00Z")
        sftp = {
            "name": "sftp_pw",
            "vendor": "leanplum",
            "uri": sshd.uri("nothing"),
            "sftp": {"password_env": "PII_SFTP_PASSWORD", "known_hosts": str(sshd.known_hosts), "timeout": 5},
        }
        cfg = write_config(tmp_path / "feeds.yml", [good, sftp])
        env = {
            "ENGAGEMENT_DUCKDB": str(warehouse),
            "APSIS_LOAD_ID": CLIENT_ID,
            "APSIS_LOAD_SECRET": apsis_secret,
            "PII_SFTP_PASSWORD": sftp_password,
        }
        first = run_feeds("load", "-c", str(cfg), env=env)
        assert first.returncode == 2  # the SFTP server takes keys only: the password is refused
        assert "sftp_pw" in first.stderr and api.stats.count("download") >= 1
        outputs += [first.stdout, first.stderr]
        # a wrong secret for a new window: refused, and neither secret is echoed
        later = write_config(tmp_path / "later.yml", [apsis_feed(api.base_url, "2024-01-08T00:00:00Z")])
        second = run_feeds("load", "-c", str(later), env={**env, "APSIS_LOAD_SECRET": wrong_secret})
        assert second.returncode == 2 and "refused the client credentials" in second.stderr
        outputs += [second.stdout, second.stderr]
        status = run_feeds("status", "-c", str(cfg), env=env)
        outputs += [status.stdout, status.stderr]

    port = free_port()
    landing = tmp_path / "landing"
    receiver = subprocess.Popen(
        [sys.executable, "-m", "loaders.cli", "receive", "--landing", landing.as_uri(), "--spool",
         str(tmp_path / "spool"), "--port", str(port), "--secret-env", "PII_RECEIVER_SECRET"],
        cwd=REPO, env={**os.environ, "PII_RECEIVER_SECRET": receiver_secret},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.05)
        refused = requests.post(
            f"http://127.0.0.1:{port}/", data=b"{}", headers={"X-Webhook-Secret": wrong_secret}, timeout=5
        )
        assert refused.status_code == 401
        outputs.append(refused.text)
    finally:
        receiver.terminate()
        out, err = receiver.communicate(timeout=60)
    outputs += [out, err]

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        meta = repr(
            [
                con.execute(f"select * from loader.{t}").fetchall()
                for t in ("files", "loads", "state", "rejects", "schema_changes")
            ]
        )
        errors = [
            e for (e,) in con.execute("select error from loader.files where error is not null").fetchall()
        ]
    finally:
        con.close()
    files = [p for p in warehouse.parent.rglob("*") if p.is_file()]
    blob = b"".join(p.read_bytes() for p in files)
    for secret in secrets:
        for text in outputs:
            assert secret not in text, f"a secret leaked into the output:\n{text[-2000:]}"
        assert secret not in meta
        assert secret.encode() not in blob, "a secret is in the DuckDB file"
    record("test_pii_credentials", bad_inputs=2, faults_injected=0, rows_checked=len(errors))
