"""APSIS One email-event export, pulled through the vendor's API and handed to the core as gzip CSV files.

The walk for one window: OAuth client credentials -> `POST /emails/reports` -> poll `GET /emails/reports/{id}`
with backoff until `completed` -> stream `file_download_url` (with `header_auth`, the `x-apsis-auth` header)
to a local file. The core then loads it like any file; attribute and tag headers such as
`gender (version_id: 491874)` are kept exactly as the vendor writes them.

Which windows: each export becomes one RemoteFile whose URI names its window,
`apsis://<host>/emails/reports/<start>_<end>.csv.gz`, so the ledger (`loader.files`) is the only state: the
windows already loaded (or quarantined) are covered, and a run asks for the gaps between `api.start_at` and
now less `api.settle_minutes` (or `api.until`, if earlier). A gap after loaded windows starts
`api.overlap_hours` earlier: events APSIS files late land in the overlap, and their duplicates collapse in the
mart on (correlation_id, type). A gap longer than `max_window_days` is split; a window the vendor answers with status
`error` (too large a file) is retried as two halves until it fits.

Failures it survives: a token that expires (renewed before `expires_in` runs out, and again on any 401), 429
(backed off, honouring Retry-After), 5xx and dropped connections (retried), an expired download URL (the status
is asked again for a fresh URL). Secrets come from the environment variables the feed names and never appear in
an error message, the ledger or a URI.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
import urllib3
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from ..vendors.apsis import export_file_name
from .base import RemoteFile, Transport, TransportError

if TYPE_CHECKING:
    import duckdb

    from ..config import Feed

TERMINAL = ("completed", "error", "failed", "expired", "cancelled", "canceled")
_STAMP = "%Y%m%dT%H%M%SZ"
DEFAULT_MAX_WAIT = 7_200.0  # seconds one export may take (throttled, pending) before the run gives up on it
_WINDOW_IN_URI = re.compile(r"(\d{8}T\d{6}Z)_(\d{8}T\d{6}Z)\.csv\.gz$")

Window = tuple[datetime, datetime]


# ---------------------------------------------------------------- windows and names


def parse_time(value: str) -> datetime:
    """An ISO 8601 date or date-time from feeds.yml or the API; naive values are UTC."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_uri(host: str, window: Window) -> str:
    start, end = window
    return f"apsis://{host}/emails/reports/{start:{_STAMP}}_{end:{_STAMP}}.csv.gz"


def window_of(uri: str) -> Window | None:
    """The export window a ledger URI stands for, or None for a URI this transport did not make."""
    match = _WINDOW_IN_URI.search(uri)
    if not match:
        return None
    start, end = (datetime.strptime(g, _STAMP).replace(tzinfo=UTC) for g in match.groups())
    return start, end


def relpath_for(window: Window) -> str:
    """The name the vendor layout routes to `raw.apsis__email_events` (one definition, shared with export)."""
    return export_file_name(*window)


def loaded_windows(con: duckdb.DuckDBPyConnection, feed: str) -> list[Window]:
    """Windows the ledger holds for a feed (loaded, or quarantined: those wait for a fix, not a re-request)."""
    from ..warehouse import META_SCHEMA

    rows = con.execute(
        f"select uri from {META_SCHEMA}.files where feed = ? and status in ('loaded', 'quarantined')", [feed]
    ).fetchall()
    return [w for (uri,) in rows if (w := window_of(uri)) is not None]


def gaps(origin: datetime, end: datetime, covered: Iterable[Window]) -> list[Window]:
    """The parts of [origin, end) that no covered window holds, in time order."""
    out: list[Window] = []
    cursor = origin
    for start, stop in sorted(covered):
        if stop <= cursor:
            continue
        if start > cursor:
            out.append((cursor, min(start, end)))
        cursor = max(cursor, stop)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return [(s, e) for s, e in out if e - s >= timedelta(seconds=1)]


def with_overlap(
    origin: datetime, windows: list[Window], covered: Iterable[Window], overlap: timedelta
) -> list[Window]:
    """Each gap that follows loaded windows starts `overlap` earlier (never before `origin`), so events the
    vendor filed after an earlier window was exported are read again; their duplicates collapse in the mart."""
    if not overlap:
        return windows
    ends = [stop for _, stop in covered]
    return [(max(origin, start - overlap), end) if start in ends else (start, end) for start, end in windows]


def split(window: Window, max_len: timedelta) -> list[Window]:
    start, end = window
    out = []
    while end - start > max_len:
        out.append((start, start + max_len))
        start += max_len
    out.append((start, end))
    return out


