"""`make bench`: every figure the issues ask for, each printed beside its floor. Exit 1 if a floor is missed.

Set BENCH_ONLY=name,name to run a subset (names: the modules below).
"""

from __future__ import annotations

import importlib
import os
import platform
import time

import psutil

SUITES = ["leanplum_json", "formats", "apsis", "sftp", "receiver", "export", "dbt", "health"]


def main() -> int:
    only = {s for s in os.environ.get("BENCH_ONLY", "").split(",") if s}
    print(
        f"machine: {platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}",
        flush=True,
    )
    failed = []
    for name in SUITES:
        if only and name not in only:
            continue
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            print(f"== {name}: not present", flush=True)
            continue
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        code = module.main()
        print(
            f"== {name}: {'ok' if code == 0 else 'BELOW FLOOR'} ({time.perf_counter() - start:.0f}s)",
            flush=True,
        )
        if code:
            failed.append(name)
    print("\nbelow floor: " + (", ".join(failed) if failed else "none"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
