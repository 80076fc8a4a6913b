"""S3 through the moto server over HTTP, and crashes between insert and commit."""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.devservers import Moto
from loaders.config import parse_config
from loaders.transports.s3 import S3Transport
from tests.conftest import leanplum_event, query, run_feeds, write_config, write_ndjson


def _bucket(moto: Moto) -> str:
    name = f"feeds-{uuid.uuid4().hex[:10]}"
    moto.client().create_bucket(Bucket=name)
    return name


def _ndjson(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _s3_config(tmp_path: Path, moto: Moto, bucket: str) -> Path:
    feed = {
        "name": "lp",
        "vendor": "leanplum",
        "uri": f"s3://{bucket}/leanplum/",
        "s3": {"endpoint_url": moto.endpoint_url},
    }
    return write_config(tmp_path / "feeds.yml", [feed])


def test_listing_over_1000_keys_finds_them_all(moto: Moto) -> None:
    bucket = _bucket(moto)
    client = moto.client()
    keys = [f"leanplum/dt=2024-05-{1 + i % 28:02d}/part-{i:05d}.json" for i in range(1234)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"{}\n"), keys))
    listed = S3Transport(f"s3://{bucket}/leanplum", endpoint_url=moto.endpoint_url).list()
    assert sorted(f.relpath for f in listed) == sorted(k.removeprefix("leanplum/") for k in keys)
    assert all(f.version and f.size == 3 for f in listed)


def test_overwritten_object_replaces_exactly_its_rows(tmp_path: Path, warehouse: Path, moto: Moto) -> None:
    bucket = _bucket(moto)
    client = moto.client()
    key_a, key_b = "leanplum/dt=2024-05-01/a.json", "leanplum/dt=2024-05-01/b.json"
    client.put_object(Bucket=bucket, Key=key_a, Body=_ndjson([leanplum_event("a1"), leanplum_event("a2")]))
    client.put_object(Bucket=bucket, Key=key_b, Body=_ndjson([leanplum_event("b1")]))
    cfg = _s3_config(tmp_path, moto, bucket)
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from raw.leanplum__events") == [(3,)]

    client.put_object(Bucket=bucket, Key=key_a, Body=_ndjson([leanplum_event("a3")]))
    run_feeds("load", "-c", str(cfg), check=0)
    rows = query(warehouse, "select _source_uri, event_id from raw.leanplum__events order by 2")
    assert rows == [(f"s3://{bucket}/{key_a}", "a3"), (f"s3://{bucket}/{key_b}", "b1")]
    versions = query(warehouse, "select status, count(*) from loader.files group by 1 order by 1")
    assert versions == [("loaded", 2), ("replaced", 1)]
    # and a third run has nothing to do
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from loader.loads where files_loaded > 0") == [(2,)]


@pytest.mark.parametrize(
    "fault", ["after_insert", "before_commit", "after_insert:kill", "before_commit:kill"]
)
def test_crash_between_insert_and_commit_leaves_nothing(tmp_path: Path, warehouse: Path, fault: str) -> None:
    root = tmp_path / "leanplum"
    for day in (1, 2):
        write_ndjson(
            root / f"dt=2024-05-0{day}" / "f.json", [leanplum_event(f"e{day}-{i}") for i in range(100)]
        )
    cfg = write_config(
        tmp_path / "feeds.yml", [{"name": "lp", "vendor": "leanplum", "uri": f"file://{root}"}]
    )
    proc = run_feeds("load", "-c", str(cfg), env={"FEEDS_FAULT": fault})
    if fault.endswith(":kill"):
        assert proc.returncode == -9, proc.stderr
    else:
        assert proc.returncode != 0 and "injected fault" in proc.stderr
    if warehouse.exists():
        tables = query(
            warehouse, "select table_name from information_schema.tables where table_schema = 'raw'"
        )
        if tables:
            assert query(warehouse, "select count(*) from raw.leanplum__events") == [(0,)]
        assert query(warehouse, "select count(*) from loader.files") == [(0,)]
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*), count(distinct event_id) from raw.leanplum__events") == [
        (200, 200)
    ]
    assert query(warehouse, "select count(*) from loader.files where status = 'loaded'") == [(2,)]


def test_config_reads_endpoint_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDS_TEST_BUCKET", "my-bucket")
    cfg = parse_config(
        {"feeds": [{"name": "lp", "vendor": "leanplum", "uri": "s3://${FEEDS_TEST_BUCKET}/x"}]}
    )
    assert cfg.feeds[0].uri == "s3://my-bucket/x"
    assert os.environ["FEEDS_TEST_BUCKET"] == "my-bucket"
