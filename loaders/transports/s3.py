"""s3://bucket/prefix through boto3: paginated listing, streamed downloads, botocore retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from urllib3.exceptions import ProtocolError

from .base import RemoteFile, Transport, TransportError

RETRIES = BotoConfig(
    retries={"max_attempts": 8, "mode": "adaptive"},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=16,
)


def s3_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    max_attempts: int | None = None,
) -> Any:  # a botocore S3 client (boto3 ships no types)
    """A client from the AWS default chain (env, profile, instance role); never from inline keys."""
    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    config = RETRIES
    if max_attempts is not None:
        config = RETRIES.merge(BotoConfig(retries={"max_attempts": max_attempts, "mode": "adaptive"}))
    return session.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config)


CHUNK = 1 << 20
# Errors of the body stream itself: botocore's own retries cover the request, not a body cut halfway.
# A connection closed early surfaces as IncompleteReadError (botocore checks the bytes against Content-Length).
_RETRYABLE = (ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionError, ProtocolError)


class S3Transport(Transport):
    def __init__(
        self,
        uri: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        max_attempts: int = 8,
    ):
        parsed = urlparse(uri)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.max_attempts = max_attempts
        self.client = s3_client(endpoint_url, region, profile, max_attempts)

    def list(self) -> list[RemoteFile]:
        files: list[RemoteFile] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.endswith("/"):
                        continue
                    files.append(
                        RemoteFile(
                            uri=f"s3://{self.bucket}/{key}",
                            relpath=key[len(self.prefix) :],
                            size=obj["Size"],
                            mtime=obj["LastModified"].timestamp(),
                            version=obj["ETag"].strip('"'),
                        )
                    )
        except (ClientError, BotoCoreError) as exc:
            raise TransportError(
                f"s3://{self.bucket}/{self.prefix}: cannot list after retries: {exc}; check the endpoint"
                " and the bucket, then run the load again"
            ) from exc
        return files

    def local_path(self, file: RemoteFile) -> Path | None:
        return None

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        """Stream in chunks; a connection dropped mid-body resumes from the bytes already written.

        IfMatch pins the version we listed, so a file replaced meanwhile fails here and is loaded next run.
        """
        key = file.uri[len(f"s3://{self.bucket}/") :]
        with open(dest, "wb") as out:
            try:
                for attempt in Retrying(
                    stop=stop_after_attempt(self.max_attempts),
                    wait=wait_exponential(multiplier=0.2, max=5),
                    retry=retry_if_exception_type(_RETRYABLE),
                    reraise=True,
                ):
                    with attempt:
                        written = out.tell()
                        extra = {"Range": f"bytes={written}-"} if written else {}
                        body = self.client.get_object(
                            Bucket=self.bucket, Key=key, IfMatch=file.version, **extra
                        )["Body"]
                        for chunk in body.iter_chunks(CHUNK):
                            out.write(chunk)
            except (ClientError, BotoCoreError, OSError) as exc:
                raise TransportError(f"{file.uri}: download failed after retries: {exc}") from exc
        if dest.stat().st_size != file.size:
            raise TransportError(
                f"{file.uri}: got {dest.stat().st_size} bytes, listed {file.size}; retried next run"
            )

    def close(self) -> None:
        self.client.close()
