"""One export: build the world, write each chosen vendor's files, the truth and a feeds.yml, then upload.

Folder layout under the destination:
    sailthru/<table>/dt=.../...          -> feed `sailthru` (`_SUCCESS` markers: its `ignore:`)
    simon/flows/<yyyy>/<m>/<d>/...       -> feed `simon` (day folders padded unless `unpadded`)
    apsis/apsis-email-events-*.csv.gz    -> feed `apsis_files` (the API path is `feeds` + the fake APSIS API)
    encharge/dt=<day>/encharge-events-*  -> feed `encharge` (what the receiver lands)
    leanplum/json/dt=<day>/...           -> feed `leanplum_json`
    leanplum/parquet/dt=<day>/...        -> feed `leanplum_parquet`
    truth/                               -> ground truth (see truth.py)
    feeds.yml                            -> a configuration that loads all of the above
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .destinations import Destination, DestinationError, upload
from .files import Output
from .sailthru import IGNORE as SAILTHRU_IGNORE
from .truth import write_truth
from .world import VENDORS, build_world

GENERATED = ("sailthru", "simon", "apsis", "encharge", "leanplum", "truth", "feeds.yml")


@dataclass
class ExportResult:
    destination: str
    root: Path  # the local folder holding the files (the destination itself for file://)
    files: int
    rows: int
    events: int
    seconds: float
    per_vendor: dict[str, float] = field(default_factory=dict)  # seconds per vendor
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def feeds_config(dest: Destination, vendors: Iterable[str]) -> dict[str, Any]:
    """The feeds.yml that loads this export from where it was written. The Sailthru feed ignores the Spark
    markers the `stray` quirk writes (a glob that matches nothing when the quirk is off)."""
    ignore = {"sailthru": SAILTHRU_IGNORE}
    feeds: list[dict[str, Any]] = []

    def feed(name: str, vendor: str, sub: str) -> None:
        entry: dict[str, Any] = {"name": name, "vendor": vendor, "uri": dest.child(sub)}
        if dest.scheme == "s3" and dest.endpoint_url:
            entry["s3"] = {"endpoint_url": dest.endpoint_url}
        if dest.scheme == "sftp":
            entry["sftp"] = {k: v for k, v in (("known_hosts", dest.known_hosts), ("key_file", dest.key_file),
                                              ("password_env", dest.password_env)) if v}  # fmt: skip
        if ignore.get(name):
            entry["ignore"] = list(ignore[name])
        feeds.append(entry)

    chosen = set(vendors)
    if "sailthru" in chosen:
        feed("sailthru", "sailthru", "sailthru")
    if "simon" in chosen:
        feed("simon", "simon", "simon")
    if "apsis" in chosen:
        feed("apsis_files", "apsis", "apsis")
    if "encharge" in chosen:
        feed("encharge", "encharge", "encharge")
    if "leanplum" in chosen:
        feed("leanplum_json", "leanplum", "leanplum/json")
        feed("leanplum_parquet", "leanplum", "leanplum/parquet")
    return {"feeds": feeds}


def export(
    dest: Destination,
    vendors: Iterable[str] = VENDORS,
    seed: int = 1,
    contacts: int = 1_000,
    events: int = 20_000,
    start: date | str = "2024-03-18",
    days: int = 4,
    quirks: Iterable[str] | None = None,
    *,
    overwrite: bool = False,
    leanplum_gzip: bool = True,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    chosen = [v for v in VENDORS if v in set(vendors)]
    unknown = set(vendors) - set(VENDORS)
    if unknown:
        raise DestinationError(
            f"unknown vendor(s) {', '.join(sorted(unknown))}; pick from {', '.join(VENDORS)}"
        )
    say = progress or (lambda _msg: None)
    began = time.monotonic()
    world = build_world(seed, contacts, events, start, days, quirks, threads)
    staging: tempfile.TemporaryDirectory[str] | None = None
    try:
        if dest.scheme == "file":
            root = dest.local_root
            assert root is not None
            _prepare_local(root, overwrite)
        else:
            staging = tempfile.TemporaryDirectory(prefix="feeds-export-")
            root = Path(staging.name)
        per_vendor: dict[str, float] = {}
        files = []
        for vendor in chosen:
            t0 = time.monotonic()
            world.ensure(vendor)
            module = importlib.import_module(f"{__package__}.{vendor}")
            out = Output(root / vendor)  # a vendor writes paths relative to its own folder
            if vendor == "leanplum":
                module.write(world, out, dest.child("leanplum"), gzip_json=leanplum_gzip)
            else:
                module.write(world, out, dest.child(vendor))
            files += [replace(f, relpath=f"{vendor}/{f.relpath}") for f in out.files]
            per_vendor[vendor] = time.monotonic() - t0
            say(f"{vendor}: {len(out.files)} files in {per_vendor[vendor]:.1f}s")
        args = {"seed": seed, "contacts": contacts, "events_requested": events, "start": str(world.start),
                "days": days, "vendors": chosen, "quirks": sorted(world.quirks), "destination": dest.uri}  # fmt: skip
        summary = write_truth(world, chosen, files, root, args)
        config = feeds_config(dest, chosen)
        header = (f"# Written by `feeds export` (seed {seed}); loads what that export wrote.\n"
                  "# The DuckDB file is $ENGAGEMENT_DUCKDB (default warehouse/engagement.duckdb).\n")  # fmt: skip
        (root / "feeds.yml").write_text(header + yaml.safe_dump(config, sort_keys=False))
        if dest.scheme != "file":
            order = [f.relpath for f in sorted(files, key=lambda f: (f.arrives_at, f.relpath))]
            extras = sorted(
                p.relative_to(root).as_posix() for p in (root / "truth").rglob("*") if p.is_file()
            )
            uploaded = upload(dest, root, [*order, *extras, "feeds.yml"])
            say(f"uploaded {uploaded} files to {dest.uri}")
        seconds = time.monotonic() - began
        rows = sum(f.rows for f in files if f.kind != "control")
        return ExportResult(dest.uri, root, len(files), rows, summary["events"], seconds, per_vendor, summary)
    finally:
        world.close()
        if staging is not None:
            staging.cleanup()


def _prepare_local(root: Path, overwrite: bool) -> None:
    if root.exists() and any(root.iterdir()):
        ours = [root / name for name in GENERATED if (root / name).exists()]
        others = [p for p in root.iterdir() if p not in ours]
        if not overwrite or others:
            raise DestinationError(
                f"{root}: folder is not empty; pick an empty folder"
                + ("" if others else ", or pass --overwrite to replace the previous export")
            )
        for p in ours:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    root.mkdir(parents=True, exist_ok=True)
