"""Files made local and known (loaders/load/localize.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loaders.config import Settings
from loaders.load.errors import FileChanged
from loaders.load.localize import fetch_all, file_format, inspect_csv
from loaders.transports import RemoteFile, Transport, TransportError
from loaders.vendors import Sniffed
from tests.unit.loadparts import feed, pending


@pytest.mark.parametrize(
    ("route_fmt", "sniffed", "feed_format", "expected"),
    [
        ("csv", "tsv", "auto", "csv"),  # the layout's format wins over a guess from the content
        (None, "tsv", "auto", "tsv"),  # no format in the layout: the content's
        ("csv", "parquet", "auto", "parquet"),  # Parquet bytes are Parquet whatever the name says
        ("csv", "csv", "jsonl", "json"),  # the feed's format: option wins; jsonl is read as json
        (None, None, "auto", None),  # nothing to tell
    ],
)
def test_file_format(
    route_fmt: str | None, sniffed: str | None, feed_format: str, expected: str | None
) -> None:
    f = pending(fmt=route_fmt, the_feed=feed(format=feed_format))
    assert file_format(f, Sniffed(sniffed, False)) == expected


class Flaky(Transport):
    """Serves `ok*` files in place, downloads `dl*`, refuses `bad*`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def list(self) -> list[RemoteFile]:
        return []

    def local_path(self, file: RemoteFile) -> Path | None:
        return self.root / file.relpath if file.relpath.startswith("ok") else None

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        if file.relpath.startswith("bad"):
            raise TransportError(f"{file.uri}: refused")
        dest.write_text("fetched")

    def close(self) -> None:
        pass


def test_fetch_all_reads_in_place_downloads_the_rest_and_returns_the_failures(tmp_path: Path) -> None:
    files = [pending("ok.csv"), pending("dl.csv"), pending("bad.csv")]
    failed = fetch_all(Flaky(tmp_path), files, tmp_path)
    assert [str(e) for e in failed] == [f"{files[2].remote.uri}: refused"]
    assert files[0].local == tmp_path / "ok.csv"
    assert files[1].local == tmp_path / "000001.part" and files[1].local.read_text() == "fetched"
    assert files[2].local is None


def test_inspect_csv_counts_or_says_why_not(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,x\n1,a\n2,b\n")
    f = pending(local=path, size=path.stat().st_size)
    found = inspect_csv(f, Settings())
    assert not isinstance(found, str | FileChanged)
    assert found.counts.records == 2 and found.strict_ok
    wide = tmp_path / "w.csv"
    wide.write_text(",".join(f"c{i}" for i in range(6)) + "\n")
    refused = inspect_csv(pending(local=wide, size=30), Settings(max_columns=5))
    assert isinstance(refused, str)
