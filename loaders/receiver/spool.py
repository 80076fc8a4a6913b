"""The receiver's durable path: a local spool of NDJSON files, group-committed, rotated, then landed.

An event is acknowledged only after its line is written and fdatasync'ed in the spool's active file. Requests
arriving while one fsync runs are written together by the next (group commit), so the disk sees one fsync
per batch, not per event. A file is closed when it reaches the size or age limit, moved to `ready/`, and an
uploader moves it to the landing (a local folder or S3) under the Encharge layout's name, then deletes it.

A killed process leaves files in `active/` and `ready/`; the next start trims a half-written last line (never
acknowledged: the ack comes after the fsync of whole lines), moves them to `ready/` and lands them. Landing
is idempotent: a file already landed with the same size is not written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from ..transports.base import safe_relpath
from ..vendors.encharge import landing_path

log = logging.getLogger("feeds.receive")

Stored = Callable[[OSError | None], None]  # told once a request's lines are on disk, or why they are not

STAMP = "%Y%m%dT%H%M%S"


class SpoolError(RuntimeError):
    """The spool folder cannot be used; the message names it and what to do."""


def landing_relpath(opened: datetime, token: str) -> str:
    """Where a closed spool file lands, relative to the landing URI: the Encharge layout decides."""
    return safe_relpath(landing_path(opened, token))


class Landing(Protocol):
    uri: str

    def put(self, local: Path, relpath: str) -> None: ...


class FileLanding:
    """A local folder; a file appears there whole (temporary name, fsync, rename) or not at all."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.root = Path(unquote(urlparse(uri).path))

    def put(self, local: Path, relpath: str) -> None:
        target = self.root / safe_relpath(relpath)
        if target.exists() and target.stat().st_size == local.stat().st_size:
            return  # landed before a crash, spool copy not yet deleted
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            with open(local, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)


class S3Landing:
    """s3://bucket/prefix; a PUT is atomic, so readers never see part of a file."""

    def __init__(self, uri: str, endpoint_url: str | None = None) -> None:
        from ..transports.s3 import s3_client

        parsed = urlparse(uri)
        self.uri = uri
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.client = s3_client(endpoint_url)

    def put(self, local: Path, relpath: str) -> None:
        self.client.upload_file(str(local), self.bucket, self.prefix + safe_relpath(relpath))


