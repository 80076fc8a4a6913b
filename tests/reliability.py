"""The counts docs/reliability.md reports, written by the fault tests as they run and summed on demand.

Each test calls `record(name, ...)` with what it injected or tried and what it found lost or doubled; the
numbers land in `target/reliability/<name>.json` (one file per test, rewritten on each run, so parallel test
workers never share a file). `python -m tests.reliability` prints the totals.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parents[1] / "target" / "reliability"
KEYS = ("faults_injected", "bad_inputs", "rows_checked", "rows_lost", "rows_loaded_twice")


def record(name: str, **counts: int) -> None:
    unknown = set(counts) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown count(s) {sorted(unknown)}; use {', '.join(KEYS)}")
    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"{name}.json"
    previous = json.loads(path.read_text()) if path.exists() else {}
    merged = {k: counts.get(k, previous.get(k, 0)) for k in KEYS}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged))
    tmp.replace(path)


def totals() -> dict[str, int]:
    out = dict.fromkeys(KEYS, 0)
    for path in sorted(FOLDER.glob("*.json")):
        for k, v in json.loads(path.read_text()).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def main() -> int:
    files = sorted(FOLDER.glob("*.json"))
    if not files:
        print(f"no records in {FOLDER}: run the fault tests first (pytest tests/faults/test_faults_*.py ...)")
        return 1
    for path in files:
        print(f"{path.stem:45s} {json.loads(path.read_text())}")
    t = totals()
    print(
        f"\nfaults injected: {t['faults_injected']}\nbad inputs tried: {t['bad_inputs']}\n"
        f"rows checked: {t['rows_checked']}\nrows lost: {t['rows_lost']}\n"
        f"rows loaded twice: {t['rows_loaded_twice']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
