"""feeds.yml is validated before anything is touched: one clear line, exit code 2, nothing loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_feeds, write_config


@pytest.mark.parametrize(
    ("feed", "expected"),
    [
        ({"name": "x", "vendor": "mailchimp", "uri": "file:///tmp"}, "feed 'x': key 'vendor'"),
        ({"name": "x", "vendor": "leanplum", "uri": "ftp://host/path"}, "feed 'x': key 'uri'"),
        ({"name": "x", "vendor": "leanplum", "uri": "s3://"}, "feed 'x': key 'uri'"),
        (
            {"name": "x", "vendor": "leanplum", "uri": "s3://bucket/${FEEDS_TEST_UNSET_BUCKET}"},
            "feed 'x': key 'uri'... environment variable FEEDS_TEST_UNSET_BUCKET is not set",
        ),
        (
            {
                "name": "x",
                "vendor": "simon",
                "uri": "sftp://u@h/p",
                "sftp": {"password_env": "FEEDS_TEST_UNSET_PW"},
            },
            "feed 'x': key 'sftp.password_env': environment variable FEEDS_TEST_UNSET_PW is not set",
        ),
        (
            {"name": "x", "vendor": "leanplum", "uri": "file:///tmp", "colour": "red"},
            "feed 'x': key 'colour'",
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    tmp_path: Path, warehouse: Path, feed: dict, expected: str
) -> None:
    cfg = write_config(tmp_path / "feeds.yml", [feed])
    proc = run_feeds("load", "-c", str(cfg), env={"COLUMNS": "300"})
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for part in expected.split("..."):
        assert part in lines[0]
    assert not warehouse.exists()


def test_unknown_feed_name_and_missing_file(tmp_path: Path, warehouse: Path) -> None:
    cfg = write_config(
        tmp_path / "feeds.yml", [{"name": "lp", "vendor": "leanplum", "uri": f"file://{tmp_path}"}]
    )
    proc = run_feeds("load", "-c", str(cfg), "--feed", "nope")
    assert proc.returncode == 2 and "feed 'nope'" in proc.stderr
    proc = run_feeds("load", "-c", str(tmp_path / "missing.yml"))
    assert proc.returncode == 2 and "missing.yml" in proc.stderr
    assert not warehouse.exists()
