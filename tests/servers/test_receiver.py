"""`feeds receive` over real HTTP: refusals, durable landing, S3 landing, SIGKILL with posters running."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
import requests

from fixtures.devservers import Moto, free_port
from loaders.receiver.events import InvalidEvents, parse_events
from tests.conftest import REPO, query, run_feeds, write_config

SECRET = "correct horse battery staple"


def event(n: int | str, name: str = "email-open") -> dict:
    return {
        "event": name,
        "type": "email",
        "properties": {"emailId": 59969, "flowId": "48918", "n": str(n), "note": "line\nbreak ünïcode"},
        "user": {"id": f"user-{n}", "email": f"someone{n}@example.com"},
        "timestamp": 1562914373005,
    }


class Receiver:
    def __init__(self, tmp: Path, *extra: str, port: int | None = None, env: dict[str, str] | None = None):
        self.landing = tmp / "landing"
        self.spool = tmp / "spool"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Receiver:
        args = ["--landing", f"file://{self.landing}", *self.extra] if "--landing" not in self.extra else []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loaders.cli",
                "receive",
                "--spool",
                str(self.spool),
                "--port",
                str(self.port),
            ]
            + (args or list(self.extra)),
            cwd=REPO,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return self
            except requests.RequestException:
                assert time.monotonic() < deadline, "receiver did not come up"
                time.sleep(0.05)

    def health(self) -> dict:
        return requests.get(f"{self.url}/healthz", timeout=5).json()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def landed(self) -> list[dict]:
        """Every landed line, parsed: a half-written line would fail here."""
        rows = []
        for path in sorted(self.landing.rglob("*.ndjson")):
            with open(path, encoding="ascii") as fh:
                rows.extend(json.loads(line) for line in fh)
        return rows


@contextmanager
def receiving(tmp: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(tmp, *extra, env=env).start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "not valid JSON"),
        (b'"just a string"', "expected a JSON object"),
        (b"[]", "empty array"),
        (json.dumps({**event(1), "event": ""}).encode(), "'event'"),
        (json.dumps({k: v for k, v in event(1).items() if k != "user"}).encode(), "'user'"),
        (json.dumps({**event(1), "user": {"name": "x"}}).encode(), "'id' or an 'email'"),
        (json.dumps({**event(1), "timestamp": "yesterday"}).encode(), "'timestamp'"),
        (json.dumps({**event(1), "properties": [1]}).encode(), "'properties'"),
        (b'{"event":"x","user":{"id":"1"},"timestamp":NaN}', "not valid JSON"),
        (json.dumps([event(1), {"event": "x"}]).encode(), "event 1"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_shape_check_names_the_problem(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvents) as err:
        parse_events(body)
    assert reason in str(err.value)


def test_one_line_per_event_with_extra_keys_kept() -> None:
    lines = parse_events(json.dumps([event(1), {**event(2), "newField": {"a": 1}}]).encode())
    assert len(lines) == 2 and all(line.count(b"\n") == 1 and line.endswith(b"\n") for line in lines)
    assert json.loads(lines[1])["newField"] == {"a": 1}
    assert json.loads(lines[0])["properties"]["note"] == "line\nbreak ünïcode"


def test_refusals_store_nothing_and_good_posts_land(tmp_path: Path) -> None:
    env = {"RECEIVER_TEST_SECRET": SECRET}
    extra = ("--landing", f"file://{tmp_path / 'landing'}", "--secret-env", "RECEIVER_TEST_SECRET")
    with receiving(tmp_path, *extra, "--max-body-bytes", "20000", env=env) as receiver:
        url, auth = f"{receiver.url}/encharge", {"X-Webhook-Secret": SECRET}
        good = json.dumps(event(1))
        assert requests.post(url, data=good, timeout=5).status_code == 401
        assert (
            requests.post(url, data=good, headers={"X-Webhook-Secret": "wrong"}, timeout=5).status_code == 401
        )
        malformed = requests.post(url, data=json.dumps([event(2), {"event": "x"}]), headers=auth, timeout=5)
        assert malformed.status_code == 400 and "event 1" in malformed.json()["error"]
        huge = json.dumps([event(i) for i in range(200)])
        assert len(huge) > 20000
        assert requests.post(url, data=huge, headers=auth, timeout=5).status_code == 413
        chunked = requests.post(url, data=iter([huge.encode()]), headers=auth, timeout=5)
        assert chunked.status_code == 413
        assert receiver.health()["events_stored"] == 0

        single = requests.post(url, data=good, headers=auth, timeout=5)
        assert single.status_code == 200 and single.json() == {"stored": 1}
        bearer = {"Authorization": f"Bearer {SECRET}"}
        array = requests.post(
            url, data=json.dumps([event(3), event(4, "added-tag-vip")]), headers=bearer, timeout=5
        )
        assert array.status_code == 200 and array.json() == {"stored": 2}
        assert receiver.health()["events_stored"] == 3
    # a graceful stop lands the open file
    rows = receiver.landed()
    assert [r["properties"]["n"] for r in rows] == ["1", "3", "4"]
    assert rows[2]["event"] == "added-tag-vip" and rows[0] == event(1)
    (landed,) = receiver.landing.rglob("*.ndjson")
    rel = landed.relative_to(receiver.landing).as_posix()
    assert rel.startswith("dt=") and "/encharge-events-" in rel
    assert list(receiver.spool.rglob("*.ndjson")) == []


class _Wire:
    """One raw keep-alive connection: what the receiver answers byte by byte (the HTTP it parses and writes
    itself: ordering of pipelined requests, keep-alive after a refusal, Expect, HEAD, 405, bad HTTP)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        status = int(status_line.split()[1])
        length = 0 if status == 100 else int(headers["content-length"])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed(self) -> bool:
        return self.sock.recv(1) == b""

    def _more(self) -> None:
        data = self.sock.recv(65536)
        assert data, "connection closed"
        self.buffer += data


