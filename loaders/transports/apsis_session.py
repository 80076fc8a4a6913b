"""One APSIS account's API session: OAuth client credentials, a Bearer token shared by threads and renewed
before it runs out (and on any 401), one keep-alive HTTP session per thread, and retries with backoff.

Failures it survives: 429 (backed off, honouring Retry-After), 5xx and dropped connections (retried), a token
that expires or is revoked early. Secrets never appear in an error message: `redact` removes them, and a
failed request is named by its host and the kind of failure, never by its URL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)
from tenacity.stop import stop_base

from ..vendors.apsis_protocol import GRANT_TYPE, TOKEN_PATH
from .base import TransportError

T = TypeVar("T")
UNSTATED_TOKEN_LIFETIME = 3_600.0  # seconds, when the token answer has no expires_in: renew early, not late


class ApsisError(TransportError):
    """The API refused or failed in a way retrying will not fix; the message says what to do."""


class Transient(Exception):
    """Worth another try after a wait: 429, 5xx, a dropped connection, an expired download URL."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(Transient):
    pass


def retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def detail(resp: requests.Response) -> str:
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


class WaitRetryAfter:
    """Exponential backoff, but never shorter than the server's Retry-After."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.backoff = wait_exponential(multiplier=initial, min=initial, max=maximum)
        self.maximum = maximum

    def __call__(self, state: RetryCallState) -> float:
        wait = self.backoff(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            wait = max(wait, min(exc.retry_after, self.maximum))
        return wait


class _ThreadSession(threading.local):
    """This thread's keep-alive HTTP session, made on first use: `requests.Session` is not thread-safe."""

    def __init__(self) -> None:
        self.session: requests.Session | None = None


class ApsisSession:
    """One account's API session. Thread-safe: calls from parallel threads share one token."""

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
        self._local = _ThreadSession()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        session = self._local.session
        if session is None:
            session = self._local.session = requests.Session()
            with self._sessions_lock:  # not self._lock: token() holds that while it makes its request
                self._sessions.append(session)
        return session

    def close(self) -> None:
        for session in self._sessions:
            session.close()

    # ------------------------------------------------------------ plumbing

    def redact(self, text: str) -> str:
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def run(self, what: str, fn: Callable[[], T], attempts: int | None = None) -> T:
        """Call fn, retrying transient failures with backoff for up to max_wait seconds (or `attempts`)."""
        stop: stop_base = stop_after_delay(self.max_wait)
        if attempts is not None:
            stop = stop | stop_after_attempt(attempts)
        retrying = Retrying(
            retry=retry_if_exception_type(Transient),
            wait=WaitRetryAfter(self.poll_interval, max(self.poll_interval * 15, 1.0)),
            stop=stop,
            reraise=False,
        )
        try:
            return retrying(fn)
        except RetryError as exc:
            tries = exc.last_attempt.attempt_number
            last = exc.last_attempt.exception()
            raise ApsisError(
                self.redact(f"{self.base_url}: {what}: gave up after {tries} tries: {last}")
            ) from None

    def send(self, method: str, url: str, **kw: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            # the exception text can hold the URL (a download URL is itself a credential): name the kind only
            raise Transient(f"{urlparse(url).netloc}: connection failed ({type(exc).__name__})") from None

    # ------------------------------------------------------------ token

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._token = self.run("get an access token", self._fetch_token)
            return self._token

    def _fetch_token(self) -> str:
        url = f"{self.base_url}{TOKEN_PATH}"
        resp = self.send(
            "POST",
            url,
            data={"grant_type": GRANT_TYPE, "client_id": self._client_id, "client_secret": self._secret},
        )
        if resp.status_code == 429 or resp.status_code >= 500:
            raise Transient(f"token: {detail(resp)}", retry_after(resp))
        if resp.status_code in (400, 401, 403):
            raise ApsisError(
                f"{url} refused the client credentials ({detail(resp)}); "
                "check the client id and secret in the environment variables the feed's api: block names"
            )
        if resp.status_code != 200:
            raise ApsisError(f"{url}: unexpected {detail(resp)}")
        body = resp.json()
        lifetime = float(body.get("expires_in") or UNSTATED_TOKEN_LIFETIME)
        # renew before the end, with room for clock skew and a slow call: a tenth of the lifetime, at most 5 min
        self._renew_at = time.monotonic() + lifetime - min(300.0, lifetime * 0.1)
        return str(body["access_token"])

    def _forget_token(self, used: str) -> None:
        with self._lock:
            if self._token == used:
                self._token = None

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        """A Bearer call; a 401 (token revoked or expired early) renews the token and repeats the call. Three
        tries, not two: with exports in parallel, another thread may hand us a token that dies in flight."""
        for attempt in range(3):
            token = self.token()
            resp = self.send(
                method, f"{self.base_url}{path}", headers={"Authorization": f"Bearer {token}"}, **kw
            )
            if resp.status_code != 401 or attempt == 2:
                return resp
            self._forget_token(token)
        raise AssertionError("unreachable")
