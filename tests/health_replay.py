"""An export with quirks delivered day by day, each day loaded by the real loader on a simulated clock.

The loader stamps its ledger with its clock (`loaders.load.clock.utcnow`); the vendors' files arrive on the days
of the export's `truth/files.csv` (arrives_at). Replaying those days in seconds needs the loader to believe
it runs on each of them: its clock is set to the delivery day (plus the real seconds elapsed, so durations
stay real) for the length of that day's run. Nothing else is simulated: the files, the loader, DuckDB and
dbt are the real ones.

Beside the export's own quirks (duplicates, late files, drift, Simon control files after their data) a
feed `sailthru_extra` brings a lookup file with a ragged row (a rejected row) and a file that is not the
gzip it claims to be (quarantined), and the last Simon control file never arrives (its data files wait).
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export
from loaders.config import load_config
from loaders.load import clock
from loaders.load.model import RunResult
from loaders.load.run import Loader
from loaders.warehouse import connect

RUN_HOUR = 23  # each day's load runs at 23:00 UTC, after that day's deliveries


@dataclass
class Replay:
    warehouse: Path
    export_root: Path
    feeds_yml: Path
    days: list[date]
    # (feed, day) -> what the loader reported for that day's run: files_loaded, rows, bytes, quarantined, ...
    recorded: dict[tuple[str, date], dict[str, int]] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)  # relpaths never delivered

    @property
    def as_of(self) -> datetime:
        return datetime.combine(self.days[-1], datetime.min.time()) + timedelta(hours=23, minutes=59)


@contextmanager
def loader_clock(at: datetime) -> Iterator[None]:
    """The loader's clock reads `at` plus the real time elapsed since entering."""
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clock, "utcnow", lambda: at + timedelta(seconds=time.monotonic() - started))
        yield


def load_at(feeds_yml: Path, warehouse: Path, at: datetime) -> RunResult:
    cfg = load_config(feeds_yml)
    with loader_clock(at):
        con = connect(warehouse)
        try:
            return Loader(con, cfg).run()
        finally:
            con.close()


def _deliveries(root: Path) -> dict[date, list[tuple[str, datetime]]]:
    with open(root / "truth/files.csv", newline="") as fh:
        out: dict[date, list[tuple[str, datetime]]] = defaultdict(list)
        for r in csv.DictReader(fh):
            at = datetime.fromisoformat(r["arrives_at"])
            out[at.date()].append((r["relpath"], at))
    return out


def _bad_files(extra: Path, days: list[date]) -> dict[date, list[tuple[str, bytes]]]:
    lookup = "campaign_id,client_id,name,subject,create_time\n"
    lookup += "c1,0000,Spring,Hi,2024-03-01 10:00:00\n"
    lookup += "c2,0000,Summer,Hello,2024-03-01 11:00:00,an extra field\n"  # ragged: rejected
    lookup += "c3,0000,Autumn,Hey,2024-03-01 12:00:00\n"
    d1, d2 = days[-3], days[-2]
    return {
        d1: [(f"campaign/dt={d1:%Y%m%d}/hr=06/client_id=0000/part-0badf00d.csv", lookup.encode())],
        # gzip's magic, then not a deflate stream: quarantined as it cannot be decompressed
        d2: [
            (
                f"campaign_open/dt={d2:%Y%m%d}/client_id=0000/part-0badf00e.csv",
                gzip.compress(b"x" * 64)[:12] + b"\xff" * 64,
            )
        ],  # fmt: skip
    }


def replay(tmp: Path, events: int = 3000, seed: int = 5) -> Replay:
    source = tmp / "export"
    export(parse_destination(source.as_uri()), events=events, contacts=200, days=4, seed=seed)
    landing = tmp / "landing"
    config = yaml.safe_load((source / "feeds.yml").read_text())
    for feed in config["feeds"]:
        feed["uri"] = feed["uri"].replace(source.as_uri(), landing.as_uri())
        Path(feed["uri"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    extra = tmp / "extra"
    extra.mkdir()
    config["feeds"].append({"name": "sailthru_extra", "vendor": "sailthru", "uri": extra.as_uri()})
    feeds_yml = tmp / "feeds.yml"
    feeds_yml.write_text(yaml.safe_dump(config))

    deliveries = _deliveries(source)
    days = sorted(deliveries)
    controls = [(at, rel) for d in days for rel, at in deliveries[d] if rel.startswith("simon/") and
                rel.endswith(".json")]  # fmt: skip
    withheld = [max(controls)[1]]
    bad = _bad_files(extra, days)
    result = Replay(tmp / "wh.duckdb", source, feeds_yml, days, withheld=withheld)
    for day in days:
        for relpath, at in deliveries[day]:
            if relpath in withheld:
                continue
            target = landing / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relpath, target)
            stamp = at.replace(tzinfo=UTC).timestamp()
            os.utime(target, (stamp, stamp))  # delivered then
        for relpath, content in bad.get(day, []):
            target = extra / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        run = load_at(feeds_yml, result.warehouse, datetime.combine(day, datetime.min.time()) +
                      timedelta(hours=RUN_HOUR))  # fmt: skip
        for f in run.feeds:
            result.recorded[(f.feed, day)] = {
                "files_loaded": f.files_loaded,
                "rows_loaded": f.rows,
                "bytes_loaded": f.bytes,
                "files_quarantined": f.files_quarantined,
                "rows_rejected": f.rows_rejected,
                "files_waiting": f.files_waiting,
            }
    return result
