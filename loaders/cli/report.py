"""`feeds report`: one self-contained HTML file of feed health, drawn by `loaders/report/`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..config import DEFAULT_DUCKDB
from ..errors import CommandError
from .output import console
from .output import out as stdout

DEFAULT_OUT = Path("target/feeds-report.html")


def report_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = DEFAULT_OUT,
    duckdb_path: Annotated[
        Path | None,
        typer.Option(
            "--duckdb", help="The warehouse (default $ENGAGEMENT_DUCKDB, else warehouse/engagement.duckdb)."
        ),
    ] = None,
    run_results: Annotated[Path, typer.Option(help="dbt's run results, for the failing tests.")] = Path(
        "target/run_results.json"
    ),
    force: Annotated[bool, typer.Option(help="Replace --out even if this command did not write it.")] = False,
) -> None:
    """Write one self-contained HTML file of feed health (charts from the health mart; works offline)."""
    from ..report import ReportError, write_report

    db = duckdb_path or Path(os.environ.get("ENGAGEMENT_DUCKDB") or DEFAULT_DUCKDB)
    try:
        written = write_report(db, out, run_results, force=force)
    except ReportError as exc:
        raise CommandError(str(exc)) from None
    for title in written.empty:
        console.print(f"[yellow]note:[/] no data for the chart '{title}'", highlight=False)
    stdout.print(
        f"report: {written.path.resolve()} ({written.charts} charts, {written.bytes / 1e6:.1f} MB)",
        highlight=False,
        soft_wrap=True,
    )
