"""The load's progress on stderr: a bar per feed on a terminal, timestamped lines without one.

Both receive the load core's callbacks (`start_feed`, `add_total`, `advance`, `end_feed`). Imported when a
load runs, not when the CLI starts (it imports the load core)."""

from __future__ import annotations

import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ..load.model import FeedResult
from ..load.run import Progress as LoadProgress
from .output import stamp

BAR_COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TextColumn("files  {task.fields[mb]} MB  {task.fields[rows]} rows"),
    TimeElapsedColumn(),
)


class BarProgress(LoadProgress):
    """The loader's callbacks as a progress bar per feed: its files (count), megabytes and rows."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = TaskID(-1)
        self.rows = 0
        self.nbytes = 0

    def start_feed(self, feed: str) -> None:
        self.rows = self.nbytes = 0
        self.task = self.progress.add_task(feed, total=None, mb="0.0", rows="0")

    def end_feed(self, result: FeedResult) -> None:
        task = self.progress.tasks[self.task]
        self.progress.update(self.task, total=task.total or 0, completed=task.total or 0)

    def add_total(self, files: int, nbytes: int) -> None:
        total = self.progress.tasks[self.task].total or 0
        self.progress.update(self.task, total=total + files)

    def advance(self, files: int, nbytes: int, rows: int) -> None:
        self.rows += rows
        self.nbytes += nbytes
        self.progress.update(self.task, advance=files, mb=f"{self.nbytes / 1e6:,.1f}", rows=f"{self.rows:,}")


class LineProgress(LoadProgress):
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

    def end_feed(self, result: FeedResult) -> None:
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