def halves(window: Window) -> list[Window]:
    start, end = window
    mid = start + timedelta(seconds=int((end - start).total_seconds()) // 2)
    return [(start, mid), (mid, end)]


# ---------------------------------------------------------------- the API client


class ApsisError(TransportError):
    """The API refused or failed in a way retrying will not fix; the message says what to do."""


class ExportTooLarge(ApsisError):
    """The export ended in status `error`: [doc] retry with a smaller data subset."""


class _Transient(Exception):
    """Worth another try after a wait: 429, 5xx, a dropped connection, an expired download URL."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Throttled(_Transient):
    pass


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _detail(resp: requests.Response) -> str:
    """The server's own reason, short; never the request (which may carry credentials)."""
    try:
        body = resp.json()
    except ValueError:
        return f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        reason = (
            body.get("detail") or body.get("error_description") or body.get("message") or body.get("error")
        )
        if reason:
            return f"HTTP {resp.status_code}: {str(reason)[:200]}"
    return f"HTTP {resp.status_code}"


class _WaitRetryAfter:
    """Exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.backoff = wait_exponential(multiplier=initial, min=initial, max=maximum)
        self.maximum = maximum

    def __call__(self, state: Any) -> float:
        wait = self.backoff(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.maximum))
        return wait


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    sha256: str


class ApsisClient:
    """One account's API session. Thread-safe: exports run in parallel threads sharing one token."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        poll_interval: float = 2.0,
        max_wait: float = 7_200.0,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self.poll_interval = max(poll_interval, 0.001)
        self.max_wait = max_wait
        self.timeout = timeout
        self._local = threading.local()  # one keep-alive session per thread: Session is not thread-safe
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._sessions_lock:  # not self._lock: token() holds that while it makes its request
                self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    # ------------------------------------------------------------ plumbing

    def _redact(self, text: str) -> str:
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _run(self, what: str, fn: Any, attempts: int | None = None) -> Any:
        """Call fn, retrying transient failures with backoff for up to max_wait seconds (or `attempts`)."""
        stop = stop_after_delay(self.max_wait)
        if attempts is not None:
            stop = stop | stop_after_attempt(attempts)
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=_WaitRetryAfter(self.poll_interval, max(self.poll_interval * 15, 1.0)),
            stop=stop,
            reraise=False,
        )
        try:
            return retrying(fn)
        except RetryError as exc:
            tries = exc.last_attempt.attempt_number
            last = exc.last_attempt.exception()
            raise ApsisError(
                self._redact(f"{self.base_url}: {what}: gave up after {tries} tries: {last}")
            ) from None

    def _send(self, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            # the exception text can hold the URL (a download URL is itself a credential): name the kind only
            raise _Transient(f"{urlparse(url).netloc}: connection failed ({type(exc).__name__})") from None

    # ------------------------------------------------------------ token

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token = self._run("get an access token", self._fetch_token)
            return self._token

    def _fetch_token(self) -> str:
        resp = self._send(
            "POST",
            f"{self.base_url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._secret,
            },
        )
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Transient(f"token: {_detail(resp)}", _retry_after(resp))
        if resp.status_code in (400, 401, 403):
            raise ApsisError(
                f"{self.base_url}/oauth/token refused the client credentials ({_detail(resp)}); "
                "check the client id and secret in the environment variables the feed's api: block names"
            )
        if resp.status_code != 200:
            raise ApsisError(f"{self.base_url}/oauth/token: unexpected {_detail(resp)}")
        body = resp.json()
        lifetime = float(body.get("expires_in") or 3600)
        # renew before the end, with room for clock skew and a slow call: a tenth of the lifetime, at most 5 min
        self._renew_at = time.monotonic() + lifetime - min(300.0, lifetime * 0.1)
        return str(body["access_token"])

    def _forget_token(self, used: str) -> None:
        with self._lock:
            if self._token == used:
                self._token = None

    def _api(self, method: str, path: str, **kw: Any) -> requests.Response:
        """A Bearer call; a 401 (token revoked or expired early) renews the token and repeats the call. Three
        tries, not two: with exports in parallel, another thread may hand us a token that dies in flight."""
        for attempt in range(3):
            token = self.token()
            resp = self._send(
                method, f"{self.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
            )
            if resp.status_code != 401 or attempt == 2:
                return resp
            self._forget_token(token)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ the export walk

    def request_export(self, window: Window, attributes: Sequence[str], tags: Sequence[str]) -> str:
        body = {
            "start_at": iso(window[0]),
            "end_at": iso(window[1]),
            "additional_attribute_mappings": list(attributes),
            "additional_tag_mappings": list(tags),
        }
        label = f"{iso(window[0])}..{iso(window[1])}"

        def attempt() -> str:
            resp = self._api("POST", "/emails/reports", json=body)
            if resp.status_code == 429:
                raise _Throttled(f"export {label}: too many exports pending", _retry_after(resp))
            if resp.status_code >= 500:
                raise _Transient(f"export {label}: {_detail(resp)}", _retry_after(resp))
            if resp.status_code == 401:
                raise ApsisError(
                    f"{self.base_url}: export {label}: token refused three times ({_detail(resp)})"
                )
            if resp.status_code >= 400:
                raise ApsisError(
                    f"{self.base_url}: export {label} refused ({_detail(resp)}); check the feed's "
                    "api.attributes (at most 75), api.tags (at most 25) and api.max_window_days (at most 90)"
                )
            answer = resp.json()
            report_id = answer.get("report_id") or answer.get("id")
            if not report_id:
                raise ApsisError(f"{self.base_url}: export {label}: the answer carries no report id")
            return str(report_id)

        return self._run(f"request export {label}", attempt)

    def status(self, report_id: str) -> tuple[dict[str, Any], str | None]:
        """One status answer (retried on transient failures), with its x-apsis-auth value if any."""

        def attempt() -> tuple[dict[str, Any], str | None]:
            resp = self._api("GET", f"/emails/reports/{report_id}", params={"header_auth": "true"})
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Transient(f"report {report_id}: {_detail(resp)}", _retry_after(resp))
            if resp.status_code != 200:
                raise ApsisError(f"{self.base_url}: report {report_id}: {_detail(resp)}")
            answer = resp.json()
            auth = (
                resp.headers.get("x-apsis-auth") or answer.get("x-apsis-auth") or answer.get("x_apsis_auth")
            )
            return answer, auth

        return self._run(f"status of report {report_id}", attempt)

    def wait(self, report_id: str) -> tuple[dict[str, Any], str | None]:
        """Poll until the report is no longer pending, backing off from poll_interval up to 15 times it."""
        poller = Retrying(
            retry=retry_if_result(lambda r: str(r[0].get("status", "")).lower() not in TERMINAL),
            wait=wait_exponential(
                multiplier=self.poll_interval,
                min=self.poll_interval,
                max=self.poll_interval * 15,
                exp_base=1.5,
            ),
            stop=stop_after_delay(self.max_wait),
        )
        try:
            return poller(self.status, report_id)
        except RetryError as exc:
            answer = exc.last_attempt.result()[0]
            raise ApsisError(
                f"{self.base_url}: report {report_id} still {answer.get('status')!r} after {self.max_wait:.0f}s; "
                "the next run asks again"
            ) from None

    def download(self, report_id: str, answer: dict[str, Any], auth: str | None, dest: Path) -> Downloaded:
        """Stream the file; an expired or refused URL is replaced by asking the status again."""
        state = {"answer": answer, "auth": auth, "fresh": True}

        def attempt() -> Downloaded:
            if not state["fresh"]:
                state["answer"], state["auth"] = self.status(report_id)
            state["fresh"] = False
            current: dict[str, Any] = state["answer"]  # type: ignore[assignment]
            if str(current.get("status")).lower() != "completed":
                raise ApsisError(
                    f"{self.base_url}: report {report_id} is {current.get('status')!r}, not completed"
                )
            url = current.get("file_download_url")
            if not url:
                raise ApsisError(
                    f"{self.base_url}: report {report_id} is completed but has no file_download_url"
                )
            # the URL may point at storage on another host: it gets the x-apsis-auth value, never our token
            headers = {"x-apsis-auth": str(state["auth"])} if state["auth"] else {}
            resp = self._send("GET", url, headers=headers, stream=True)
            with resp:
                if resp.status_code in (401, 403, 410) or resp.status_code == 404:
                    raise _Transient(
                        f"report {report_id}: download refused ({_detail(resp)}); asking for a fresh URL", 0.0
                    )
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise _Transient(f"report {report_id}: download {_detail(resp)}", _retry_after(resp))
                if resp.status_code != 200:
                    raise ApsisError(f"{self.base_url}: report {report_id}: download {_detail(resp)}")
                digest = hashlib.sha256()
                size = 0
                try:
                    with open(dest, "wb") as out:
                        # raw bytes: the file is gzip by content, not by Content-Encoding, and must stay so
                        for chunk in resp.raw.stream(1 << 20, decode_content=False):
                            out.write(chunk)
                            digest.update(chunk)
                            size += len(chunk)
                except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as exc:
                    raise _Transient(f"report {report_id}: download cut ({type(exc).__name__})") from None
            return Downloaded(dest, size, digest.hexdigest())

        # a URL refused again and again is not going to work: a few fresh URLs, then the next run asks anew
        return self._run(f"download report {report_id}", attempt, attempts=6)

    def export(
        self, window: Window, attributes: Sequence[str], tags: Sequence[str], dest: Path
    ) -> Downloaded:
        report_id = self.request_export(window, attributes, tags)
        answer, auth = self.wait(report_id)
        status = str(answer.get("status")).lower()
        if status in ("error", "failed"):
            raise ExportTooLarge(
                f"{self.base_url}: export {iso(window[0])}..{iso(window[1])} ended in {status!r}"
            )
        if status != "completed":
            raise ApsisError(f"{self.base_url}: report {report_id} ended {status!r}; the next run asks again")
        return self.download(report_id, answer, auth, dest)


# ---------------------------------------------------------------- the transport


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
        max_len = timedelta(days=self.api.max_window_days)
        wanted = with_overlap(origin, gaps(origin, end, self.covered), self.covered,
                              timedelta(hours=self.api.overlap_hours))  # fmt: skip
        return [part for gap in wanted for part in split(gap, max_len)]

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
                        self.errors.append(self.client._redact(str(exc)))
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
