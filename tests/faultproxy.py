"""A fault-injecting HTTP reverse proxy for tests: put it in front of a real server (moto's S3, the fake
APSIS API) and make chosen requests fail the way real remotes do.

Rules match a method and a path regex (the path includes the query string) and act on the first `times`
matching requests (None: forever):
- `status`: answer this HTTP status with a body (S3's XML error for `code`, e.g. SlowDown) and never reach
  the server;
- `cut`: forward, send the server's headers and the first `after` bytes of its body, then drop the
  connection (a download cut mid-body);
- `stall`: wait `seconds` before forwarding (a server that times out), then forward if the client is still
  there.
Everything else is passed through byte for byte. `injected` counts the faults played, per rule.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Rule:
    action: str  # status | cut | stall
    path: str = ".*"
    method: str | None = None
    times: int | None = 1  # None: every matching request, for ever
    status: int = 503
    code: str = "ServiceUnavailable"
    after: int = 0  # cut: body bytes sent before the cut
    seconds: float = 0.0  # stall
    injected: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in ("status", "cut", "stall"):
            raise ValueError(f"unknown action {self.action!r}")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self._pattern.search(path))


class FaultProxy:
    def __init__(self, upstream: str, rules: list[Rule] | None = None) -> None:
        parsed = urlparse(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.rules: list[Rule] = list(rules or [])
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ rules

    def set_rules(self, *rules: Rule) -> None:
        with self._lock:
            self.rules = list(rules)

    @property
    def injected(self) -> int:
        with self._lock:
            return sum(r.injected for r in self.rules)

    def _pick(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.matches(method, path) and (rule.times is None or rule.injected < rule.times):
                    rule.injected += 1
                    return rule
        return None


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rule = self.owner._pick(self.command, self.path)
        if rule is not None and rule.action == "status":
            self._answer_error(rule)
            return
        if rule is not None and rule.action == "stall":
            time.sleep(rule.seconds)
        upstream = http.client.HTTPConnection(self.owner.upstream_host, self.owner.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(self.command, self.path, body=body or None, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        finally:
            upstream.close()
        try:
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            if rule is not None and rule.action == "cut":
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data[: rule.after])
                self.wfile.flush()
                self.close_connection = True
                # a reset, not a clean close: what a dropped connection looks like to the client
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                return
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a stall outlived its timeout)

    def _answer_error(self, rule: Rule) -> None:
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{rule.code}</Code><Message>injected by the test proxy</Message>"
            "<RequestId>faultproxy</RequestId></Error>"
        ).encode()
        self.send_response(rule.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(xml)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(xml)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
