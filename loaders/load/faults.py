"""Fault injection for the crash tests: `fault_point(name)` does nothing unless FEEDS_FAULT names that point."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import duckdb

_fault_hits: dict[str, int] = {}
_fault_lock = threading.Lock()


def fault_point(name: str) -> None:
    """Test hook: FEEDS_FAULT=<point>[:<action>][@<n>] acts on the n-th time (default 1st) a run reaches point.

    Actions: none (raise), `kill` (SIGKILL this process: no cleanup, no rollback), `diskfull` (DuckDB's
    error for a full disk), `pause` (create the file
    named by FEEDS_FAULT_PAUSE_FILE, then wait until a test deletes it). Points: after_list, after_localize,
    after_schema, after_insert, before_commit, after_commit (and the lake's lake_before_publish).
    """
    spec = os.environ.get("FEEDS_FAULT", "")
    if not spec:
        return
    spec, _, nth = spec.partition("@")
    point, _, action = spec.partition(":")
    if point != name:
        return
    with _fault_lock:
        _fault_hits[name] = hits = _fault_hits.get(name, 0) + 1
    if hits != int(nth or 1):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if (
        action == "diskfull"
    ):  # what DuckDB says when the warehouse's disk is full (for machines without tmpfs)
        raise duckdb.IOException('Could not write file "warehouse": No space left on device')
    if action == "pause":
        marker = Path(os.environ["FEEDS_FAULT_PAUSE_FILE"])
        marker.write_text(str(os.getpid()))
        deadline = time.monotonic() + 300
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return
    raise RuntimeError(f"injected fault at {name}")
