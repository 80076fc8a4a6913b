"""`feeds status`: per feed, what the ledger holds; read-only, and answered from a snapshot while a load runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_BUSY, CommandError
from .options import JsonOpt, WaitOpt, warehouse_for
from .output import console, out


def status_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="feeds.yml to read (default feeds.yml if present, else the ledger)."
        ),
    ] = None,
    wait: WaitOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Per feed: files loaded, rows, last load, files quarantined and why, recent schema changes.

    Opens the warehouse read-only and never creates it. While a load holds the file, answers from the
    snapshot that load keeps (the ledger as it stood, and which load is running)."""
    from ..status import ledger_summary, read_snapshot, render
    from ..warehouse import WarehouseLocked, WarehouseMissing, connect_read_only

    path, feeds = warehouse_for(config or Path("feeds.yml"), config is not None)
    try:
        con = connect_read_only(path, wait)
    except WarehouseMissing as exc:
        raise CommandError(str(exc)) from None
    except WarehouseLocked as exc:
        snapshot = read_snapshot(path)
        if snapshot is None:
            raise CommandError(str(exc), EXIT_BUSY) from None
        summary = snapshot
        summary["busy"] = str(exc)
    else:
        try:
            summary = ledger_summary(con, feeds)
        finally:
            con.close()
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    if summary.get("busy"):
        running = summary.get("running") or {}
        console.print(
            f"[yellow]busy:[/] a load (process {running.get('pid', '?')}) started at"
            f" {running.get('started_at_utc', '?')} UTC holds the warehouse; figures as the ledger stood then",
            highlight=False,
            soft_wrap=True,
        )
    render(summary, out)
