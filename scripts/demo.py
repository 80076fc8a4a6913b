"""`make demo`: every vendor through its real path, then load, dbt build and a summary.

Starts real local servers on loopback: moto's S3 server (HTTP), OpenSSH's sshd (SFTP), the fake APSIS One API
(HTTP) and `feeds receive` (HTTP). Exports one coherent world: Sailthru and Leanplum into S3, Simon over SFTP,
APSIS served by its API, Encharge POSTed to the receiver. Then `feeds load`, `dbt build`, `feeds publish` and a summary.

The demo builds a new file in a folder of its own and renames it into place at the end. It replaces only a file
it made itself (the table `demo.created` inside says so): any other file at that path, the user's warehouse,
is refused and left byte for byte as it was.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

from fixtures.apsis_api import _world_render, apsis_server
from fixtures.destinations import parse_destination
from fixtures.devservers import free_port, moto_server, wait_http
from fixtures.encharge import post_events
from fixtures.run import export, feeds_config
from fixtures.sshd import local_sshd
from fixtures.world import build_world
from loaders.publish import PublishRefused, check_ours, serving_path
from loaders.warehouse import connect

REPO = Path(__file__).resolve().parents[1]
SEED, CONTACTS, EVENTS, START, DAYS = 7, 2_000, 60_000, "2024-03-18", 4
DEMO_DB = Path(os.environ.get("ENGAGEMENT_DUCKDB", "warehouse/engagement.duckdb"))
APSIS_ID, APSIS_SECRET = "demo-client", "demo-secret-not-real"  # the fake API's own credentials


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def run(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> int:
    proc = subprocess.run(cmd, env=env, cwd=REPO)
    if proc.returncode not in ok:
        raise SystemExit(f"[demo] {' '.join(cmd[:3])} failed with exit code {proc.returncode}")
    return proc.returncode


def not_ours(path: Path) -> str | None:
    """Why the demo must not replace the file at `path` (None: absent, or made by the demo)."""
    if not path.exists():
        return None
    if not path.is_file():
        return f"{path} is not a file"
    try:
        con = duckdb.connect(str(path), read_only=True)  # read-only: not a byte of the file changes
    except duckdb.Error as exc:
        return f"{path} cannot be opened as a demo warehouse ({str(exc).splitlines()[0]})"
    try:
        made = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'demo' and table_name = 'created'"
        ).fetchall()[0][0]
    finally:
        con.close()
    return None if made else f"{path} was not created by the demo (it has no demo.created table)"


def refuse(why: str) -> int:
    print(
        f"[demo] refusing to run: {why}; it is left as it is. The demo writes only files it made: point"
        " ENGAGEMENT_DUCKDB at a new path (e.g. ENGAGEMENT_DUCKDB=warehouse/demo.duckdb make demo)",
        file=sys.stderr,
        flush=True,
    )
    return 2


def main() -> int:
    why = not_ours(DEMO_DB)
    if why:
        return refuse(why)
    try:
        check_ours(serving_path(DEMO_DB))
    except PublishRefused as exc:
        return refuse(str(exc))
    DEMO_DB.parent.mkdir(parents=True, exist_ok=True)
    # built beside the target under the same file name (DuckDB names the catalog after it; dbt's views use it)
    stage = DEMO_DB.parent / f".{DEMO_DB.stem}.demo-{os.getpid()}"
    stage.mkdir()
    try:
        return build(stage / DEMO_DB.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # the demo's own unfinished copy, if any


def build(staged: Path) -> int:
    con = connect(staged)
    con.execute("create schema demo")
    con.execute("create table demo.created as select now() as created_at, 'make demo' as created_by")
    con.close()
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(staged.resolve()), "DBT_PROFILES_DIR": str(REPO)}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="engagement-demo-") as tmp,
        moto_server() as s3,
        local_sshd() as sshd,
    ):
        tmpdir = Path(tmp)
        env.update(
            {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
        )
        client = s3.client()
        for bucket in ("demo-vendors", "demo-landing"):
            client.create_bucket(Bucket=bucket)
        args = {"seed": SEED, "contacts": CONTACTS, "events": EVENTS, "start": START, "days": DAYS}

        say(f"S3 (moto) at {s3.endpoint_url}; SFTP (sshd) at 127.0.0.1:{sshd.port}")
        s3_dest = parse_destination("s3://demo-vendors/feeds", endpoint_url=s3.endpoint_url)
        export(s3_dest, ["sailthru", "leanplum"], **args)
        say("exported Sailthru and Leanplum into S3")
        sftp_dest = parse_destination(
            sshd.uri("simon"), known_hosts=str(sshd.known_hosts), key_file=str(sshd.key_file)
        )
        export(sftp_dest, ["simon"], **args)
        say("exported Simon over SFTP")

        port = free_port()
        receiver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loaders.cli",
                "receive",
                "--landing",
                "s3://demo-landing/encharge",
                "--s3-endpoint-url",
                s3.endpoint_url,
                "--port",
                str(port),
                "--rotate-seconds",
                "2",
                "--spool",
                str(tmpdir / "spool"),
            ],  # fmt: skip
            env=env,
            cwd=REPO,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            world = build_world(SEED, CONTACTS, EVENTS, START, DAYS)
            acknowledged = post_events(world, f"http://127.0.0.1:{port}/")
            say(f"POSTed Encharge events to the receiver: {acknowledged:,} acknowledged")
        finally:
            receiver.send_signal(signal.SIGTERM)  # lands the open file before it exits
            receiver.wait(60)

        render = _world_render(SEED, CONTACTS, EVENTS, START, DAYS)
        with apsis_server(render, APSIS_ID, APSIS_SECRET) as apsis_url:
            say(f"fake APSIS One API at {apsis_url}")
            feeds = feeds_config(s3_dest, ["sailthru", "leanplum"])["feeds"]
            feeds += feeds_config(sftp_dest, ["simon"])["feeds"]
            feeds.append(
                {
                    "name": "encharge",
                    "vendor": "encharge",
                    "uri": "s3://demo-landing/encharge",
                    "s3": {"endpoint_url": s3.endpoint_url},
                }  # fmt: skip
            )
            feeds.append(
                {
                    "name": "apsis",
                    "vendor": "apsis",
                    "uri": apsis_url.replace("http://", "apsis://"),
                    "api": {
                        "base_url": apsis_url,
                        "client_id_env": "DEMO_APSIS_CLIENT_ID",
                        "client_secret_env": "DEMO_APSIS_CLIENT_SECRET",
                        "start_at": START,
                        "attributes": ["gender"],
                        "tags": ["vip"],
                        "poll_interval": 0.2,
                    },
                }  # fmt: skip
            )
            config = tmpdir / "feeds.yml"
            config.write_text(yaml.safe_dump({"feeds": feeds}, sort_keys=False))
            env.update({"DEMO_APSIS_CLIENT_ID": APSIS_ID, "DEMO_APSIS_CLIENT_SECRET": APSIS_SECRET})
            say("feeds load")
            load_code = run(
                [sys.executable, "-m", "loaders.cli", "load", "--config", str(config)], env, ok=(0, 1)
            )

    say("dbt build")
    dbt = str(Path(sys.executable).parent / "dbt")
    # built in a staged file renamed into place below, so dbt does not publish (it would publish the staged
    # file beside itself): `feeds publish` does, once the warehouse is in place
    run([dbt, "build", "--project-dir", str(REPO), "--profiles-dir", str(REPO), "--quiet",
         "--vars", "{publish_marts: false}"], env)  # fmt: skip
    why = not_ours(DEMO_DB)  # checked again: someone may have put a file there while the demo ran
    if why:
        return refuse(why)
    wal = DEMO_DB.with_name(DEMO_DB.name + ".wal")
    if wal.exists():  # the demo's old file, written to since: a stale log must not replay onto the new one
        duckdb.connect(str(DEMO_DB)).close()
    os.replace(staged, DEMO_DB)
    say("feeds publish")
    env["ENGAGEMENT_DUCKDB"] = str(DEMO_DB.resolve())
    run([sys.executable, "-m", "loaders.cli", "publish"], env)
    summary(load_code, time.monotonic() - started)
    # the feed health report (models/health): one HTML file that opens from disk
    run([sys.executable, "-m", "loaders.cli", "report", "--duckdb", str(DEMO_DB.resolve()),
         "--out", str(REPO / "target" / "feeds-report.html")], env)  # fmt: skip
    return 0


def summary(load_code: int, seconds: float) -> None:
    con = duckdb.connect(str(DEMO_DB), read_only=True)
    try:
        loaded = con.execute(
            "select count(distinct feed), count(*), sum(rows) from loader.files where status = 'loaded'"
        ).fetchall()[0]
        rows = con.execute(
            "select source_vendor, event_type, count(*) from marts.fct_engagement_events"
            " group by all order by 1, 2"
        ).fetchall()
        contacts = con.execute("select count(*) from marts.dim_contacts").fetchall()[0][0]
    finally:
        con.close()
    print()
    print(f"feeds load: {loaded[0]} feeds, {loaded[1]:,} files, {loaded[2]:,} rows (exit {load_code})")
    print("events per vendor and event_type (fct_engagement_events)")
    print(f"  {'vendor':<10} {'event_type':<22} {'events':>9}")
    for vendor, event_type, n in rows:
        print(f"  {vendor:<10} {event_type:<22} {n:>9,}")
    print(f"  {'all':<10} {'':<22} {sum(r[2] for r in rows):>9,}   distinct contacts: {contacts:,}")
    print(f"warehouse: {DEMO_DB.resolve()}   ({seconds:.0f}s)")
    print(f"BI tools and SQL open the published marts: {serving_path(DEMO_DB).resolve()} (make sql)")


if __name__ == "__main__":
    raise SystemExit(main())
