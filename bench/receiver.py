"""The Encharge receiver under load: `feeds receive` as a child process, a load generator on loopback.

Each poster process keeps many keep-alive connections busy, one event per POST (as Encharge sends them), for a
fixed time; it writes HTTP/1.1 by hand on uvloop so that it leaves the receiver as much of the two cores as it
can. Printed: sustained acknowledged events/s, p50/p99/max latency, the receiver's own cost (events per
CPU-second of the receiver process alone, read from its CPU times before and after the load: the load
generator's CPU is not counted) and a check, event by event, that every acknowledged event is in the landed
files. Floors (issue 17): 15,000 events per receiver CPU-second, p99 under 100 ms, nothing acknowledged and lost.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR_EVENTS_PER_S = 5000
FLOOR_EVENTS_PER_CPU_S = 15000
FLOOR_P99_MS = 100.0
# Before: issue 17's own figures, and this bench on the receivers before this one (a shared machine, the load
# average as printed), measured interleaved with the current one.
PREVIOUS = (
    "7,724 events/s, p99 30 ms (issue 17, quiet machine, aiohttp client); aiohttp's web.Application: "
    "11,300-11,900 events per receiver CPU-second at load 2.5, 7,400-9,800 at load 6-11; aiohttp's low-level "
    "web.Server with msgspec, uvloop, gc.freeze: 10,625-15,339 at load 4.3-6.0 (9 runs; p99 24-107 ms), "
    "19,831 at load 1.7 (1 run)"
)
DURATION_S = float(os.environ.get("BENCH_RECEIVER_SECONDS", "10"))
POSTERS = int(os.environ.get("BENCH_RECEIVER_POSTERS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_RECEIVER_CONNECTIONS", "64"))  # per poster process
RUNS = int(os.environ.get("BENCH_RECEIVER_RUNS", "3"))  # best and worst are printed


def _event(poster: int, seq: int) -> bytes:
    return json.dumps(
        {
            "event": "email-open",
            "type": "email",
            "properties": {"emailId": 59969, "flowId": "48918", "emailName": "Welcome", "seq": seq},
            "user": {"id": f"bench-{poster}-{seq}", "email": f"user{seq}@example.com"},
            "timestamp": 1562914373005 + seq,
        }
    ).encode()


class _Exchange(asyncio.Protocol):
    """One keep-alive connection: send a request, wait for the whole response, read its status."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCP transport is not a subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        length = 0
        for line in self.buffer[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[end + 4 + length :]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    async def post(self, request: bytes, timeout: float) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await asyncio.wait_for(self.waiter, timeout)


async def _post_for(
    url: str, poster: int, seconds: float, connections: int
) -> tuple[list[int], list[float], int]:
    """Keep-alive connections, one request in flight on each, written by hand: the load generator should take
    as little of the two cores as it can, the receiver is what is measured."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        "Content-Length: "
    ).encode()
    loop = asyncio.get_running_loop()
    acked: list[int] = []  # the seq of every event answered 200
    latencies: list[float] = []
    errors = 0
    seq = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal seq, errors
        conn: _Exchange | None = None
        while time.monotonic() < deadline:
            seq += 1
            mine = seq
            body = _event(poster, mine)
            request = b"%s%d\r\n\r\n%s" % (head, len(body), body)
            start = time.perf_counter()
            try:
                if conn is None:
                    _, conn = await loop.create_connection(_Exchange, host, port)
                ok = await conn.post(request, 10.0) == 200
            except (OSError, TimeoutError, ValueError):
                ok = False
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
            if ok:
                latencies.append(time.perf_counter() - start)
                acked.append(mine)
            else:
                errors += 1
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return acked, latencies, errors


def _poster_main(url: str, poster: int, seconds: float, connections: int, queue: mp.Queue) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        queue.put((poster, *runner.run(_post_for(url, poster, seconds, connections))))


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 20) -> dict:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"feeds receive exited with {proc.returncode}")
        try:
            return requests.get(url, timeout=1).json()
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not come up") from None
            time.sleep(0.1)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _landed_ids(landing: Path) -> tuple[set[tuple[int, int]], int]:
    """(poster, seq) of every landed event, and the number of landed lines (a line landed twice shows here)."""
    ids: set[tuple[int, int]] = set()
    lines = 0
    for path in landing.rglob("*.ndjson"):
        with open(path, "rb") as fh:
            for line in fh:
                lines += 1
                _, poster, seq = json.loads(line)["user"]["id"].split("-")
                ids.add((int(poster), int(seq)))
    return ids, lines


def _one_run() -> dict:
    """One receiver, loaded for DURATION_S: its figures."""
    import psutil

    from fixtures.devservers import free_port

    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        root = Path(tmp)
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loaders.cli",
                "receive",
                "--landing",
                f"file://{root / 'landing'}",
                "--spool",
                str(root / "spool"),
                "--port",
                str(port),
                "--rotate-seconds",
                "5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "receiver.log", "wb"),  # noqa: SIM115
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(f"{base}/healthz", proc)
            receiver = psutil.Process(proc.pid)
            ctx = mp.get_context("spawn")
            queue: mp.Queue = ctx.Queue()
            posters = [
                ctx.Process(target=_poster_main, args=(f"{base}/encharge", i, DURATION_S, CONNECTIONS, queue))
                for i in range(POSTERS)
            ]
            for p in posters:
                p.start()
            time.sleep(0.5)  # the posters' own start (a fresh interpreter each) is not the receiver's cost
            cpu_before = receiver.cpu_times()
            started = time.monotonic()
            results = [queue.get(timeout=DURATION_S + 60) for _ in posters]
            elapsed = time.monotonic() - started
            cpu_after = receiver.cpu_times()
            for p in posters:
                p.join(10)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        acked_ids = {(r[0], seq) for r in results for seq in r[1]}
        latencies = sorted(lat for r in results for lat in r[2])
        landed_ids, landed_lines = _landed_ids(root / "landing")
    acked = len(latencies)
    user, system = cpu_after.user - cpu_before.user, cpu_after.system - cpu_before.system
    cpu = user + system
    return {
        "acked": acked,
        "errors": sum(r[3] for r in results),
        "lost": acked - len(acked_ids & landed_ids),
        "landed": landed_lines,
        "duplicated": landed_lines - len(landed_ids),
        "user": user,
        "system": system,
        "cpu": cpu,
        "core": cpu / elapsed,
        "per_cpu_s": acked / cpu if cpu > 0 else float("inf"),
        "rate": acked / min(elapsed, DURATION_S + 1),
        "p50": _percentile(latencies, 0.50) * 1000,
        "p99": _percentile(latencies, 0.99) * 1000,
        "max": (latencies[-1] * 1000) if latencies else float("nan"),
        "load": os.getloadavg()[0],
    }


def main() -> int:
    runs = []
    for i in range(RUNS):
        r = _one_run()
        runs.append(r)
        print(
            f"  run {i + 1}/{RUNS}: {r['per_cpu_s']:,.0f} events per receiver CPU-second "
            f"({r['cpu']:.2f} CPU-s for {r['acked']:,} events: user {r['user']:.2f}, system {r['system']:.2f}; "
            f"{r['core']:.0%} of one core), {r['rate']:,.0f} events/s, p50 {r['p50']:.1f} ms, "
            f"p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms, lost {r['lost']}, errors {r['errors']} "
            f"(load average {r['load']:.2f})",
            flush=True,
        )
    per_cpu = sorted(r["per_cpu_s"] for r in runs)
    rates = sorted(r["rate"] for r in runs)
    p99s = sorted(r["p99"] for r in runs)
    loads = sorted(r["load"] for r in runs)
    lost = sum(r["lost"] for r in runs)
    errors = sum(r["errors"] for r in runs)
    duplicated = sum(r["duplicated"] for r in runs)
    acked = sum(r["acked"] for r in runs)
    # The floor holds for the worst run, not the best: on a shared machine one run can be lucky.
    met = (
        rates[0] >= FLOOR_EVENTS_PER_S
        and per_cpu[0] >= FLOOR_EVENTS_PER_CPU_S
        and p99s[-1] < FLOOR_P99_MS
        and lost == 0
        and errors == 0
    )
    print(
        f"receiver: one event per POST, {POSTERS}x{CONNECTIONS} connections, {RUNS} runs of {DURATION_S:.0f}s "
        f"(load generator on the same cores; load average {loads[0]:.2f}-{loads[-1]:.2f})\n"
        f"  receiver cost: {per_cpu[0]:,.0f}-{per_cpu[-1]:,.0f} events per CPU-second of the receiver process "
        f"(worst-best of {RUNS})\n"
        f"  sustained {rates[0]:,.0f}-{rates[-1]:,.0f} events/s; p99 {p99s[0]:.1f}-{p99s[-1]:.1f} ms; "
        f"acknowledged {acked:,}, acknowledged and lost {lost:,}, landed twice {duplicated:,}, errors {errors}\n"
        f"  floor (worst run): {FLOOR_EVENTS_PER_CPU_S:,} events per receiver CPU-second, p99 < {FLOOR_P99_MS:.0f} ms, "
        f">= {FLOOR_EVENTS_PER_S:,} events/s, nothing lost: {'met' if met else 'NOT met'}\n"
        f"  previous: {PREVIOUS}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
