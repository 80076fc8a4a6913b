"""The HTTP side of `feeds receive`: an asyncio protocol on uvloop, httptools' C parser, answers only after the
spool's fsync.

POST (any path) -> 401 without the shared secret (when one is configured), 413 over the size limit (by
Content-Length before the body is read, or as a chunked body grows past it), 400 when the JSON is not
Encharge's event shape (nothing stored) or the request is not valid HTTP/1.1, 503 if the spool cannot write,
else 200 once every event of the body is durably in the spool. GET (or HEAD) /healthz -> 200 with counters.
Any other method -> 405 with an Allow header.

Why not aiohttp's server: a POST there is a task, a request object, a stream reader, a response object and
its header serialisation, about three quarters of the receiver's CPU per event (issue 17, py-spy). Here a
request is a few parser callbacks on its connection, its lines go to the spool with a callback, and the 200 is
a prebuilt byte string (its Date refreshed each second). A connection answers its requests in order (a
pipelining client is answered in the order it asked); a refused body is read and thrown away, so the
connection stays usable; a connection silent for KEEPALIVE_SECONDS is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import signal
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import httptools
import uvloop

from .events import InvalidEvents, parse_events
from .spool import Spool, open_landing

log = logging.getLogger("feeds.receive")

DEFAULT_SECRET_HEADER = "X-Webhook-Secret"
# A request allocates some dozen objects that die with it; collecting the young generation every 700
# allocations (Python's default) mostly walks the objects of the requests still in flight.
GC_YOUNG_THRESHOLD = 20_000
MAX_HEAD_BYTES = 32 * 1024  # request line and headers; more gets 431
KEEPALIVE_SECONDS = 75.0  # a connection silent this long (and not waiting for us) is closed
LINGER_SECONDS = 10.0  # a refused body still arriving after this is cut off (the connection is closed)
MAX_QUEUED = 32  # requests pipelined ahead of the one being answered before the connection stops being read

_REASONS = {
    100: b"Continue",
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    405: b"Method Not Allowed",
    413: b"Request Entity Too Large",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@dataclass
class ReceiverSettings:
    landing: str
    spool: Path
    host: str = "127.0.0.1"
    port: int = 8787
    secret: bytes | None = None  # the value, read from the env var named on the command line
    secret_header: str = DEFAULT_SECRET_HEADER
    max_body_bytes: int = 1_000_000
    rotate_bytes: int = 64 * 1024 * 1024
    rotate_seconds: float = 60.0
    s3_endpoint_url: str | None = None


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class _Answer:
    """A request that is complete (or refused before its body): what to answer, in the order asked."""

    __slots__ = ("method", "path", "body", "refusal", "keep_alive", "answered")

    def __init__(self, method: bytes, path: bytes, keep_alive: bool) -> None:
        self.method = method
        self.path = path
        self.body: list[bytes] = []
        self.refusal: tuple[int, str] | None = None
        self.keep_alive = keep_alive
        self.answered = False  # a refusal already written (before the body ended)


class Receiver:
    """What every connection shares: the settings, the spool, the prebuilt answers, the open connections."""

    def __init__(self, settings: ReceiverSettings, spool: Spool) -> None:
        self.settings = settings
        self.spool = spool
        self.secret = settings.secret
        self.secret_header = settings.secret_header.lower().encode("latin-1")
        self.limit = settings.max_body_bytes
        self.connections: set[Connection] = set()
        self.loop = asyncio.get_running_loop()
        self.date = b""
        self.stored_one = b""
        self.refresh()

    def refresh(self) -> None:
        """The Date header (HTTP wants one from a server with a clock) and the common 200, once a second."""
        self.date = formatdate(usegmt=True).encode("ascii")
        self.stored_one = self.response(200, b'{"stored":1}')

    def response(
        self, status: int, body: bytes, *, close: bool = False, head: bool = False, extra: bytes = b""
    ) -> bytes:
        return (
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nDate: %s\r\n%s%s\r\n%s"
            % (
                status,
                _REASONS[status],
                len(body),
                self.date,
                extra,
                b"Connection: close\r\n" if close else b"",
                b"" if head else body,
            )
        )

    def authorized(self, given: bytes | None, authorization: bytes | None) -> bool:
        if self.secret is None:
            return True
        if given is None and authorization is not None and authorization[:7].lower() == b"bearer ":
            given = authorization[7:]
        # compare_digest takes the same time wherever the first difference is: no guessing byte by byte.
        return given is not None and hmac.compare_digest(given, self.secret)

    def health(self) -> bytes:
        stats = self.spool.stats
        return json.dumps(
            {
                "status": "ok",
                "landing": self.settings.landing,
                "events_stored": stats.events_stored,
                "fsync_batches": stats.batches,
                "files_landed": stats.files_landed,
                "files_waiting_to_land": len(self.spool.pending_files()),
                "recovered_files": stats.recovered_files,
                "last_upload_error": stats.last_upload_error,
            }
        ).encode()

    async def tick(self) -> None:
        """Each second: refresh the Date, close silent connections and refused bodies that do not end."""
        while True:
            await asyncio.sleep(1.0)
            self.refresh()
            now = self.loop.time()
            for conn in list(self.connections):
                conn.sweep(now)


class Connection(asyncio.Protocol):
    """One client connection: httptools calls the on_* methods while data_received feeds it."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[_Answer] = deque()
        self.busy = False  # a POST waiting for the spool's fsync; later requests wait in the queue
        self.closed = False
        self.broken = False  # not HTTP: the parser cannot go on, what is ahead is answered, then it closes
        self.paused = False
        self.last_data = receiver.loop.time()
        self.linger_until: float | None = None
        # the request being parsed
        self.current: _Answer | None = None
        self.head_seen = 0  # bytes received since the last head ended
        self.url = b""
        self.head_bytes = 0
        self.length: int | None = None
        self.given: bytes | None = None
        self.authorization: bytes | None = None
        self.expect = False
        self.body_bytes = 0

    # ---- asyncio ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCP transport is not a subclass
        self.receiver.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.queue.clear()
        self.receiver.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.last_data = self.receiver.loop.time()
        if self.broken:
            return
        if self.current is None:  # in a request's head (httptools keeps it whole until it ends): bounded
            self.head_seen += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserCallbackError:  # a fault of this module, not of the request
            log.exception("answering a request failed")
            self._fail(500, "the receiver failed on this request; nothing of it was stored")
        except httptools.HttpParserError as exc:
            self._fail(400, f"not a valid HTTP/1.1 request: {exc}")
        else:
            if self.current is None and self.head_seen > MAX_HEAD_BYTES:
                self._fail(431, f"request line and headers over {MAX_HEAD_BYTES} bytes")

    def sweep(self, now: float) -> None:
        lingered = self.linger_until is not None and now > self.linger_until
        if lingered or (not self.busy and not self.queue and now - self.last_data > KEEPALIVE_SECONDS):
            self.close()

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()  # what was written is sent first

    # ---- httptools' callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.current = None
        self.url = b""
        self.head_bytes = 0
        self.length = None
        self.given = None
        self.authorization = None
        self.expect = False
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value)
        name = name.lower()
        if name == b"content-length":
            self.length = int(value)
        elif name == self.receiver.secret_header:
            if self.given is None:
                self.given = value
        elif name == b"authorization":
            if self.authorization is None:
                self.authorization = value
        elif name == b"expect":
            self.expect = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        self.head_seen = 0
        parser, receiver = self.parser, self.receiver
        answer = self.current = _Answer(
            parser.get_method(), self.url.split(b"?", 1)[0], parser.should_keep_alive()
        )
        if self.head_bytes > MAX_HEAD_BYTES:
            self._refuse(answer, 431, f"request line and headers over {MAX_HEAD_BYTES} bytes")
        elif answer.method != b"POST":
            return
        elif not receiver.authorized(self.given, self.authorization):
            header = receiver.settings.secret_header
            self._refuse(answer, 401, f"missing or wrong shared secret (send it in the {header} header)")
        elif self.length is not None and self.length > receiver.limit:
            self._refuse(answer, 413, f"body of {self.length} bytes is over the {receiver.limit} byte limit")
        elif self.expect and not self.busy and not self.queue and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, data: bytes) -> None:
        answer = self.current
        if answer is None or answer.refusal is not None:
            return  # a refused body is read and thrown away
        self.body_bytes += len(data)
        if self.body_bytes > self.receiver.limit:
            answer.body = []
            self._refuse(answer, 413, f"body is over the {self.receiver.limit} byte limit")
            return
        answer.body.append(data)

    def on_message_complete(self) -> None:
        answer, self.current = self.current, None
        if answer is None:
            return
        self.linger_until = None
        self.queue.append(answer)
        if len(self.queue) > MAX_QUEUED and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        if not self.busy:
            self._answer_queued()

    # ---- answering ------------------------------------------------------------------------------------

    def _refuse(self, answer: _Answer, status: int, message: str) -> None:
        """Refused before the body ended: answered now if nothing is ahead of it, the body thrown away."""
        answer.refusal = (status, message)
        if status == 431:
            answer.keep_alive = False
        self.linger_until = self.receiver.loop.time() + LINGER_SECONDS
        if not self.busy and not self.queue and self.transport is not None:
            self._write(self.receiver.response(status, _error_body(message), close=not answer.keep_alive))
            answer.answered = True

    def _fail(self, status: int, message: str) -> None:
        """Not HTTP: answer (after what is ahead of it) and close, the parser cannot go on."""
        bad = _Answer(b"", b"", keep_alive=False)
        bad.refusal = (status, message)
        self.current = None
        self.broken = True
        self.queue.append(bad)
        if not self.busy:
            self._answer_queued()

    def _write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def _answer_queued(self) -> None:
        receiver = self.receiver
        while self.queue and not self.busy and not self.closed:
            answer = self.queue.popleft()
            if answer.refusal is not None:
                if not answer.answered:
                    status, message = answer.refusal
                    self._write(receiver.response(status, _error_body(message), close=not answer.keep_alive))
            elif answer.method == b"POST":
                self._store(answer)
                if self.busy:
                    return
                continue
            elif answer.path == b"/healthz" and answer.method in (b"GET", b"HEAD"):
                self._write(
                    receiver.response(
                        200, receiver.health(), close=not answer.keep_alive, head=answer.method == b"HEAD"
                    )
                )
            else:
                # as aiohttp's router answered for a GET /healthz and a POST on any path
                allowed = "GET, HEAD, POST" if answer.path == b"/healthz" else "POST"
                method = answer.method.decode("latin-1")
                self._write(
                    receiver.response(
                        405,
                        _error_body(f"method {method} is not allowed here (allowed: {allowed})"),
                        close=not answer.keep_alive,
                        extra=b"Allow: %s\r\n" % allowed.encode(),
                    )
                )
            if not answer.keep_alive:
                self.close()
                return
        if self.paused and not self.queue and not self.closed and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def _store(self, answer: _Answer) -> None:
        receiver = self.receiver
        try:
            lines = parse_events(answer.body[0] if len(answer.body) == 1 else b"".join(answer.body))
        except InvalidEvents as exc:
            self._finish(answer, receiver.response(400, _error_body(str(exc)), close=not answer.keep_alive))
            return

        def stored(exc: OSError | None) -> None:
            self.busy = False
            if exc is not None:
                message = f"could not store the events, send them again: {exc}"
                self._finish(
                    answer, receiver.response(503, _error_body(message), close=not answer.keep_alive)
                )
            elif len(lines) == 1 and answer.keep_alive:
                self._write(receiver.stored_one)
            else:
                body = b'{"stored":%d}' % len(lines)
                self._finish(answer, receiver.response(200, body, close=not answer.keep_alive))
            if not self.closed:
                self._answer_queued()

        try:
            receiver.spool.submit(lines, stored)
        except OSError as exc:  # shutting down
            message = f"could not store the events, send them again: {exc}"
            self._finish(answer, receiver.response(503, _error_body(message), close=not answer.keep_alive))
            return
        self.busy = True

    def _finish(self, answer: _Answer, response: bytes) -> None:
        self._write(response)
        if not answer.keep_alive:
            self.close()


