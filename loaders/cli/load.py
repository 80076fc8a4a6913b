"""`feeds load`: every new or changed file of the configured feeds into raw tables, exactly once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import EXIT_BUSY, EXIT_CONFIG, EXIT_ENVIRONMENT, EXIT_OK, EXIT_QUARANTINED, CommandError
from .interrupts import Interrupted, on_sigterm
from .options import ConfigOpt, JsonOpt, WaitOpt, read_config
from .output import console, out, stamp

if TYPE_CHECKING:
    import duckdb

    from ..config import Config
    from ..load.model import RunResult

UNRECOGNIZED_SHOWN = 20  # lines per feed in the load summary; `feeds status` lists every one
COLUMNS = ("feed", "files seen", "loaded", "quarantined", "waiting", "unrecognized", "ignored", "rows", "MB")


def load_command(
    config: ConfigOpt = Path("feeds.yml"),
    feed: Annotated[
        list[str] | None, typer.Option("--feed", "-f", help="Only this feed (repeatable).")
    ] = None,
    retry_quarantined: Annotated[
        bool, typer.Option(help="Try quarantined files again even if their version did not change.")
    ] = False,
    wait: WaitOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Load every new or changed file of the configured feeds into raw tables, exactly once."""
    from ..config import ConfigError
    from ..load.errors import EnvironmentFailure, environment_problem
    from ..status import ledger_summary, write_snapshot
    from ..warehouse import WarehouseLocked, connect

    cfg = read_config(config)
    try:
        for name in feed or []:
            cfg.feed(name)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    try:
        con = connect(cfg.duckdb_path, cfg.settings.memory_limit, cfg.settings.threads, wait=wait)
    except WarehouseLocked as exc:
        raise CommandError(str(exc), EXIT_BUSY) from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except Exception as exc:  # a corrupt, read-only or full warehouse: the environment's, one line
        problem = environment_problem(exc) or str(exc).split("\n")[0]
        raise CommandError(f"{cfg.duckdb_path}: {problem}", EXIT_ENVIRONMENT) from None
    signal.signal(signal.SIGTERM, on_sigterm)
    vendors: dict[str, str] = {f.name: f.vendor for f in cfg.feeds}
    summary = ledger_summary(con, vendors)
    summary["running"] = {"pid": os.getpid(), "started_at_utc": stamp(), "feeds": feed or list(vendors)}
    write_snapshot(cfg.duckdb_path, summary)  # what `feeds status` answers while this load holds the file
    try:
        result = run_loader(cfg, con, feed, retry_quarantined)
    except KeyboardInterrupt as exc:  # recorded in loader.loads as interrupted by the loader
        raise Interrupted.by(exc, "interrupted; recorded in loader.loads as interrupted") from None
    except EnvironmentFailure as exc:
        raise CommandError(
            f"{exc} -- the machine, not a file: nothing was quarantined and what committed stays; "
            "free space or fix the disk, then run again",
            EXIT_ENVIRONMENT,
        ) from None
    finally:
        try:
            with contextlib.suppress(Exception):  # after an environment failure the ledger may be unreadable
                write_snapshot(cfg.duckdb_path, ledger_summary(con, vendors))
        finally:
            with contextlib.suppress(Exception):
                con.close()

    code = exit_code(result)
    if as_json:
        document = {
            "load_id": result.load_id,
            "warehouse": str(cfg.duckdb_path),
            "exit_code": code,
            "feeds": [asdict(r) for r in result.feeds],
        }
        print(json.dumps(document, indent=1))
    else:
        print_summary(result)
    raise typer.Exit(code)


def exit_code(result: RunResult) -> int:
    if result.failed:
        return EXIT_CONFIG
    if result.quarantined or result.rejected or result.unrecognized:
        return EXIT_QUARANTINED
    return EXIT_OK


def run_loader(
    cfg: Config, con: duckdb.DuckDBPyConnection, feed: list[str] | None, retry_quarantined: bool
) -> RunResult:
    from rich.progress import Progress

    from ..load.run import Loader
    from .progress import BAR_COLUMNS, BarProgress, LineProgress

    if console.is_terminal:
        with Progress(*BAR_COLUMNS, console=console, transient=True) as bar:
            return Loader(con, cfg, BarProgress(bar), retry_quarantined=retry_quarantined).run(feed)
    return Loader(con, cfg, LineProgress(), retry_quarantined=retry_quarantined).run(feed)


def print_summary(result: RunResult) -> None:
    """The table of feeds on stdout; per feed, what needs a person's attention on stderr."""
    table = Table(title=f"load {result.load_id}")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "feed" else "right")
    for r in result.feeds:
        table.add_row(
            r.feed,
            str(r.files_seen),
            str(r.files_loaded),
            str(r.files_quarantined),
            str(r.files_waiting),
            str(r.files_unrecognized),
            str(r.files_ignored),
            f"{r.rows:,}",
            f"{r.bytes / 1e6:,.1f}",
        )
    out.print(table)
    for r in result.feeds:
        for note in r.notes:
            console.print(f"[yellow]quarantined:[/] {note}", highlight=False, soft_wrap=True)
        for line in r.unrecognized[:UNRECOGNIZED_SHOWN]:
            console.print(f"[yellow]unrecognized:[/] {escape(line)}", highlight=False, soft_wrap=True)
        if len(r.unrecognized) > UNRECOGNIZED_SHOWN:
            console.print(
                f"[yellow]unrecognized:[/] ... and {len(r.unrecognized) - UNRECOGNIZED_SHOWN} more in {r.feed}"
                " (`feeds status` lists them all)",
                highlight=False,
                soft_wrap=True,
            )
        if r.unrecognized:
            console.print(
                f"  {r.feed}: rename or move these files, or add globs for them to the feed's ignore: list",
                highlight=False,
                soft_wrap=True,
            )
        for line in r.rejects:
            console.print(f"[yellow]rejected rows:[/] {line}", highlight=False, soft_wrap=True)
        for line in r.warnings:
            console.print(f"[yellow]warning:[/] {r.feed}: {escape(line)}", highlight=False, soft_wrap=True)
        for err in r.errors:
            console.print(f"[bold red]error:[/] {r.feed}: {err}", highlight=False, soft_wrap=True)
