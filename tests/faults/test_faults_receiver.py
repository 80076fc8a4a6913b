"""The receiver under load and crashes: 50 concurrent posters for most of a minute, the receiver SIGKILLed and
restarted twice, intruders posting without the secret or over the size limit all along. Then `feeds load`:
every acknowledged event is in raw exactly once, no refused event is anywhere.

(The refusals one by one -- 401 without or with a wrong secret, 413 by Content-Length and chunked, 400 for a
malformed body -- are tests/servers/test_receiver.py::test_refusals_store_nothing_and_good_posts_land.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.conftest import query, run_feeds, write_config
from tests.reliability import record
from tests.servers.test_receiver import Receiver, event

SECRET = "chaos-secret-0b7f"
POSTERS = 50
SECONDS = 48.0
KILL_AT = (14.0, 30.0)


async def _chaos(receiver: Receiver, acked: set[str], refused: dict[str, int], attempted: list[int]) -> None:
    stop_at = time.monotonic() + SECONDS
    timeout = aiohttp.ClientTimeout(total=5)
    auth = {"X-Webhook-Secret": SECRET}

    async def poster(p: int, session: aiohttp.ClientSession) -> None:
        seq = 0
        while time.monotonic() < stop_at:
            seq += 1
            ids = [f"{p}-{seq}-{k}" for k in range(1 + seq % 3)]
            body = [event(i) for i in ids] if len(ids) > 1 else event(ids[0])
            attempted[0] += len(ids)
            try:
                async with session.post(receiver.url, json=body, headers=auth) as resp:
                    if resp.status == 200:
                        acked.update(ids)
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.05)  # the receiver is down: a real sender backs off and goes on

    async def intruder(session: aiohttp.ClientSession) -> None:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            cases = {
                f"nosecret-{n}": ({}, event(f"nosecret-{n}")),
                f"wrongsecret-{n}": ({"X-Webhook-Secret": "guess"}, event(f"wrongsecret-{n}")),
                f"oversized-{n}": (auth, [event(f"oversized-{n}")] * 200),
            }
            for _, (headers, body) in cases.items():
                try:
                    async with session.post(receiver.url, json=body, headers=headers) as resp:
                        refused[str(resp.status)] = refused.get(str(resp.status), 0) + 1
                        assert resp.status in (401, 413), resp.status
                except (aiohttp.ClientError, TimeoutError):
                    pass
            await asyncio.sleep(0.05)

    async def killer() -> None:
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        for at in KILL_AT:
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            before = len(acked)
            assert receiver.proc is not None
            receiver.proc.kill()  # SIGKILL: no flush, no cleanup
            await loop.run_in_executor(None, receiver.proc.wait)
            assert before > 0
            await asyncio.sleep(0.5)  # senders meet a closed port for a while
            await loop.run_in_executor(None, receiver.start)

    connector = aiohttp.TCPConnector(limit=POSTERS + 5)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(killer(), intruder(session), *(poster(p, session) for p in range(POSTERS)))


def test_fifty_posters_two_kills_every_acknowledged_event_in_raw_once(
    tmp_path: Path, warehouse: Path
) -> None:
    extra = ("--secret-env", "CHAOS_SECRET", "--max-body-bytes", "20000", "--rotate-seconds", "2")
    receiver = Receiver(tmp_path, *extra, env={"CHAOS_SECRET": SECRET}).start()
    acked: set[str] = set()
    refused: dict[str, int] = {}
    attempted = [0]
    try:
        asyncio.run(_chaos(receiver, acked, refused, attempted))
    finally:
        receiver.stop()
    assert len(acked) > 5_000, f"too few events acknowledged to prove anything: {len(acked)}"
    assert refused.get("401", 0) > 50 and refused.get("413", 0) > 25, refused

    cfg = write_config(
        tmp_path / "feeds.yml", [{"name": "encharge", "vendor": "encharge", "uri": receiver.landing.as_uri()}]
    )
    run_feeds("load", "-c", str(cfg), check=0)
    ids = query(
        warehouse,
        "select json_extract_string(properties, '$.n') as n, count(*) from raw.encharge__events group by 1",
    )
    in_raw = dict(ids)
    lost = acked - set(in_raw)
    twice = {n: c for n, c in in_raw.items() if c > 1}
    intruders = [n for n in in_raw if n.startswith(("nosecret", "wrongsecret", "oversized"))]
    print(
        f"{attempted[0]} attempted, {len(acked)} acknowledged, {len(in_raw)} in raw "
        f"({len(in_raw) - len(acked & set(in_raw))} stored but not acknowledged), refused {refused}"
    )
    record(
        "test_faults_receiver",
        faults_injected=len(KILL_AT),
        bad_inputs=sum(refused.values()),
        rows_checked=len(acked),
        rows_lost=len(lost),
        rows_loaded_twice=sum(c - 1 for c in twice.values()),
    )
    assert not lost, f"{len(lost)} acknowledged events lost, e.g. {sorted(lost)[:5]}"
    assert not twice, f"{len(twice)} events twice in raw, e.g. {list(twice.items())[:5]}"
    assert not intruders, intruders[:5]
