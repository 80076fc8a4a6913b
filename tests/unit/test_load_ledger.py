"""The ledger's state, a feed's plan and its batches (loaders/load/ledger.py)."""

from __future__ import annotations

from loaders.load.ledger import (
    GZIP_WORK_FACTOR,
    SPLIT_WORK,
    batches,
    ledger_state,
    loaded_uris,
    plan_feed,
    plan_files,
)
from loaders.vendors import get_layout
from loaders.warehouse import META_SCHEMA
from tests.unit.loadparts import feed, ledger, pending, remote

LAYOUT = get_layout("leanplum", {})


def _record(con, uri: str, version: str, status: str) -> None:
    con.execute(
        f"insert into {META_SCHEMA}.files values ('lp', ?, ?, 1, 0, 't', ?, 0, 'l', now(), null)",
        [uri, version, status],
    )


def test_ledger_state_holds_loaded_and_quarantined_versions_of_any_feed() -> None:
    con = ledger()
    _record(con, "u1", "v1", "replaced")
    _record(con, "u1", "v2", "loaded")
    _record(con, "u2", "v1", "quarantined")
    _record(con, "u3", "v1", "unrecognized")
    con.execute(f"update {META_SCHEMA}.files set feed = 'renamed' where uri = 'u2'")
    assert ledger_state(con, "lp") == {"u1": {"v2": "loaded"}, "u2": {"v1": "quarantined"}}
    assert loaded_uris(con, "lp") == {"u1"}


def test_plan_skips_loaded_versions_and_quarantined_unless_retried() -> None:
    files = [
        remote("dt=2024-05-01/a.json", version="v1"),  # loaded in this version
        remote("dt=2024-05-01/b.json", version="v2"),  # v1 loaded: replaces it
        remote("dt=2024-05-01/c.json", version="v1"),  # quarantined in this version
        remote("dt=2024-05-01/d.json", version="v1"),  # new
        remote("notes.txt"),  # not in the layout: not seen
    ]
    state = {
        files[0].uri: {"v1": "loaded"},
        files[1].uri: {"v1": "loaded"},
        files[2].uri: {"v1": "quarantined"},
    }
    planned, seen = plan_files(state, feed(), LAYOUT, files, retry_quarantined=False)
    assert seen == 4
    assert [(p.remote.relpath, p.replaces) for p in planned] == [
        ("dt=2024-05-01/b.json", True),
        ("dt=2024-05-01/d.json", False),
    ]
    assert planned[1].route.partitions == {"dt": "2024-05-01"}
    retried, _ = plan_files(state, feed(), LAYOUT, files, retry_quarantined=True)
    assert [p.remote.relpath for p in retried] == [
        "dt=2024-05-01/b.json",
        "dt=2024-05-01/c.json",
        "dt=2024-05-01/d.json",
    ]


def test_plan_feed_reads_the_ledger() -> None:
    con = ledger()
    files = [remote("dt=2024-05-01/a.json"), remote("dt=2024-05-01/b.json")]
    _record(con, files[0].uri, "v1", "loaded")
    planned, seen = plan_feed(con, feed(), LAYOUT, files, retry_quarantined=False)
    assert seen == 2
    assert [p.remote.uri for p in planned] == [files[1].uri]


def test_batches_group_by_table_format_and_compression_in_uri_order() -> None:
    files = [
        pending("b.csv", table="t1"),
        pending("a.csv", table="t1"),
        pending("c.json", table="t1", fmt="json"),
        pending("d.csv", table="t1", gzip=True),
        pending("e.csv", table="t0"),
    ]
    cut = batches(files, max_bytes=10**9, max_files=100)
    assert [[f.remote.relpath for f in b] for b in cut] == [
        ["e.csv"],
        ["a.csv", "b.csv"],
        ["d.csv"],
        ["c.json"],
    ]


def test_batches_respect_the_file_and_byte_limits() -> None:
    files = [pending(f"{i:02d}.csv", size=100) for i in range(10)]
    by_files = batches(files, max_bytes=10**9, max_files=3)
    # four batches (10 files, at most 3 each), cut at equal shares of the bytes or at the limit
    assert [len(b) for b in by_files] == [3, 2, 3, 2]
    by_bytes = batches(files, max_bytes=250, max_files=100)
    assert len(by_bytes) == 4  # 1000 bytes in about equal shares of at most 250
    assert all(sum(f.remote.size for f in b) <= 300 for b in by_bytes)
    assert [f for b in by_bytes for f in b] == files  # contiguous, nothing lost or repeated


def test_large_groups_are_cut_for_every_worker_small_ones_are_not() -> None:
    big = SPLIT_WORK // 4 + 1
    files = [pending(f"{i:02d}.csv", size=big) for i in range(8)]
    assert len(batches(files, max_bytes=10**12, max_files=100, workers=2)) == 4  # two per worker
    small = [pending(f"{i:02d}.csv", size=10) for i in range(8)]
    assert len(batches(small, max_bytes=10**12, max_files=100, workers=2)) == 1
    # gzip counts several times its size: a group of compressed files is split sooner
    zipped = [pending(f"{i:02d}.csv", size=SPLIT_WORK // GZIP_WORK_FACTOR, gzip=True) for i in range(4)]
    plain = [pending(f"{i:02d}.csv", size=SPLIT_WORK // GZIP_WORK_FACTOR) for i in range(4)]
    assert len(batches(zipped, max_bytes=10**12, max_files=100, workers=2)) == 4
    assert len(batches(plain, max_bytes=10**12, max_files=100, workers=2)) == 1