def _post(body: bytes, *headers: str, path: str = "/encharge", version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: x", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_http_on_one_connection(tmp_path: Path) -> None:
    env = {"RECEIVER_TEST_SECRET": SECRET}
    extra = ("--landing", f"file://{tmp_path / 'landing'}", "--secret-env", "RECEIVER_TEST_SECRET")
    auth = f"X-Webhook-Secret: {SECRET}"
    with receiving(tmp_path, *extra, "--max-body-bytes", "20000", env=env) as receiver:
        wire = _Wire(receiver.port)
        # pipelined: answered in the order asked, a refusal between two stores keeps the connection
        one, two = (json.dumps(event(n)).encode() for n in (1, 2))
        wire.send(_post(one, auth) + _post(one) + _post(b"[]", auth) + _post(two, auth))
        answers = [wire.response() for _ in range(4)]
        assert [a[0] for a in answers] == [200, 401, 400, 200]
        assert answers[0][2] == b'{"stored":1}' and "empty array" in json.loads(answers[2][2])["error"]
        assert all(a[1]["content-type"] == "application/json" and "date" in a[1] for a in answers)
        # a body over the limit, by Content-Length and chunked: 413, its body read and thrown away
        huge = json.dumps([event(i) for i in range(200)]).encode()
        wire.send(_post(huge, auth))
        assert wire.response()[0] == 413
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n%s\r\n\r\n" % auth.encode()
        for start in range(0, len(huge), 4096):
            piece = huge[start : start + 4096]
            chunked += b"%x\r\n%s\r\n" % (len(piece), piece)
        wire.send(chunked + b"0\r\n\r\n")
        assert wire.response()[0] == 413
        # Expect: 100-continue gets its 100 before the body is sent; a refusal comes instead of it
        wire.send(
            _post(b"", auth, "Expect: 100-continue").replace(
                b"Content-Length: 0", b"Content-Length: %d" % len(two)
            )
        )
        assert wire.response()[0] == 100
        wire.send(two)
        assert wire.response()[:3:2] == (200, b'{"stored":1}')
        wire.send(
            _post(b"", "Expect: 100-continue").replace(b"Content-Length: 0", b"Content-Length: %d" % len(two))
        )
        assert wire.response()[0] == 401
        wire.send(two)  # thrown away
        # healthz by GET and HEAD; other methods get 405 with Allow
        wire.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = wire.response()
        assert status == 200 and json.loads(body)["events_stored"] == 3
        wire.send(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        wire.buffer = b""
        while b"\r\n\r\n" not in wire.buffer:
            wire._more()
        assert wire.buffer.startswith(b"HTTP/1.1 200 OK") and wire.buffer.endswith(b"\r\n\r\n")
        wire.buffer = b""
        wire.send(b"DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = wire.response()
        assert status == 405 and headers["allow"] == "GET, HEAD, POST"
        wire.send(b"GET /encharge HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = wire.response()
        assert status == 405 and headers["allow"] == "POST"
        # not HTTP: 400 and the connection closed
        wire.send(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body = wire.response()
        assert status == 400 and "not a valid HTTP/1.1 request" in json.loads(body)["error"]
        assert headers["connection"] == "close" and wire.closed()
        # HTTP/1.0 without keep-alive: answered, then closed; headers too large: 431 and closed
        wire = _Wire(receiver.port)
        wire.send(_post(one, auth, version="1.0"))
        assert wire.response()[0] == 200 and wire.closed()
        wire = _Wire(receiver.port)
        wire.send(_post(one, auth, "X-Padding: " + "p" * 40_000))
        assert wire.response()[0] == 431 and wire.closed()
        wire = _Wire(receiver.port)  # a head that never ends is not kept in memory either
        wire.send(b"POST / HTTP/1.1\r\nX-Padding: " + b"p" * 40_000)
        assert wire.response()[0] == 431 and wire.closed()
        assert receiver.health()["events_stored"] == 4
    assert sorted(r["properties"]["n"] for r in receiver.landed()) == ["1", "1", "2", "2"]


def test_rotates_by_size_and_age(tmp_path: Path) -> None:
    with receiving(tmp_path, "--rotate-bytes", "2000", "--rotate-seconds", "0.5") as receiver:
        for i in range(25):  # 212 bytes each: two files closed by size, the rest by age
            assert requests.post(receiver.url, data=json.dumps(event(i)), timeout=5).status_code == 200
        deadline = time.monotonic() + 10
        while receiver.health()["files_waiting_to_land"] or list((receiver.spool / "active").iterdir()):
            assert time.monotonic() < deadline, receiver.health()
            time.sleep(0.1)
        files = list(receiver.landing.rglob("*.ndjson"))
        sizes = sorted(f.stat().st_size for f in files)
        assert len(files) == 3 and sizes[0] < 2000 <= sizes[1] and sizes[2] < 2000 + 212
        assert sorted(int(r["properties"]["n"]) for r in receiver.landed()) == list(range(25))


def test_restart_lands_what_a_killed_run_left(tmp_path: Path) -> None:
    active = tmp_path / "spool" / "active"
    active.mkdir(parents=True)
    complete = [json.dumps(event(i)) + "\n" for i in range(3)]
    (active / "20240501T101500-0badcafe.ndjson").write_text("".join(complete) + '{"event":"half-writ')
    with receiving(tmp_path) as receiver:
        deadline = time.monotonic() + 10
        while receiver.health()["files_landed"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert receiver.health()["recovered_files"] == 1
    assert [r["properties"]["n"] for r in receiver.landed()] == ["0", "1", "2"]


def test_s3_landing(tmp_path: Path, moto: Moto) -> None:
    bucket = f"encharge-{uuid.uuid4().hex[:8]}"
    moto.client().create_bucket(Bucket=bucket)
    extra = ("--landing", f"s3://{bucket}/activity", "--s3-endpoint-url", moto.endpoint_url)
    with receiving(tmp_path, *extra) as receiver:
        body = json.dumps([event(i) for i in range(5)])
        assert requests.post(receiver.url, data=body, timeout=5).status_code == 200
    objects = moto.client().list_objects_v2(Bucket=bucket)["Contents"]
    (obj,) = objects
    assert obj["Key"].startswith("activity/dt=") and obj["Key"].endswith(".ndjson")
    text = moto.client().get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode()
    assert [json.loads(line)["properties"]["n"] for line in text.splitlines()] == [str(i) for i in range(5)]


async def _post_until(url: str, stop_at: float, acked: set[str], attempted: list[int], posters: int) -> None:
    """Posters that keep going through a dead receiver; only a 200 counts as acknowledged."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def poster(p: int) -> None:
            seq = 0
            while time.monotonic() < stop_at:
                seq += 1
                ids = [f"{p}-{seq}-{k}" for k in range(1 + seq % 3)]  # single events and arrays
                body = [event(i) for i in ids] if len(ids) > 1 else event(ids[0])
                attempted[0] += len(ids)
                try:
                    async with session.post(url, json=body) as resp:
                        if resp.status == 200:
                            acked.update(ids)
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(poster(p) for p in range(posters)))


def test_sigkill_while_posting_loses_no_acknowledged_event(tmp_path: Path) -> None:
    receiver = Receiver(tmp_path, "--rotate-bytes", "20000").start()
    acked: set[str] = set()
    attempted = [0]

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        posting = asyncio.create_task(_post_until(receiver.url, time.monotonic() + 4.0, acked, attempted, 20))
        for _ in range(2):
            await asyncio.sleep(1.0)
            before = len(acked)
            assert receiver.proc is not None
            receiver.proc.kill()  # SIGKILL: no flush, no cleanup
            await loop.run_in_executor(None, receiver.proc.wait)
            assert before > 0
            await loop.run_in_executor(None, receiver.start)
        await posting

    try:
        asyncio.run(scenario())
    finally:
        receiver.stop()
    landed_ids = {r["properties"]["n"] for r in receiver.landed()}
    print(f"acknowledged {len(acked)} of {attempted[0]} attempted, landed {len(landed_ids)}")
    assert len(acked) > 500, f"too few events acknowledged to prove anything: {len(acked)}"
    missing = acked - landed_ids
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert list(receiver.spool.rglob("*.ndjson")) == []


def test_startup_refusals_exit_2_with_a_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_SECRET_VAR"}
    landing = f"file://{tmp_path / 'landing'}"
    missing = run_feeds("receive", "--landing", landing, "--secret-env", "NO_SUCH_SECRET_VAR", env=env)
    assert missing.returncode == 2 and "NO_SUCH_SECRET_VAR" in missing.stderr
    with receiving(tmp_path) as receiver:
        args = ("receive", "--landing", landing, "--spool", str(receiver.spool), "--port", str(free_port()))
        second = run_feeds(*args)
        assert second.returncode == 2 and "in use by another" in second.stderr
        busy_port = run_feeds(
            "receive", "--landing", landing, "--spool", str(tmp_path / "s2"), "--port", str(receiver.port)
        )
        assert busy_port.returncode == 2 and str(receiver.port) in busy_port.stderr


def _encharge_layout_ready() -> bool:
    from loaders.vendors import get_layout

    try:
        get_layout("encharge")
    except KeyError:
        return False
    return True


def test_posted_events_load_into_raw(tmp_path: Path, warehouse: Path) -> None:
    if not _encharge_layout_ready():
        pytest.skip("the encharge layout is not registered in loaders/vendors yet")
    with receiving(tmp_path) as receiver:
        assert requests.post(receiver.url, data=json.dumps(event("s")), timeout=5).status_code == 200
        batch = [event(f"a{i}", name=f"added-tag-t{i}") for i in range(4)]
        assert requests.post(receiver.url, data=json.dumps(batch), timeout=5).status_code == 200
    cfg = write_config(
        tmp_path / "feeds.yml",
        [{"name": "encharge", "vendor": "encharge", "uri": f"file://{receiver.landing}"}],
    )
    run_feeds("load", "-c", str(cfg), check=0)
    rows = query(
        warehouse,
        "select event, type, json_extract_string(properties, '$.n'), json_extract_string(\"user\", '$.id'),"
        ' cast("timestamp" as varchar) from raw.encharge__events order by _source_row',
    )
    expected_ids = ["s"] + [f"a{i}" for i in range(4)]
    assert [r[2] for r in rows] == expected_ids
    assert [r[3] for r in rows] == [f"user-{n}" for n in expected_ids]
    assert rows[0][:2] == ("email-open", "email") and rows[1][0] == "added-tag-t0"
    assert {r[4] for r in rows} == {"1562914373005"}
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from raw.encharge__events") == [(5,)]
