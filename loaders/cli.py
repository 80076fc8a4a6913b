"""`feeds`: one entry point. Exit codes: 0 all loaded, 1 some files quarantined, rows rejected or files
unrecognized, 2 configuration or connection, 74 the environment (disk full, I/O error, corrupt or read-only
warehouse), 75 the warehouse is busy (another process writes it: try again, or pass --wait), 130/143 interrupted
(Ctrl-C / SIGTERM; the run is recorded in loader.loads as interrupted)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import DEFAULT_DUCKDB, ConfigError, load_config
from .errors import EXIT_BUSY, EXIT_CONFIG, EXIT_ENVIRONMENT, EXIT_OK, EXIT_QUARANTINED, CommandError

app = typer.Typer(
    help="Load marketing vendors' event feeds into DuckDB, receive webhooks, publish the marts, report feed health.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()

UNRECOGNIZED_SHOWN = 20  # lines per feed in the load summary; `feeds status` lists every one

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="feeds.yml to read.")]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait", metavar="SECONDS", help="Wait up to SECONDS for another process to release the warehouse."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")]


def fail(message: str, code: int = EXIT_CONFIG) -> CommandError:
    return CommandError(message, code)


def report_error(exc: CommandError) -> int:
    """The one place a command's error becomes `error:` lines on stderr; returns the exit code."""
    message = str(exc)
    for line in message.splitlines() or [message]:
        console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    return exc.code


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _BarProgress:
    """The loader's callbacks as a progress bar per feed: its files (count), megabytes and rows."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None
        self.rows = 0
        self.nbytes = 0

    def start_feed(self, feed: str) -> None:
        self.rows = self.nbytes = 0
        self.task = self.progress.add_task(feed, total=None, mb="0.0", rows="0")

    def end_feed(self, result: Any) -> None:
        task = self.progress.tasks[self.task]
        self.progress.update(self.task, total=task.total or 0, completed=task.total or 0)

    def add_total(self, files: int, nbytes: int) -> None:
        total = self.progress.tasks[self.task].total or 0
        self.progress.update(self.task, total=total + files)

    def advance(self, files: int, nbytes: int, rows: int) -> None:
        self.rows += rows
        self.nbytes += nbytes
        self.progress.update(self.task, advance=files, mb=f"{self.nbytes / 1e6:,.1f}", rows=f"{self.rows:,}")


class _LineProgress:
    """Without a terminal (cron, CI, an orchestrator): plain timestamped lines per feed, as the load goes."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.feed = ""
        self.files = self.total = self.rows = self.nbytes = 0
        self.last = 0.0

    def _say(self, message: str) -> None:
        print(f"{stamp()} {message}", file=sys.stderr, flush=True)

    def _line(self, what: str) -> None:
        self._say(
            f"feed {self.feed}: {what} {self.files}/{self.total} files, {self.rows:,} rows,"
            f" {self.nbytes / 1e6:,.1f} MB"
        )

    def start_feed(self, feed: str) -> None:
        self.feed, self.files, self.total, self.rows, self.nbytes = feed, 0, 0, 0, 0
        self._say(f"feed {feed}: listing")
        self.last = time.monotonic()

    def end_feed(self, result: Any) -> None:
        self._say(
            f"feed {self.feed}: done, {result.files_loaded} loaded, {result.files_quarantined} quarantined,"
            f" {result.files_waiting} waiting, {result.rows:,} rows"
        )

    def add_total(self, files: int, nbytes: int) -> None:
        self.total += files
        self._line("to load:")

    def advance(self, files: int, nbytes: int, rows: int) -> None:
        self.files += files
        self.rows += rows
        self.nbytes += nbytes
        if time.monotonic() - self.last >= self.every or self.files == self.total:
            self.last = time.monotonic()
            self._line("loaded")


