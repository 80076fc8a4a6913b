"""What every transport offers: list the files under a URI, fetch one to a local path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class TransportError(Exception):
    """The remote could not be reached or refused us; the message names the remote and what to do."""


@dataclass(frozen=True)
class RemoteFile:
    """One file version at a remote: `relpath` is relative to the feed's URI, `version` keys the ledger."""

    uri: str
    relpath: str
    size: int
    mtime: float
    version: str


class Transport(Protocol):
    """A transport subclasses this protocol explicitly: it then inherits the defaults of the capabilities it
    lacks (no unreadable files, no errors after the listing, no re-reading of versions)."""

    # one line per listed file that cannot be read (a dangling link, a loop, a name not UTF-8), set by
    # `list`: each is reported, and the other files load
    problems: Sequence[str] = ()
    # failures of part of a listing that did not stop the rest (an API window that failed), set by `list`:
    # they fail the feed once the files that did arrive are loaded
    errors: Sequence[str] = ()

    def list(self) -> list[RemoteFile]:
        """Every file under the feed's URI, recursively."""
        ...

    def local_path(self, file: RemoteFile) -> Path | None:
        """A path DuckDB can read in place, or None when the file must be fetched first."""
        ...

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        """Stream the file to `dest` without holding it in memory."""
        ...

    def current_version(self, file: RemoteFile) -> str | None:
        """The file's version now (None: gone), to check that a file read in place was not changed while it
        was read. The default: a transport that cannot tell answers the version listed (a fetched copy is
        the version it was fetched as)."""
        return file.version

    def close(self) -> None: ...


def safe_relpath(relpath: str) -> str:
    """Refuse remote names that could escape a folder or break a path: `..`, absolute, NUL, newlines."""
    if any(ch in relpath for ch in ("\x00", "\n", "\r")):
        raise ValueError(f"unsafe remote file name {relpath!r}: contains NUL or a line break")
    parts = relpath.replace("\\", "/").split("/")
    if relpath.startswith("/") or any(p in ("..", ".") for p in parts):
        raise ValueError(f"unsafe remote file name {relpath!r}: must stay inside the feed's folder")
    return relpath
