"""Each pending file made local and known: fetched (or read in place), its format decided from its bytes,
a CSV file inspected for its dialect and record count (loaders/csvinspect.py).

What to do with a file that cannot be fetched, sniffed or inspected is the feed run's to decide
(feedrun.py); these functions only say what they found.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import csvinspect
from ..config import Settings
from ..csvinspect import Inspection
from ..transports import Transport, TransportError
from ..vendors import Sniffed
from .errors import EnvironmentFailure, FileChanged, environment_problem
from .model import PendingFile

FETCHERS = 8  # downloads side by side


def fetch_all(transport: Transport, pending: Sequence[PendingFile], tmp: Path) -> list[TransportError]:
    """Give each file its local path: the transport's own (read in place), or a download into `tmp`
    (`<n>.part`). A file the transport fails to fetch keeps no path; the errors are returned. Any other
    error is raised."""

    def fetch(i: int, f: PendingFile) -> None:
        local = transport.local_path(f.remote)
        if local is None:
            local = tmp / f"{i:06d}.part"
            transport.fetch(f.remote, local)
        f.local = local

    failed: list[TransportError] = []
    with ThreadPoolExecutor(max_workers=FETCHERS) as pool:
        futures = [(f, pool.submit(fetch, i, f)) for i, f in enumerate(pending)]
        for f, fut in futures:
            exc = fut.exception()
            if exc is not None:
                f.local = None
                if not isinstance(exc, TransportError):
                    raise exc
                failed.append(exc)
    return failed


def file_format(f: PendingFile, sniffed: Sniffed) -> str | None:
    """The format a file is read in: the feed's `format:` if set, else its layout's, else its content's;
    content that is Parquet is read as Parquet whatever the name says. None: cannot tell."""
    fmt = f.route.fmt or sniffed.fmt
    if f.route.fmt and sniffed.fmt and sniffed.fmt != f.route.fmt and sniffed.fmt == "parquet":
        fmt = "parquet"
    if f.feed.format != "auto":
        fmt = {"jsonl": "json"}.get(f.feed.format, f.feed.format)
    return fmt


def inspect_csv(f: PendingFile, settings: Settings) -> Inspection | str | FileChanged:
    """A CSV file's dialect and record count, or why it must not be read (a line for the ledger), or
    FileChanged when it disappeared. The machine's faults raise EnvironmentFailure."""
    absolute = f.feed.max_decompressed_bytes or settings.max_decompressed_bytes
    limit = csvinspect.decompressed_limit(
        f.remote.size, f.gzip, absolute, settings.max_decompressed_ratio, settings.max_decompressed_floor
    )
    assert f.local is not None
    try:
        return csvinspect.inspect(
            f.local, f.gzip, f.fmt, limit, settings.max_header_bytes, settings.max_columns
        )
    except csvinspect.Refused as exc:
        return str(exc)
    except FileNotFoundError:
        return FileChanged(f"{f.remote.uri}: disappeared while it was read; retried on the next run")
    except OSError as exc:
        problem = environment_problem(exc)
        if problem:
            raise EnvironmentFailure(f"{f.remote.uri}: {problem}") from None
        return f"cannot read: {exc}"
