"""The load core's records: a file on its way in (`PendingFile`), a bound batch (`Prepared`), and what a run
reports per feed and in all (`FeedResult`, `RunResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..config import Feed
from ..csvinspect import Inspection
from ..transports import RemoteFile
from ..vendors import Route


@dataclass
class PendingFile:
    """One file version the ledger does not hold yet, and what the run learns about it as it goes."""

    feed: Feed
    remote: RemoteFile
    route: Route
    replaces: bool  # an earlier version of this URI is loaded and must be replaced
    local: Path | None = None
    fmt: str | None = None
    gzip: bool = False
    inspection: Inspection | None = None  # a CSV file's dialect and independent record count
    lineage: dict[str, str | None] = field(default_factory=dict)  # per-file columns a control file vouched
    required: tuple[str, ...] = ()  # columns the file cannot lack (its layout's, for its raw table)
    header: list[str] | None = None  # the file's own columns, once a reader has looked


@dataclass
class Prepared:
    """A batch with its one statement, bound parameters and the columns it yields."""

    files: list[PendingFile]
    query: str | None
    params: dict[str, object]
    columns: list[tuple[str, str]]
    loaded_at: datetime
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, content)
    note: str | None = None  # kept in the ledger's error column of a file loaded with rejects

    @property
    def table(self) -> str:
        return self.files[0].route.table


@dataclass
class FeedResult:
    feed: str
    files_seen: int = 0
    files_loaded: int = 0
    files_quarantined: int = 0
    files_waiting: int = 0
    files_changed: int = 0  # vanished or changed while read: not in the ledger, taken by the next run
    files_unreadable: int = 0  # listed but not readable (dangling link, loop, name not UTF-8): reported
    rows: int = 0
    rows_rejected: int = 0
    bytes: int = 0
    files_unrecognized: int = 0
    files_ignored: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejects: list[str] = field(default_factory=list)  # one line per file that had rows rejected
    unrecognized: list[str] = field(default_factory=list)  # one line per file no layout claims
    warnings: list[str] = field(default_factory=list)  # e.g. a feed that holds no file of its vendor


@dataclass
class RunResult:
    load_id: str
    feeds: list[FeedResult]

    @property
    def quarantined(self) -> int:
        """Files that did not load for a reason of their own (the exit code tells): quarantined, unreadable
        in the listing, or changed while read."""
        return sum(f.files_quarantined + f.files_unreadable + f.files_changed for f in self.feeds)

    @property
    def rejected(self) -> int:
        return sum(f.rows_rejected for f in self.feeds)

    @property
    def unrecognized(self) -> int:
        return sum(f.files_unrecognized for f in self.feeds)

    @property
    def failed(self) -> bool:
        return any(f.errors for f in self.feeds)
