"""`feeds`: one entry point. Exit codes: 0 all loaded, 1 some files quarantined, rows rejected or files
unrecognized, 2 configuration or connection, 74 the environment (disk full, I/O error, corrupt or read-only
warehouse)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from .config import ConfigError, load_config

app = typer.Typer(
    help="Load marketing vendors' event feeds into DuckDB, export fixture feeds, receive webhooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

EXIT_OK, EXIT_QUARANTINED, EXIT_CONFIG = 0, 1, 2
EXIT_ENVIRONMENT = (
    74  # sysexits' EX_IOERR: disk full, I/O error, lost transaction, corrupt/read-only warehouse
)
UNRECOGNIZED_SHOWN = 20  # lines per feed in the load summary; `feeds status` lists every one

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="feeds.yml to read.")]


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


class _BarProgress:
    """Feeds the loader's callbacks into a rich progress bar: files, bytes and rows."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.files = progress.add_task("files", total=0)
        self.bytes = progress.add_task("bytes", total=0)
        self.rows = 0

    def add_total(self, files: int, nbytes: int) -> None:
        self.progress.update(self.files, total=(self.progress.tasks[self.files].total or 0) + files)
        self.progress.update(self.bytes, total=(self.progress.tasks[self.bytes].total or 0) + nbytes)

    def advance(self, files: int, nbytes: int, rows: int) -> None:
        self.rows += rows
        self.progress.update(self.files, advance=files, description=f"files  rows={self.rows:,}")
        self.progress.update(self.bytes, advance=nbytes)


@app.command()
def load(
    config: ConfigOpt = Path("feeds.yml"),
    feed: Annotated[
        list[str] | None, typer.Option("--feed", "-f", help="Only this feed (repeatable).")
    ] = None,
    retry_quarantined: Annotated[
        bool, typer.Option(help="Try quarantined files again even if their version did not change.")
    ] = False,
) -> None:
    """Load every new or changed file of the configured feeds into raw tables, exactly once."""
    from .core import EnvironmentFailure, Loader, environment_problem
    from .warehouse import WarehouseLocked, connect

    try:
        cfg = load_config(config)
        for name in feed or []:
            cfg.feed(name)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    try:
        con = connect(cfg.duckdb_path, cfg.settings.memory_limit, cfg.settings.threads)
    except (WarehouseLocked, ValueError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # a corrupt, read-only or full warehouse: the environment's, one line
        problem = environment_problem(exc) or str(exc).split("\n")[0]
        raise fail(f"{cfg.duckdb_path}: {problem}", EXIT_ENVIRONMENT) from None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
            result = Loader(con, cfg, _BarProgress(bar), retry_quarantined=retry_quarantined).run(feed)
    except EnvironmentFailure as exc:
        raise fail(
            f"{exc} -- the machine, not a file: nothing was quarantined and what committed stays; "
            "free space or fix the disk, then run again",
            EXIT_ENVIRONMENT,
        ) from None
    finally:
        with contextlib.suppress(Exception):
            con.close()

    table = Table(title=f"load {result.load_id}")
    for col in (
        "feed",
        "files seen",
        "loaded",
        "quarantined",
        "waiting",
        "unrecognized",
        "ignored",
        "rows",
        "MB",
    ):
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
        for line in r.rejects:
            console.print(f"[yellow]rejected rows:[/] {line}", highlight=False, soft_wrap=True)
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
        for line in r.warnings:
            console.print(f"[yellow]warning:[/] {r.feed}: {escape(line)}", highlight=False, soft_wrap=True)
        for err in r.errors:
            console.print(f"[bold red]error:[/] {r.feed}: {err}", highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(EXIT_CONFIG)
    if result.quarantined or result.rejected or result.unrecognized:
        raise typer.Exit(EXIT_QUARANTINED)


@app.command()
def status(config: ConfigOpt = Path("feeds.yml")) -> None:
    """Per feed: files loaded, rows, last load, files quarantined and why, recent schema changes."""
    from .status import feed_status
    from .warehouse import WarehouseLocked, connect

    try:
        cfg = load_config(config)
        con = connect(cfg.duckdb_path, cfg.settings.memory_limit)
    except (ConfigError, WarehouseLocked) as exc:
        raise fail(str(exc)) from None
    try:
        feed_status(con, cfg, out)
    finally:
        con.close()


# Commands that live beside their subject register here, one line each.
# (helpers: add `app.command("export")(...)` and `app.command("receive")(...)` below this line)
from .export.command import export_command  # noqa: E402

app.command("export")(export_command)
from .receiver import receive_command  # noqa: E402

app.command("receive")(receive_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
