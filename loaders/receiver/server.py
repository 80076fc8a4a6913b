"""The HTTP side of `feeds receive`: aiohttp on one event loop, answers only after the spool's fsync.

POST (any path) -> 401 without the shared secret (when one is configured), 413 over the size limit, 400 when
the JSON is not Encharge's event shape (nothing stored), 503 if the spool cannot write, else 200 once every
event of the body is durably in the spool. GET /healthz -> 200 with counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import uvloop
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from .events import InvalidEvents, parse_events
from .spool import Spool, open_landing

log = logging.getLogger("feeds.receive")

DEFAULT_SECRET_HEADER = "X-Webhook-Secret"
# A request allocates some hundred objects that die with it; collecting the young generation every 700
# allocations (Python's default) mostly walks the objects of the requests still in flight.
GC_YOUNG_THRESHOLD = 20_000


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


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=json.dumps({"error": message}), content_type="application/json")


def _stored(n: int) -> web.Response:
    return web.Response(text=f'{{"stored":{n}}}', content_type="application/json")


def build_server(settings: ReceiverSettings, spool: Spool) -> web.Server:
    """aiohttp's low-level server with the receiver's two routes: no application router, middleware chain or
    match info per request, the answers are what `web.Application` with those routes gave."""
    secret = settings.secret
    header = settings.secret_header
    limit = settings.max_body_bytes

    def authorized(request: web.BaseRequest) -> bool:
        if secret is None:
            return True
        given = request.headers.get(header)
        if given is None:
            auth = request.headers.get("Authorization", "")
            given = auth[7:] if auth[:7].lower() == "bearer " else None
        # compare_digest takes the same time wherever the first difference is: no guessing byte by byte.
        return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), secret)

    async def receive(request: web.BaseRequest) -> web.Response:
        if not authorized(request):
            return _error(401, f"missing or wrong shared secret (send it in the {header} header)")
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"body of {request.content_length} bytes is over the {limit} byte limit")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body is over the {limit} byte limit")
        try:
            lines = parse_events(body)
        except InvalidEvents as exc:
            return _error(400, str(exc))
        try:
            await spool.append(lines)
        except OSError as exc:
            return _error(503, f"could not store the events, send them again: {exc}")
        return _stored(len(lines))

    async def healthz(request: web.BaseRequest) -> web.Response:
        stats = spool.stats
        body = {
            "status": "ok",
            "landing": settings.landing,
            "events_stored": stats.events_stored,
            "fsync_batches": stats.batches,
            "files_landed": stats.files_landed,
            "files_waiting_to_land": len(spool.pending_files()),
            "recovered_files": stats.recovered_files,
            "last_upload_error": stats.last_upload_error,
        }
        return web.json_response(body)

    async def route(request: web.BaseRequest) -> web.StreamResponse:
        # POST on any path stores; GET (and HEAD) /healthz reports; any other method gets 405 naming the
        # methods its path allows, as aiohttp's router answers for `add_get("/healthz")` + `add_post("/{tail:.*}")`.
        method = request.method
        if method == "POST":
            return await receive(request)
        if request.rel_url.path_safe == "/healthz":
            if method in ("GET", "HEAD"):
                return await healthz(request)
            raise web.HTTPMethodNotAllowed(method, {"GET", "HEAD", "POST"})
        raise web.HTTPMethodNotAllowed(method, {"POST"})

    loop = asyncio.get_running_loop()

    def make_request(
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        # the body limit: a larger body makes request.read() raise HTTPRequestEntityTooLarge
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=limit)

    return web.Server(route, request_factory=make_request, access_log=None)


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
    server = build_server(settings, spool)
    # Idle keep-alive connections must not hold a stop for aiohttp's default 60 s: a request in flight gets
    # a few seconds to finish, and nothing unanswered was acknowledged.
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024, reuse_address=True)
    await site.start()
    log.warning(
        "receiving on http://%s:%d, spool %s, landing %s",
        settings.host,
        settings.port,
        settings.spool,
        settings.landing,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What is alive now (modules, the app, the spool) lives as long as the process: leave it out of every
    # garbage collection, so that the collections the requests' short-lived objects cause stay small.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.warning("stopping: finishing the spool and landing closed files")
        with contextlib.suppress(Exception):
            await site.stop()
        await spool.close()
        await runner.cleanup()
