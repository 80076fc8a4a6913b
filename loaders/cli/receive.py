"""`feeds receive`: the command-line face of the receiver (`loaders/receiver/`). Its HTTP server is imported
only when it runs."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from ..errors import CommandError

DEFAULT_SPOOL_ROOT = Path("warehouse/spool")


def default_spool(landing: str) -> Path:
    """One spool per landing, stable across restarts, so a restart finds what a killed run left."""
    return DEFAULT_SPOOL_ROOT / f"encharge-{hashlib.sha256(landing.encode()).hexdigest()[:12]}"


def receive_command(
    landing: Annotated[
        str,
        typer.Option("--landing", help="Where closed NDJSON files go: file:///folder or s3://bucket/prefix."),
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    secret_env: Annotated[
        str | None,
        typer.Option(help="Name of the environment variable holding the shared secret; unset: no check."),
    ] = None,
    secret_header: Annotated[
        str, typer.Option(help="Header that carries the secret (`Authorization: Bearer` works too).")
    ] = "X-Webhook-Secret",
    max_body_bytes: Annotated[int, typer.Option(help="Larger bodies get 413.")] = 1_000_000,
    rotate_bytes: Annotated[int, typer.Option(help="Close and land a file at this size.")] = 64 * 1024 * 1024,
    rotate_seconds: Annotated[float, typer.Option(help="Close and land a file at this age.")] = 60.0,
    spool: Annotated[
        Path | None,
        typer.Option(help="Local folder for files being written; default warehouse/spool/encharge-<hash>."),
    ] = None,
    s3_endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint for an s3:// landing (MinIO, moto).")
    ] = None,
) -> None:
    """Receive Encharge's Activity Stream: store each POSTed event durably, then land NDJSON files."""
    from ..receiver.server import ReceiverSettings, run
    from ..receiver.spool import SpoolError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    secret: bytes | None = None
    if secret_env:
        value = os.environ.get(secret_env)
        if not value:
            raise CommandError(f"--secret-env {secret_env}: the environment variable is not set or empty")
        secret = value.encode("utf-8")
    if min(max_body_bytes, rotate_bytes) <= 0 or rotate_seconds <= 0:
        raise CommandError("--max-body-bytes, --rotate-bytes and --rotate-seconds must be positive")
    settings = ReceiverSettings(
        landing=landing,
        spool=spool or default_spool(landing),
        host=host,
        port=port,
        secret=secret,
        secret_header=secret_header,
        max_body_bytes=max_body_bytes,
        rotate_bytes=rotate_bytes,
        rotate_seconds=rotate_seconds,
        s3_endpoint_url=s3_endpoint_url,
    )
    try:
        run(settings)
    except SpoolError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
