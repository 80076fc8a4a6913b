"""The `feeds` app: every command registered in one place, and `run_app`, the one place a `CommandError`
becomes `error:` lines on stderr and its exit code (for `feeds` and for the fixtures' commands alike)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from ..errors import CommandError
from .export import export_command
from .interrupts import EXIT_INTERRUPTED, Interrupted
from .load import load_command
from .output import console, stamp
from .publish import publish_command
from .receive import receive_command
from .report import report_command
from .status import status_command

app = typer.Typer(
    help="Load marketing vendors' event feeds into DuckDB, receive webhooks, publish the marts, report feed health.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("load")(load_command)
app.command("status")(status_command)
app.command("publish")(publish_command)
app.command(
    "export", hidden=True, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)(export_command)
app.command("receive")(receive_command)
app.command("report")(report_command)


def report_error(exc: CommandError) -> int:
    """A command's error as `error:` lines on stderr (an interruption as one timestamped line); the exit code."""
    message = str(exc)
    if isinstance(exc, Interrupted):
        print(f"{stamp()} {message}", file=sys.stderr, flush=True)
        return exc.code
    for line in message.splitlines() or [message]:
        console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    return exc.code


def run_app(command_app: typer.Typer) -> None:
    """Run a command-line app: a `CommandError` becomes its message and exit code, Ctrl-C exits 130."""
    try:
        command_app()
    except CommandError as exc:
        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        sys.exit(report_error(Interrupted("interrupted", EXIT_INTERRUPTED)))


def main() -> None:
    run_app(app)