def open_landing(uri: str, s3_endpoint_url: str | None = None) -> Landing:
    scheme = urlparse(uri).scheme
    if scheme == "file":
        landing = FileLanding(uri)
        landing.root.mkdir(parents=True, exist_ok=True)
        return landing
    if scheme == "s3":
        return S3Landing(uri, s3_endpoint_url)
    raise SpoolError(f"--landing {uri}: must be file:///folder or s3://bucket/prefix")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _trim_to_last_line(path: Path) -> int:
    """Cut a half-written last line (a crash mid-write); returns the bytes kept."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "r+b") as fh:
        pos = size
        while pos > 0:
            step = min(pos, 1 << 16)
            fh.seek(pos - step)
            chunk = fh.read(step)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = pos - step + nl + 1
                break
            pos -= step
        else:
            keep = 0
        if keep != size:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
    return keep


@dataclass
class SpoolStats:
    events_stored: int = 0
    batches: int = 0
    files_landed: int = 0
    last_upload_error: str | None = None
    recovered_files: int = 0
    started_at: float = field(default_factory=time.time)


class Spool:
    def __init__(self, folder: Path, landing: Landing, rotate_bytes: int, rotate_seconds: float) -> None:
        self.folder = Path(folder)
        self.active_dir = self.folder / "active"
        self.ready_dir = self.folder / "ready"
        self.landing = landing
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.stats = SpoolStats()
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        self._opened_at = 0.0
        self._pending: list[tuple[list[bytes], Stored]] = []
        self._wake: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        self._rotate_now = False
        self._busy = False
        self._closing = False
        self._io = ThreadPoolExecutor(1, thread_name_prefix="spool-io")
        self._uploads = ThreadPoolExecutor(2, thread_name_prefix="spool-upload")
        self._tasks: list[asyncio.Task[None]] = []

    # ---- start: lock, recover what a killed process left ------------------------------------------------

    def open(self) -> None:
        try:
            self.active_dir.mkdir(parents=True, exist_ok=True)
            self.ready_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SpoolError(
                f"spool folder {self.folder}: {exc}; pass --spool with a writable folder"
            ) from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise SpoolError(
                f"spool folder {self.folder} is in use by another `feeds receive`; stop it or pass another --spool"
            ) from None
        for path in sorted(self.active_dir.iterdir()):
            if path.name.startswith("."):
                continue
            if _trim_to_last_line(path) == 0:
                path.unlink()
                continue
            os.replace(path, self.ready_dir / path.name)
            self.stats.recovered_files += 1
        _fsync_dir(self.active_dir)
        _fsync_dir(self.ready_dir)
        if self.stats.recovered_files:
            log.warning("recovered %d spool file(s) left by an earlier run", self.stats.recovered_files)

    def start(self) -> None:
        """Start the writer, the age timer and the uploader on the running loop."""
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._ready.set()  # files recovered at open() are waiting
        self._tasks = [
            asyncio.create_task(self._writer(), name="spool-writer"),
            asyncio.create_task(self._age_timer(), name="spool-age"),
            asyncio.create_task(self._uploader(), name="spool-uploader"),
        ]

    # ---- the write path ---------------------------------------------------------------------------------

    def submit(self, lines: list[bytes], stored: Stored) -> None:
        """Queue `lines` for the next fsync; `stored(None)` is called once they are on disk (fdatasync'ed),
        `stored(error)` if they could not be stored. OSError at once if the spool is closing."""
        if self._closing:
            raise OSError("receiver is shutting down")
        assert self._wake is not None
        self._pending.append((lines, stored))
        self._wake.set()

    async def _writer(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._rotate_now:
                self._busy = True
                batch, self._pending = self._pending, []
                if batch:
                    data = b"".join(line for lines, _ in batch for line in lines)
                    try:
                        await loop.run_in_executor(self._io, self._write_sync, data)
                    except OSError as exc:
                        log.error("spool write failed, %d request(s) refused: %s", len(batch), exc)
                        self._tell(batch, OSError(f"spool write failed: {exc}"))
                    else:
                        self.stats.events_stored += sum(len(lines) for lines, _ in batch)
                        self.stats.batches += 1
                        self._tell(batch, None)
                if self._fd is not None and (self._rotate_now or self._size >= self.rotate_bytes):
                    try:
                        await loop.run_in_executor(self._io, self._rotate_sync)
                    except OSError as exc:
                        log.error("spool rotation failed (retried on the next write): %s", exc)
                    assert self._ready is not None
                    self._ready.set()
                self._rotate_now = False
            self._busy = False

    @staticmethod
    def _tell(batch: list[tuple[list[bytes], Stored]], exc: OSError | None) -> None:
        for _, stored in batch:
            try:
                stored(exc)
            except Exception:  # one request's answer must not stop the writer
                log.exception("answering a request failed")

    def _write_sync(self, data: bytes) -> None:
        if self._fd is None:
            opened = datetime.now(UTC)
            self._name = f"{opened:{STAMP}}-{secrets.token_hex(4)}.ndjson"
            self._fd = os.open(self.active_dir / self._name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._size = 0
            self._opened_at = time.monotonic()
            _fsync_dir(self.active_dir)  # the new name must survive a power cut too
        before = self._size
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fdatasync(self._fd)
        except OSError:
            # Take back what this failed batch wrote so later lines do not follow a fragment.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            raise
        self._size = before + len(data)

    def _rotate_sync(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        os.replace(self.active_dir / self._name, self.ready_dir / self._name)
        _fsync_dir(self.ready_dir)
        _fsync_dir(self.active_dir)

    async def _age_timer(self) -> None:
        tick = max(0.05, min(1.0, self.rotate_seconds / 4))
        assert self._wake is not None
        while True:
            await asyncio.sleep(tick)
            if self._fd is not None and time.monotonic() - self._opened_at >= self.rotate_seconds:
                self._rotate_now = True
                self._wake.set()

    # ---- landing ----------------------------------------------------------------------------------------

    def pending_files(self) -> list[Path]:
        return sorted(p for p in self.ready_dir.iterdir() if not p.name.startswith("."))

    async def _uploader(self) -> None:
        assert self._ready is not None
        backoff = 1.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), 5)
            self._ready.clear()
            if await self.land_ready():
                backoff = 1.0
            else:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                self._ready.set()

    def _land_one(self, path: Path, relpath: str) -> None:
        """Land a closed file and delete the spool's copy, off the event loop (freeing a large file takes a
        while, and requests wait for nothing but their own fsync)."""
        self.landing.put(path, relpath)
        path.unlink()

    async def land_ready(self) -> bool:
        """Land every closed file; False if one failed (it stays in the spool and is tried again)."""
        loop = asyncio.get_running_loop()
        for path in self.pending_files():
            try:
                opened = datetime.strptime(path.name.split("-", 1)[0], STAMP).replace(tzinfo=UTC)
                token = path.name.split("-", 1)[1].split(".", 1)[0]
                relpath = landing_relpath(opened, token)
            except (ValueError, IndexError):
                log.error("spool file %s has an unexpected name; move it away by hand", path)
                continue
            try:
                await loop.run_in_executor(self._uploads, self._land_one, path, relpath)
            except Exception as exc:
                self.stats.last_upload_error = f"{path.name} -> {self.landing.uri}: {exc}"
                log.error("landing failed, kept in the spool and retried: %s", self.stats.last_upload_error)
                return False
            self.stats.files_landed += 1
            self.stats.last_upload_error = None
            log.info("landed %s/%s", self.landing.uri.rstrip("/"), relpath)
        return True

    # ---- stop -------------------------------------------------------------------------------------------

    async def close(self, upload_timeout: float = 30.0) -> None:
        """Write what is pending, close the current file and land everything that can be landed."""
        self._closing = True
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while self._pending or self._busy:
            self._wake.set()
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await loop.run_in_executor(self._io, self._rotate_sync)
        try:
            landed = await asyncio.wait_for(self.land_ready(), upload_timeout)
        except TimeoutError:
            landed = False
        if not landed:
            log.warning("files left in spool %s; they are landed on the next start", self.ready_dir)
        self._io.shutdown(wait=True)
        self._uploads.shutdown(wait=False)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
