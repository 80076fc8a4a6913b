"""A fake APSIS One email-event export API on loopback, played over real HTTP.

It speaks the protocol of the vendor's export (`../shared/vendors.md`, the seed document) so the loader's
client can be tested and demonstrated without the vendor:

- `POST /oauth/token`: client credentials (form or JSON) -> `{"access_token", "token_type", "expires_in"}`.
- `POST /emails/reports` (Bearer): `{"start_at", "end_at", "additional_attribute_mappings",
  "additional_tag_mappings", "segment_filter"}` -> 201 `{"id", "report_id", "status": "pending"}`;
  400 for a window over three months or over 75 attributes / 25 tags; 429 when too many exports are pending.
- `GET /emails/reports/{id}[?header_auth=true]` (Bearer): `pending` -> `in_progress` -> `completed` after N
  polls or T seconds, or `error` when the window is larger than the server agrees to build. A completed answer
  carries `file_download_url`, `file_download_url_expires_at`, `file_expires_at`; each status answer mints a
  fresh URL. With `header_auth=true` the download also needs the `x-apsis-auth` header, whose value the status
  answer returns as a response header (and in the JSON as `x-apsis-auth`).
- `GET /downloads/{token}`: the gzip CSV; 403 once the URL expired (ask the status again), 401 when the
  `x-apsis-auth` header is missing or wrong, 410 once the file itself expired.

Which parts are [doc] and which [guess]: the endpoints, fields, 429 and `error` are documented; the id
field name, the exact status codes of an expired URL and where `x-apsis-auth` travels are our guesses, and the
client accepts every variant we could think of (see `loaders/transports/apsis.py`).

Fault knobs (constructor arguments) let tests make every documented failure happen on demand: token lifetime,
polls or seconds until complete, pending limit, largest window built, URL lifetime, and `fail` to answer the
first N calls of an endpoint with an error status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..transports.apsis import iso, parse_time  # one time format for both ends of the protocol

Render = Callable[[datetime, datetime, list[str], list[str]], bytes]

MAX_REQUEST_WINDOW = timedelta(days=92)  # [doc] "three months", validated when requesting
MAX_ATTRIBUTES, MAX_TAGS = 75, 25  # [doc]
ENDPOINTS = ("token", "request", "status", "download")


def _names(items: Any, key: str) -> list[str]:
    """Mappings arrive as plain strings or as objects; the render callable gets strings."""
    out: list[str] = []
    for item in items or []:
        if isinstance(item, dict):
            value = item.get(key) or item.get("name") or item.get("id")
            out.append(str(value))
        else:
            out.append(str(item))
    return out


@dataclass
class Report:
    id: str
    start_at: datetime
    end_at: datetime
    attributes: list[str]
    tags: list[str]
    created: float
    polls: int = 0
    status: str = "pending"
    data: bytes | None = None
    completed: float | None = None


@dataclass
class Download:
    report_id: str
    expires: float
    auth: str | None  # the x-apsis-auth value, when header_auth was asked for


@dataclass
class Stats:
    """What the server saw, for tests to assert the walk: token -> request -> polling -> download."""

    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (endpoint, detail, HTTP status)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)  # every accepted request
    tokens_issued: int = 0

    def count(self, endpoint: str, status: int | None = None) -> int:
        return sum(1 for e, _, s in self.calls if e == endpoint and (status is None or s == status))


class FakeApsisAPI:
    """The server object; use as a context manager or call start()/stop(). `base_url` once started."""

    def __init__(
        self,
        render: Render,
        client_id: str,
        client_secret: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: float = 86_400.0,
        announced_lifetime: float | None = None,
        polls_until_complete: int = 2,
        seconds_until_complete: float | None = None,
        pending_limit: int = 5,
        max_window: timedelta | None = None,
        url_lifetime: float = 3_600.0,
        file_lifetime: float = 86_400.0,
        fail: dict[str, int | tuple[int, int]] | None = None,
    ) -> None:
        self.render = render
        self.client_id = client_id
        self.client_secret = client_secret
        self.host = host
        self.port = port
        self.token_lifetime = token_lifetime
        # expires_in as told to the client; longer than the real lifetime plays clock skew (a surprise 401)
        self.announced_lifetime = announced_lifetime
        self.polls_until_complete = polls_until_complete
        self.seconds_until_complete = seconds_until_complete
        self.pending_limit = pending_limit
        self.max_window = max_window
        self.url_lifetime = url_lifetime
        self.file_lifetime = file_lifetime
        self.fail: dict[str, list[int]] = {}
        for endpoint, spec in (fail or {}).items():
            if endpoint not in ENDPOINTS:
                raise ValueError(f"fail: unknown endpoint {endpoint!r} (one of {', '.join(ENDPOINTS)})")
            count, status = (spec, 503) if isinstance(spec, int) else spec
            self.fail[endpoint] = [count, status]
        self.stats = Stats()
        self._tokens: dict[str, float] = {}
        self._reports: dict[str, Report] = {}
        self._downloads: dict[str, Download] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake APSIS API is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeApsisAPI:
        api = self

        class Handler(_Handler):
            server_api = api

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="fake-apsis", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeApsisAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ test controls

    def revoke_tokens(self) -> None:
        """Invalidate every token now, as if the vendor rotated its signing key: the next call gets 401."""
        with self._lock:
            self._tokens.clear()

    def expire_downloads(self) -> None:
        """Make every download URL handed out so far expired."""
        with self._lock:
            for d in self._downloads.values():
                d.expires = 0.0

    def pending(self) -> int:
        with self._lock:
            return self._pending_locked(time.monotonic())

    # ------------------------------------------------------------ protocol (called by the handler)

    def _inject(self, endpoint: str) -> int | None:
        with self._lock:
            spec = self.fail.get(endpoint)
            if spec and spec[0] > 0:
                spec[0] -= 1
                return spec[1]
        return None

    def _token_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            expires = self._tokens.get(header[len("Bearer ") :])
        return expires is not None and expires > time.monotonic()

    def issue_token(
        self, client_id: str | None, client_secret: str | None, grant: str | None
    ) -> tuple[int, dict]:
        if grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        ok_id = secrets.compare_digest(str(client_id or ""), self.client_id)
        ok_secret = secrets.compare_digest(str(client_secret or ""), self.client_secret)
        if not (ok_id and ok_secret):
            return 401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
            self.stats.tokens_issued += 1
        told = self.token_lifetime if self.announced_lifetime is None else self.announced_lifetime
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": told}

    def _pending_locked(self, now: float) -> int:
        for report in self._reports.values():
            self._advance_locked(report, now, poll=False)
        return sum(1 for r in self._reports.values() if r.status in ("pending", "in_progress"))

    def create_report(self, body: Any) -> tuple[int, dict, dict[str, str]]:
        if not isinstance(body, dict) or "start_at" not in body:
            return 400, {"error": "invalid_request", "detail": "start_at is required"}, {}
        try:
            start = parse_time(str(body["start_at"]))
            end = parse_time(str(body["end_at"])) if body.get("end_at") else datetime.now(UTC)
        except ValueError as exc:
            return 400, {"error": "invalid_request", "detail": f"bad date-time: {exc}"}, {}
        if end <= start:
            return 400, {"error": "invalid_request", "detail": "end_at must be after start_at"}, {}
        if end - start > MAX_REQUEST_WINDOW:
            return (
                400,
                {"error": "invalid_request", "detail": "the export window is at most three months"},
                {},
            )
        attributes = _names(body.get("additional_attribute_mappings"), "attribute_version_id")
        tags = _names(body.get("additional_tag_mappings"), "tag_discriminator")
        if len(attributes) > MAX_ATTRIBUTES or len(tags) > MAX_TAGS:
            return 400, {"error": "invalid_request", "detail": "at most 75 attributes and 25 tags"}, {}
        now = time.monotonic()
        with self._lock:
            if self._pending_locked(now) >= self.pending_limit:
                return (
                    429,
                    {"error": "too_many_requests", "detail": "pending export limit reached"},
                    {"Retry-After": "1"},
                )
            report = Report(secrets.token_hex(8), start, end, attributes, tags, created=now)
            self._reports[report.id] = report
            self.stats.windows.append((start, end))
        return 201, {"id": report.id, "report_id": report.id, "status": report.status}, {}

    def _advance_locked(self, report: Report, now: float, poll: bool) -> None:
        if report.status not in ("pending", "in_progress"):
            return
        if poll:
            report.polls += 1
        by_polls = report.polls >= self.polls_until_complete
        by_time = (
            self.seconds_until_complete is not None and now - report.created >= self.seconds_until_complete
        )
        if not (by_polls or by_time):
            if report.polls > 0:
                report.status = "in_progress"
            return
        if self.max_window is not None and report.end_at - report.start_at > self.max_window:
            report.status = "error"  # [doc] a too-large export ends in error: the client retries smaller
            return
        report.status = "completed"
        report.completed = now

    def report_status(
        self, report_id: str, header_auth: bool, base_url: str
    ) -> tuple[int, dict, dict[str, str]]:
        now = time.monotonic()
        with self._lock:
            report = self._reports.get(report_id)
            if report is None:
                return 404, {"error": "not_found", "detail": "no such report"}, {}
            self._advance_locked(report, now, poll=True)
            answer: dict[str, Any] = {
                "id": report.id,
                "report_id": report.id,
                "status": report.status,
                "start_at": iso(report.start_at),
                "end_at": iso(report.end_at),
            }
            if report.status != "completed":
                return 200, answer, {}
            render_needed = report.data is None
        if render_needed:
            # rendered outside the lock: a large window takes a while and other clients keep polling
            data = self.render(report.start_at, report.end_at, report.attributes, report.tags)
            with self._lock:
                report.data = data
        assert report.completed is not None
        if now - report.completed > self.file_lifetime:
            answer["status"] = "expired"
            return 200, answer, {}
        token = secrets.token_urlsafe(18)
        auth = secrets.token_urlsafe(18) if header_auth else None
        with self._lock:
            self._downloads[token] = Download(report.id, now + self.url_lifetime, auth)
        wall = datetime.now(UTC)
        answer.update(
            file_download_url=f"{base_url}/downloads/{token}",
            file_download_url_expires_at=iso(wall + timedelta(seconds=self.url_lifetime)),
            file_expires_at=iso(wall + timedelta(seconds=self.file_lifetime - (now - report.completed))),
        )
        headers = {}
        if auth is not None:
            answer["x-apsis-auth"] = auth
            headers["x-apsis-auth"] = auth
        return 200, answer, headers

    def download(self, token: str, auth_header: str | None) -> tuple[int, dict | bytes]:
        now = time.monotonic()
        with self._lock:
            d = self._downloads.get(token)
            if d is None:
                return 404, {"error": "not_found"}
            if d.expires <= now:
                return 403, {
                    "error": "url_expired",
                    "detail": "the download URL expired; ask the report status again",
                }
            if d.auth is not None and not (auth_header and secrets.compare_digest(auth_header, d.auth)):
                return 401, {"error": "unauthorized", "detail": "x-apsis-auth header missing or wrong"}
            report = self._reports[d.report_id]
            if report.completed is not None and now - report.completed > self.file_lifetime:
                return 410, {"error": "gone", "detail": "the export file expired; request a new export"}
            assert report.data is not None
            return 200, report.data


class _Handler(BaseHTTPRequestHandler):
    server_api: FakeApsisAPI
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses one connection for the whole walk

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and the demo print their own progress

    def _send(self, status: int, body: dict | bytes, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, bytes):
            payload, ctype = body, "application/gzip"
        else:
            payload, ctype = json.dumps(body).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        view = memoryview(payload)
        for i in range(0, len(payload), 1 << 20):
            self.wfile.write(view[i : i + (1 << 20)])

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _record(self, endpoint: str, detail: str, status: int) -> None:
        with self.server_api._lock:
            self.server_api.stats.calls.append((endpoint, detail, status))

    def _reply(self, endpoint: str, detail: str, status: int, body: dict | bytes, headers=None) -> None:
        self._record(endpoint, detail, status)
        self._send(status, body, headers)

    def do_POST(self) -> None:
        api = self.server_api
        raw = self._body()
        path = urlparse(self.path).path
        if path == "/oauth/token":
            injected = api._inject("token")
            if injected:
                return self._reply("token", "", injected, {"error": "injected"}, {"Retry-After": "0"})
            if "json" in (self.headers.get("Content-Type") or ""):
                try:
                    form = json.loads(raw or b"{}")
                except ValueError:
                    return self._reply("token", "", 400, {"error": "invalid_request"})
            else:
                form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            status, body = api.issue_token(
                form.get("client_id"), form.get("client_secret"), form.get("grant_type")
            )
            return self._reply("token", "", status, body)
        if path == "/emails/reports":
            if not api._token_ok(self.headers.get("Authorization")):
                return self._reply(
                    "request", "", 401, {"error": "unauthorized", "detail": "token missing or expired"}
                )
            injected = api._inject("request")
            if injected:
                return self._reply("request", "", injected, {"error": "injected"}, {"Retry-After": "0"})
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._reply(
                    "request", "", 400, {"error": "invalid_request", "detail": "body is not JSON"}
                )
            status, answer, headers = api.create_report(body)
            return self._reply("request", str(answer.get("id", "")), status, answer, headers)
        self._reply("other", path, 404, {"error": "not_found"})

    def do_GET(self) -> None:
        api = self.server_api
        parsed = urlparse(self.path)
        parts = parsed.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["emails", "reports"]:
            if not api._token_ok(self.headers.get("Authorization")):
                return self._reply(
                    "status", parts[2], 401, {"error": "unauthorized", "detail": "token missing or expired"}
                )
            injected = api._inject("status")
            if injected:
                return self._reply("status", parts[2], injected, {"error": "injected"}, {"Retry-After": "0"})
            header_auth = parse_qs(parsed.query).get("header_auth", ["false"])[0].lower() == "true"
            host = self.headers.get("Host") or f"{api.host}:{api.port}"
            status, answer, headers = api.report_status(parts[2], header_auth, f"http://{host}")
            return self._reply("status", f"{parts[2]}:{answer.get('status', '')}", status, answer, headers)
        if len(parts) == 2 and parts[0] == "downloads":
            injected = api._inject("download")
            if injected:
                return self._reply(
                    "download", parts[1], injected, {"error": "injected"}, {"Retry-After": "0"}
                )
            status, payload = api.download(parts[1], self.headers.get("x-apsis-auth"))
            return self._reply("download", parts[1], status, payload)
        if parsed.path == "/healthz":
            return self._reply("other", "healthz", 200, {"ok": True})
        self._reply("other", parsed.path, 404, {"error": "not_found"})


@contextlib.contextmanager
def apsis_server(render: Render, client_id: str, client_secret: str, **knobs: Any) -> Iterator[str]:
    """Serve the fake API in a thread; yields its base URL. Knobs: see FakeApsisAPI."""
    with FakeApsisAPI(render, client_id, client_secret, **knobs) as api:
        yield api.base_url


def _world_render(
    seed: int, contacts: int, events: int, start: str, days: int, quirks: list[str] | None = None
) -> Render:
    """The export side's world behind the API: same seed and arguments, same bytes."""
    from .apsis import render_export
    from .world import build_world

    world = build_world(seed, contacts, events, parse_time(start).date(), days, quirks)
    lock = threading.Lock()  # the world is one DuckDB connection; the server renders from several threads

    def render(start_at: datetime, end_at: datetime, attributes: list[str], tags: list[str]) -> bytes:
        with lock:
            return render_export(world, start_at, end_at, attributes, tags)

    return render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loaders.export.apsis_api",
        description="Serve the fake APSIS One export API for a generated world on loopback until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=0, help="0 picks a free port; the URL is printed on stdout"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--contacts", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quirks", default=None, help="comma-separated export quirks (default: all on)")
    parser.add_argument("--client-id-env", default="APSIS_CLIENT_ID", help="env var holding the client id")
    parser.add_argument(
        "--client-secret-env", default="APSIS_CLIENT_SECRET", help="env var holding the secret"
    )
    parser.add_argument("--token-lifetime", type=float, default=86_400.0)
    parser.add_argument("--polls-until-complete", type=int, default=2)
    parser.add_argument("--pending-limit", type=int, default=5)
    parser.add_argument("--max-window-days", type=float, default=None, help="larger windows end in 'error'")
    parser.add_argument("--url-lifetime", type=float, default=3_600.0)
    args = parser.parse_args(argv)
    missing = [v for v in (args.client_id_env, args.client_secret_env) if v not in os.environ]
    if missing:
        print(
            f"error: environment variable(s) {', '.join(missing)} not set (the API's credentials)",
            file=sys.stderr,
        )
        return 2
    quirks = [q for q in args.quirks.split(",") if q] if args.quirks is not None else None
    render = _world_render(args.seed, args.contacts, args.events, args.start, args.days, quirks)
    api = FakeApsisAPI(
        render,
        os.environ[args.client_id_env],
        os.environ[args.client_secret_env],
        host=args.host,
        port=args.port,
        token_lifetime=args.token_lifetime,
        polls_until_complete=args.polls_until_complete,
        pending_limit=args.pending_limit,
        max_window=timedelta(days=args.max_window_days) if args.max_window_days else None,
        url_lifetime=args.url_lifetime,
    )
    with api:
        print(api.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
