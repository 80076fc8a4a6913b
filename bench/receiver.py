"""The Encharge receiver under load: `feeds receive` as a child process, an aiohttp load generator on loopback.

Each poster process keeps many keep-alive connections busy, one event per POST (as Encharge sends them), for a
fixed time. Printed: sustained acknowledged events/s, p50/p99/max latency, and a check that every
acknowledged event landed. Floor: 5,000 events/s with p99 under 500 ms.
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
FLOOR_P99_MS = 500.0
DURATION_S = float(os.environ.get("BENCH_RECEIVER_SECONDS", "10"))
POSTERS = int(os.environ.get("BENCH_RECEIVER_POSTERS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_RECEIVER_CONNECTIONS", "64"))  # per poster process


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


async def _post_for(url: str, poster: int, seconds: float, connections: int) -> tuple[int, list[float], int]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    seq = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def worker() -> None:
            nonlocal seq, errors
            while time.monotonic() < deadline:
                seq += 1
                body = _event(poster, seq)
                start = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        ok = resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return len(latencies), latencies, errors


def _poster_main(url: str, poster: int, seconds: float, connections: int, queue: mp.Queue) -> None:
    queue.put(asyncio.run(_post_for(url, poster, seconds, connections)))


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


def main() -> int:
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
            ctx = mp.get_context("spawn")
            queue: mp.Queue = ctx.Queue()
            posters = [
                ctx.Process(target=_poster_main, args=(f"{base}/encharge", i, DURATION_S, CONNECTIONS, queue))
                for i in range(POSTERS)
            ]
            started = time.monotonic()
            for p in posters:
                p.start()
            results = [queue.get(timeout=DURATION_S + 60) for _ in posters]
            elapsed = time.monotonic() - started
            for p in posters:
                p.join(10)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        acked = sum(r[0] for r in results)
        errors = sum(r[2] for r in results)
        latencies = sorted(lat for r in results for lat in r[1])
        landed = sum(
            sum(1 for _ in open(f, "rb"))  # noqa: SIM115
            for f in (root / "landing").rglob("*.ndjson")
        )
    rate = acked / min(elapsed, DURATION_S + 1)
    p50, p99 = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
    worst = (latencies[-1] * 1000) if latencies else float("nan")
    met = rate >= FLOOR_EVENTS_PER_S and p99 < FLOOR_P99_MS and landed == acked and errors == 0
    print(
        f"receiver: {rate:,.0f} events/s sustained over {DURATION_S:.0f}s, one event per POST, "
        f"{POSTERS}x{CONNECTIONS} connections; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms; "
        f"acknowledged {acked:,}, landed {landed:,}, errors {errors} "
        f"(floor {FLOOR_EVENTS_PER_S:,}/s, p99 < {FLOOR_P99_MS:.0f} ms: {'met' if met else 'NOT met'})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
