"""Real local servers for the demo, the tests and the benchmarks: moto's S3 server over HTTP (and, from
other modules, OpenSSH's sshd). Each is started as a child process on a free loopback port and stopped
with its context manager."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests

# Fake credentials for the local moto server only: it accepts any; boto3 needs some to sign requests.
MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout:.0f}s") from None
            time.sleep(0.1)


@dataclass
class Moto:
    endpoint_url: str
    process: subprocess.Popen

    def client(self):
        from .transports.s3 import s3_client

        return s3_client(self.endpoint_url)


@contextlib.contextmanager
def moto_server(port: int | None = None) -> Iterator[Moto]:
    """moto's S3 server on 127.0.0.1; sets fake AWS credentials in this process's environment."""
    port = port or free_port()
    for k, v in MOTO_ENV.items():
        os.environ.setdefault(k, v)
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url)
        yield Moto(url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
