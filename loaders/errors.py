"""The one error a command raises: a message the user can act on and the exit code scripts trust.

Commands raise `CommandError`; `loaders.cli.run_app` turns it into `error: ...` lines on stderr and the exit
code, in one place. No command imports the CLI module for this, so the CLI can import every command."""

from __future__ import annotations

EXIT_OK, EXIT_QUARANTINED, EXIT_CONFIG, EXIT_BUSY = 0, 1, 2, 75
EXIT_ENVIRONMENT = (
    74  # sysexits' EX_IOERR: disk full, I/O error, lost transaction, corrupt/read-only warehouse
)


class CommandError(Exception):
    """A command failed; `str(self)` says what and what to do (one or more lines), `code` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_CONFIG) -> None:
        super().__init__(message)
        self.code = code