def _config_or_exit(config: Path) -> Any:
    try:
        return load_config(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@app.command()
def load(
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
    from .load.errors import EnvironmentFailure, environment_problem
    from .status import ledger_summary, write_snapshot
    from .warehouse import WarehouseLocked, connect

    cfg = _config_or_exit(config)
    try:
        for name in feed or []:
            cfg.feed(name)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    try:
        con = connect(cfg.duckdb_path, cfg.settings.memory_limit, cfg.settings.threads, wait=wait)
    except WarehouseLocked as exc:
        raise fail(str(exc), EXIT_BUSY) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # a corrupt, read-only or full warehouse: the environment's, one line
        problem = environment_problem(exc) or str(exc).split("\n")[0]
        raise fail(f"{cfg.duckdb_path}: {problem}", EXIT_ENVIRONMENT) from None
    signal.signal(signal.SIGTERM, _on_sigterm)
    vendors = {f.name: f.vendor for f in cfg.feeds}
    summary = ledger_summary(con, vendors)
    summary["running"] = {"pid": os.getpid(), "started_at_utc": stamp(), "feeds": feed or list(vendors)}
    write_snapshot(cfg.duckdb_path, summary)  # what `feeds status` answers while this load holds the file
    try:
        result = _run_loader(cfg, con, feed, retry_quarantined)
    except KeyboardInterrupt as exc:  # recorded in loader.loads as interrupted by the loader
        print(f"{stamp()} interrupted; recorded in loader.loads as interrupted", file=sys.stderr, flush=True)
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    except EnvironmentFailure as exc:
        raise fail(
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

    code = EXIT_OK
    if result.failed:
        code = EXIT_CONFIG
    elif result.quarantined or result.rejected or result.unrecognized:
        code = EXIT_QUARANTINED
    if as_json:
        print(
            json.dumps(
                {
                    "load_id": result.load_id,
                    "warehouse": str(cfg.duckdb_path),
                    "exit_code": code,
                    "feeds": [asdict(r) for r in result.feeds],
                },
                indent=1,
            )
        )
        raise typer.Exit(code)

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
    raise typer.Exit(code)


def _run_loader(cfg: Any, con: Any, feed: list[str] | None, retry_quarantined: bool) -> Any:
    from .load.run import Loader

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[mb]} MB  {task.fields[rows]} rows"),
        TimeElapsedColumn(),
    )
    if console.is_terminal:
        with Progress(*columns, console=console, transient=True) as bar:
            return Loader(con, cfg, _BarProgress(bar), retry_quarantined=retry_quarantined).run(feed)
    return Loader(con, cfg, _LineProgress(), retry_quarantined=retry_quarantined).run(feed)


def _warehouse_for(config: Path, explicit: bool) -> tuple[Path, dict[str, str] | None]:
    """The warehouse and the configured feeds; without a feeds.yml, $ENGAGEMENT_DUCKDB and the ledger's feeds."""
    if explicit or config.exists():
        cfg = _config_or_exit(config)
        return cfg.duckdb_path, {f.name: f.vendor for f in cfg.feeds}
    return Path(os.environ.get("ENGAGEMENT_DUCKDB") or DEFAULT_DUCKDB), None


@app.command()
def status(
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
    from .status import ledger_summary, read_snapshot, render
    from .warehouse import WarehouseLocked, WarehouseMissing, connect_read_only

    path, feeds = _warehouse_for(config or Path("feeds.yml"), config is not None)
    try:
        con = connect_read_only(path, wait)
    except WarehouseMissing as exc:
        raise fail(str(exc)) from None
    except WarehouseLocked as exc:
        summary = read_snapshot(path)
        if summary is None:
            raise fail(str(exc), EXIT_BUSY) from None
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


@app.command()
def publish(
    to: Annotated[
        Path | None,
        typer.Option(
            "--to", help="Serving file (default: <warehouse>_marts.duckdb, or $ENGAGEMENT_MARTS_DUCKDB)."
        ),
    ] = None,
    schema: Annotated[
        list[str] | None,
        typer.Option(
            "--schema",
            help="Schema to publish (repeatable; default $ENGAGEMENT_SERVING_SCHEMAS or marts,health).",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="feeds.yml (for settings.duckdb).")
    ] = None,
    wait: WaitOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Copy the marts to the serving DuckDB file and Parquet beside it, swapped in whole (readers open that)."""
    from .publish import PublishRefused
    from .publish import publish as run_publish
    from .warehouse import WarehouseLocked, WarehouseMissing

    path, _ = _warehouse_for(config or Path("feeds.yml"), config is not None)
    try:
        done = run_publish(path, to, schema, wait)
    except (PublishRefused, WarehouseMissing) as exc:
        raise fail(str(exc)) from None
    except WarehouseLocked as exc:
        raise fail(str(exc).replace("nothing was loaded", "nothing was published"), EXIT_BUSY) from None
    if as_json:
        print(
            json.dumps(
                {
                    "publish_id": done.publish_id,
                    "duckdb": str(done.path),
                    "parquet": str(done.parquet),
                    "tables": [{"schema": s, "table": t, "rows": n} for s, t, n in done.tables],
                    "seconds": round(done.seconds, 3),
                }
            )
        )
        return
    rows = sum(n for _, _, n in done.tables)
    out.print(
        f"published {len(done.tables)} tables ({rows:,} rows) to {done.path} and {done.parquet}/"
        f" in {done.seconds:.1f}s (version {done.publish_id})",
        highlight=False,
        soft_wrap=True,
    )


@app.command(hidden=True, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def export() -> None:
    """Moved: fixture feeds are written by `python -m fixtures export` from a checkout."""
    raise fail(
        "fixture feeds are not part of the installed loader: from a checkout of the repository, run"
        " `python -m fixtures export --to URI ...` (install its dependencies with pip install -e '.[fixtures]')"
    )


# Commands that live beside their subject register here, one line each.
from .receiver import receive_command  # noqa: E402

app.command("receive")(receive_command)
from .report.command import report_command  # noqa: E402

app.command("report")(report_command)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so a load records itself as interrupted."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def run_app(command_app: typer.Typer) -> None:
    """Run a command-line app: a `CommandError` becomes its message and exit code, Ctrl-C exits 130."""
    try:
        command_app()
    except CommandError as exc:
        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        print(f"{stamp()} interrupted", file=sys.stderr)
        sys.exit(130)


def main() -> None:
    run_app(app)


if __name__ == "__main__":
    main()