def run(settings: ReceiverSettings) -> None:
    """Serve on uvloop's event loop: libuv spends less CPU per request than asyncio's own loop."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(settings))


async def serve(settings: ReceiverSettings, ready: asyncio.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT, then stop taking requests, finish the spool and land what is closed."""
    landing = open_landing(settings.landing, settings.s3_endpoint_url)
    spool = Spool(settings.spool, landing, settings.rotate_bytes, settings.rotate_seconds)
    spool.open()
    spool.start()
    receiver = Receiver(settings, spool)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(receiver), settings.host, settings.port, backlog=1024, reuse_address=True
    )
    ticker = asyncio.create_task(receiver.tick(), name="receiver-tick")
    log.warning(
        "receiving on http://%s:%d, spool %s, landing %s",
        settings.host,
        settings.port,
        settings.spool,
        settings.landing,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What is alive now (modules, the server, the spool) lives as long as the process: leave it out of every
    # garbage collection, so that the collections the requests' short-lived objects cause stay small.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.warning("stopping: finishing the spool and landing closed files")
        server.close()  # no new connections; requests on open ones get 503 once the spool is closing
        # What is pending is written and answered; nothing unanswered was acknowledged.
        await spool.close()
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        for conn in list(receiver.connections):
            conn.close()
        with contextlib.suppress(TimeoutError):  # a client that reads nothing cannot hold the stop
            await asyncio.wait_for(server.wait_closed(), 5.0)
