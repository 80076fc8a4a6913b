"""APSIS One email-event export, pulled through the vendor's API and handed to the core as gzip CSV files.

The family: the protocol both ends speak (`vendors/apsis_protocol.py`), the account's session with its token
and retries (`apsis_session.py`), the export job for one window (`apsis_client.py`), which windows to ask for
(`apsis_windows.py`), and here the transport: `list()` runs the exports for the windows not in the ledger yet,
`parallel` at a time; the files are then local and the core loads them like any file. Attribute and tag
headers such as `gender (version_id: 491874)` are kept exactly as the vendor writes them.

A window the vendor answers with status `error` (too large a file) is retried as two halves until it fits.
Secrets come from the environment variables the feed names and never appear in an error message, the ledger
or a URI.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ..vendors.apsis_protocol import Window, parse_time
from .apsis_client import ApsisClient, Downloaded, ExportTooLarge
from .apsis_windows import halves, loaded_windows, relpath_for, wanted, window_uri
from .base import RemoteFile, Transport, TransportError

if TYPE_CHECKING:
    from ..config import Feed

__all__ = ["ApsisTransport", "loaded_windows"]

DEFAULT_MAX_WAIT = 7_200.0  # seconds one export may take (throttled, pending) before the run gives up on it


class ApsisTransport(Transport):
    """`list()` runs the exports for the windows not in the ledger yet; the files are then local."""

    def __init__(
        self,
        feed: Feed,
        covered: Iterable[Window] = (),
        *,
        now: datetime | None = None,
        min_window: timedelta = timedelta(minutes=1),
        max_wait: float | None = None,
        parallel: int = 3,
    ) -> None:
        if feed.api is None:
            raise TransportError(f"feed {feed.name!r}: key 'api': the APSIS transport needs an api: block")
        self.feed = feed
        self.api = feed.api
        self.covered = list(covered)
        self.now = now
        self.min_window = min_window
        self.parallel = max(1, parallel)
        self._seq = itertools.count()
        self.errors: list[str] = []
        creds = []
        for key, var in (
            ("api.client_id_env", self.api.client_id_env),
            ("api.client_secret_env", self.api.client_secret_env),
        ):
            value = os.environ.get(var)
            if not value:
                raise TransportError(
                    f"feed {feed.name!r}: key {key!r}: environment variable {var} is not set"
                )
            creds.append(value)
        self.host = urlparse(self.api.base_url).netloc or "apsis"
        self.client = ApsisClient(
            self.api.base_url,
            creds[0],
            creds[1],
            poll_interval=self.api.poll_interval,
            max_wait=DEFAULT_MAX_WAIT if max_wait is None else max_wait,
        )
        self._tmp = Path(tempfile.mkdtemp(prefix="feeds-apsis-"))
        self._paths: dict[str, Path] = {}

    def windows(self) -> list[Window]:
        """The windows this run will ask for: the ledger's gaps up to now (or api.until), split to size."""
        origin = parse_time(self.api.start_at) if self.api.start_at else None
        if origin is None:
            if not self.covered:
                raise TransportError(
                    f"feed {self.feed.name!r}: key 'api.start_at': nothing loaded yet, so the first window needs a start"
                )
            origin = min(s for s, _ in self.covered)
        now = (self.now or datetime.now(UTC)).replace(microsecond=0)
        settled = now - timedelta(minutes=self.api.settle_minutes)  # later events may still be filed
        until = self.api.until
        end = min(parse_time(until), settled) if until else settled
        overlap = timedelta(hours=self.api.overlap_hours)
        return wanted(origin, end, self.covered, overlap, timedelta(days=self.api.max_window_days))

    def list(self) -> list[RemoteFile]:
        """Run the exports, `parallel` at a time (the vendor builds them slowly; 429 keeps us within its limit)."""
        todo = deque(self.windows())
        files: list[RemoteFile] = []
        stop = False
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="apsis") as pool:
            running: dict[Future[Downloaded], Window] = {}
            while todo or running:
                while todo and not stop and len(running) < self.parallel:
                    window = todo.popleft()
                    dest = self._tmp / f"{next(self._seq):05d}.csv.gz"
                    job = pool.submit(self.client.export, window, self.api.attributes, self.api.tags, dest)
                    running[job] = window
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for job in done:
                    window = running.pop(job)
                    try:
                        got = job.result()
                    except ExportTooLarge as exc:
                        if window[1] - window[0] <= self.min_window:
                            self.errors.append(
                                f"{exc}; even a {self.min_window} window is too large -- ask APSIS support"
                            )
                            stop = True
                        else:
                            todo.extendleft(reversed(halves(window)))
                        continue
                    except TransportError as exc:
                        # windows not asked yet wait: the ledger's gaps make the next run ask for them again
                        self.errors.append(self.client.redact(str(exc)))
                        stop = True
                        continue
                    uri = window_uri(self.host, window)
                    self._paths[uri] = got.path
                    files.append(
                        RemoteFile(
                            uri=uri,
                            relpath=relpath_for(window),
                            size=got.size,
                            mtime=window[1].timestamp(),
                            version=got.sha256,
                        )
                    )
        if not files and self.errors:
            errors, self.errors = self.errors, []  # raised once here, not again through .errors
            raise TransportError(f"feed {self.feed.name!r}: " + "; ".join(errors))
        return sorted(files, key=lambda f: f.uri)

    def local_path(self, file: RemoteFile) -> Path | None:
        return self._paths.get(file.uri)

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        shutil.copyfile(self._paths[file.uri], dest)

    def close(self) -> None:
        self.client.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
