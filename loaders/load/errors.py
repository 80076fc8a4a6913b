"""What can go wrong with a file or a batch, and whose fault it is (the file's, or the machine's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from .model import PendingFile


class FileRejected(Exception):
    """A file that cannot be loaded as it is; it is quarantined with this message."""


class EnvironmentFailure(Exception):
    """The machine, not the file: disk full, an I/O error, a lost transaction, a corrupt or read-only
    warehouse. The run stops with this one line; nothing is quarantined and the ledger keeps what committed."""


class FileChanged(Exception):
    """The file disappeared or changed while it was read; it is left for the next run (no ledger entry)."""


class BatchValidationError(Exception):
    """Files of a batch whose rows do not add up (uri -> why); raised inside the batch's transaction."""

    def __init__(self, bad: dict[str, str]) -> None:
        super().__init__("; ".join(f"{u}: {m}" for u, m in bad.items()))
        self.bad = bad


class RecountMismatch(BatchValidationError):
    """The strict reader loaded another number of rows than the file's records: the batch is rolled back and
    those files get the tolerant pass (which accounts for each record, or quarantines with both counts)."""

    @staticmethod
    def message(rows: int, rejected: int, expected: int) -> str:
        got = f"{rows} rows loaded + {rejected} rejected" if rejected else f"{rows} rows read"
        return (
            f"{got}, but the file holds {expected} records (counted by a separate pass that follows "
            "its quoting); nothing of it is loaded: fix or re-send the file"
        )


# what DuckDB and the OS say when the machine, not the file, is at fault
_ENVIRONMENT_MARKERS = (
    "no space left",
    "disk full",
    "disk quota",
    "input/output error",
    "read-only file system",
    "cannot open database",
    "database has been invalidated",
    "no transaction is active",
    "failed to commit",
    "could not write file",
    "could not fsync",
    "could not truncate",
    "is not a valid duckdb database",
    "corrupt",
    "checksum",
    "out of memory",
)
_ENVIRONMENT_ERRNOS = (28, 5, 30, 122)  # ENOSPC, EIO, EROFS, EDQUOT


def environment_problem(exc: BaseException) -> str | None:
    """The one-line reason when an error is the environment's fault, else None (the file's)."""
    if isinstance(exc, EnvironmentFailure):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRNOS:
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    if isinstance(exc, duckdb.FatalException | duckdb.TransactionException | duckdb.OutOfMemoryException):
        return str(exc).split("\n")[0]
    if isinstance(exc, duckdb.Error):
        message = str(exc).split("\n")[0]
        if any(m in message.lower() for m in _ENVIRONMENT_MARKERS):
            return message
    return None


def describe_error(f: PendingFile, exc: BaseException) -> str:
    """One line that names the file, DuckDB's reason (which carries the line) and what to do."""
    message = str(exc).split("\n\n")[0].replace("\n", " ").strip()
    if f.local is not None:
        message = message.replace(str(f.local), f.remote.uri)
    return f"{f.remote.uri}: {message} -- fix or re-send the file; it is retried when its version changes"
