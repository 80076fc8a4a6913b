"""`feeds load` into a Parquet lake on S3 (moto's server over HTTP): one object per source file version.

Exactly once across a rerun; a changed file version replaces its object (same key, new rows, ledger moved
on); a SIGKILL after the object is written but before the ledger commits leaves no duplicate once rerun; two
feeds load at the same time, each with its own ledger, into the same bucket.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from fixtures.devservers import moto_server
from loaders.lake.sink import object_key
from tests import mart_fixture as fx

BIN = Path(sys.executable).parent
BUCKET = "lake"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3():
    with moto_server() as server:
        yield server


def _config(root: Path, s3, prefix: str, feeds: list[str] | None = None) -> Path:
    path = fx.write_feeds_yml(root)
    config = yaml.safe_load(path.read_text())
    if feeds:
        config["feeds"] = [f for f in config["feeds"] if f["name"] in feeds]
    config["settings"] = {"lake": f"s3://{BUCKET}/{prefix}", "lake_endpoint_url": s3.endpoint_url}
    out = root / f"lake-{prefix}-{'-'.join(feeds or ['all'])}.yml"
    out.write_text(yaml.safe_dump(config))
    return out


def _load(config: Path, ledger: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> int:
    run_env = {**os.environ, "ENGAGEMENT_DUCKDB": str(ledger), **(env or {})}
    proc = subprocess.run([str(BIN / "feeds"), "load", "--config", str(config)], env=run_env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode in ok, (
        f"feeds load: {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.returncode


def _objects(s3, prefix: str) -> dict[str, str]:
    """key -> ETag of every object under the prefix."""
    client = s3.client()
    out: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            out[item["Key"]] = item["ETag"]
    return out


def _lake_rows(s3, prefix: str, tmp: Path) -> list[tuple[str, int, str]]:
    """(_source_uri, _source_row, _file_version) of every row of every object in the lake."""
    client = s3.client()
    rows: list[tuple[str, int, str]] = []
    for i, key in enumerate(sorted(_objects(s3, prefix))):
        local = tmp / f"obj{i}.parquet"
        client.download_file(BUCKET, key, str(local))
        with duckdb.connect() as con:
            rows += con.execute(
                "select _source_uri, _source_row, _file_version from read_parquet(?)", [str(local)]
            ).fetchall()
        local.unlink()
    return rows


def _repeat_last_row(path: Path) -> None:
    """A new version of a gzip CSV: its last row once more (one row more, the same columns)."""
    text = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress((text + text.splitlines(keepends=True)[-1]).encode()))


def _ledger(ledger: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(ledger), read_only=True) as con:
        return con.execute(sql).fetchall()


def _source_rows(ledger: Path) -> int:
    return _ledger(ledger, "select coalesce(sum(rows), 0) from loader.files where status = 'loaded'")[0][0]


@pytest.fixture(scope="module", autouse=True)
def bucket(s3):
    s3.client().create_bucket(Bucket=BUCKET)


def test_exactly_once_across_a_rerun_and_a_changed_version_replaces_its_object(s3, tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    config = _config(root, s3, "rerun")
    for day in fx.DAYS:
        fx.write_day(root, day)
    ledger = tmp_path / "ledger.duckdb"
    _load(config, ledger)
    first = _objects(s3, "rerun")
    rows = _lake_rows(s3, "rerun", tmp_path)
    assert first and len(rows) == _source_rows(ledger) > 0
    assert len(rows) == len(set(rows)), "a row is in the lake twice"
    objects = _ledger(ledger, "select object, version from loader.lake_objects")
    assert sorted(o.removeprefix(f"s3://{BUCKET}/") for o, _ in objects) == sorted(first)

    _load(config, ledger)  # nothing new: nothing rewritten
    assert _objects(s3, "rerun") == first
    assert sorted(_lake_rows(s3, "rerun", tmp_path)) == sorted(rows)

    # a new version of one file: the same key holds the new rows only, the ledger knows the version
    changed = next(p for p in sorted((root / "apsis").rglob("*.csv.gz")))
    _repeat_last_row(changed)
    _load(config, ledger)
    after = _objects(s3, "rerun")
    uri = changed.resolve().as_uri()
    key = f"rerun/{object_key('apsis__email_events', 'apsis', uri)}"
    assert set(after) == set(first)
    assert after[key] != first[key], "the changed file's object was not rewritten"
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in first.items() if k != key}
    new_rows = _lake_rows(s3, "rerun", tmp_path)
    mine = [r for r in new_rows if r[0] == uri]
    assert len(mine) == sum(1 for r in rows if r[0] == uri) + 1
    assert len({r[2] for r in mine}) == 1, "rows of two versions of one file in the lake"
    (version,) = _ledger(ledger, f"select version from loader.lake_objects where uri = '{uri}'")[0]
    assert mine[0][2] == version
    assert len(new_rows) == len(rows) + 1 == _source_rows(ledger)


def test_sigkill_after_the_object_is_written_leaves_no_duplicate(s3, tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    config = _config(root, s3, "kill")
    for day in fx.DAYS:
        fx.write_day(root, day)
    ledger = tmp_path / "ledger.duckdb"
    # killed after the 3rd batch's objects are in place, before its ledger rows commit
    code = _load(config, ledger, {"FEEDS_FAULT": "before_commit:kill@3"}, ok=(-9,))
    assert code == -9
    partial = _objects(s3, "kill")
    assert partial, "nothing was written before the kill"
    _load(config, ledger)
    rows = _lake_rows(s3, "kill", tmp_path)
    assert len(rows) == len(set(rows)), "a row is in the lake twice after the rerun"
    assert len(rows) == _source_rows(ledger)
    assert not any(k.rsplit("/", 1)[-1].startswith(".") for k in _objects(s3, "kill"))


def test_sigkill_while_publishing_keeps_the_old_version(s3, tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    config = _config(root, s3, "old", ["apsis"])
    fx.write_day(root, 1)
    ledger = tmp_path / "ledger.duckdb"
    _load(config, ledger)
    before = _lake_rows(s3, "old", tmp_path)
    _repeat_last_row(next(p for p in sorted((root / "apsis").rglob("*.csv.gz"))))
    assert _load(config, ledger, {"FEEDS_FAULT": "lake_before_publish:kill"}, ok=(-9,)) == -9
    assert sorted(_lake_rows(s3, "old", tmp_path)) == sorted(before)  # the old version, whole
    _load(config, ledger)
    assert len(_lake_rows(s3, "old", tmp_path)) == len(before) + 1


def test_two_feeds_load_at_the_same_time(s3, tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    for day in fx.DAYS:
        fx.write_day(root, day)
    first = _config(root, s3, "both", ["sailthru"])
    second = _config(root, s3, "both", ["leanplum"])
    marker = tmp_path / "paused"
    env = {
        **os.environ,
        "ENGAGEMENT_DUCKDB": str(tmp_path / "ledger-sailthru.duckdb"),
        "FEEDS_FAULT": "before_commit:pause",
        "FEEDS_FAULT_PAUSE_FILE": str(marker),
    }
    held = subprocess.Popen([str(BIN / "feeds"), "load", "--config", str(first)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert held.poll() is None, held.stdout.read() if held.stdout else ""
            assert time.monotonic() < deadline, "the first load never reached its commit"
            time.sleep(0.05)
        # the first run is inside a batch transaction, its objects written: the second feed loads meanwhile
        _load(second, tmp_path / "ledger-leanplum.duckdb")
        assert marker.exists(), "the first run went on before the second finished"
    finally:
        marker.unlink(missing_ok=True)
        out, _ = held.communicate(timeout=300)
    assert held.returncode == 0, out
    keys = _objects(s3, "both")
    assert any("/sailthru__" in k for k in keys) and any("/leanplum__" in k for k in keys)
    rows = _lake_rows(s3, "both", tmp_path)
    assert len(rows) == len(set(rows))
    assert len(rows) == _source_rows(tmp_path / "ledger-sailthru.duckdb") + _source_rows(
        tmp_path / "ledger-leanplum.duckdb"
    )
