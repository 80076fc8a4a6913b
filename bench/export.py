"""Export speed: 10 million events across the five vendors written to a local folder (files, truth, feeds.yml).

Floor: under 120 seconds on this 2-core machine. Prints rows/s and distinct events/s; returns 0 if the floor holds.
BENCH_EXPORT_EVENTS scales the run (the floor scales with it).
"""

from __future__ import annotations

import os
import resource
import shutil
import time

from fixtures.destinations import parse_destination
from fixtures.run import export

from .common import workdir

EVENTS = int(os.environ.get("BENCH_EXPORT_EVENTS", 10_000_000))
FLOOR_SECONDS = 120.0 * EVENTS / 10_000_000
# Before issue 17's work: 77 s for 10 M events on a quiet machine; this bench on that export, shared machine:
PREVIOUS = {
    10_000_000: "77 s (quiet machine)",
    3_000_000: "31.7 s at load 3.4 (106 s at load 10)",
    1_000_000: "17.4 s at load 3.2 (41-47 s at load 10)",
}


def main() -> int:
    root = workdir("export") / "out"
    if root.exists():
        shutil.rmtree(root)
    start, cpu0 = time.perf_counter(), _cpu()
    result = export(
        parse_destination(f"file://{root}"),
        seed=1,
        contacts=max(1_000, EVENTS // 50),
        events=EVENTS,
        start="2024-03-18",
        days=7,
        progress=lambda msg: print(f"  {msg}", flush=True),
    )
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    ok = seconds <= FLOOR_SECONDS
    print(
        f"export: {result.events:,} distinct events, {result.rows:,} rows in {result.files:,} files "
        f"({size / 1e9:.2f} GB) in {seconds:.1f}s = {result.events / seconds:,.0f} events/s, "
        f"{result.rows / seconds:,.0f} rows/s, {cpu:.1f} CPU seconds (with its workers)  [floor: {FLOOR_SECONDS:.0f}s]"
        f" {'ok' if ok else 'MISSED'}\n"
        f"  load average {os.getloadavg()[0]:.1f}; previous at this size: {PREVIOUS.get(EVENTS, 'no previous figure')}",
        flush=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


def _cpu() -> float:
    """User + system seconds of this process and its finished children (the export's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
