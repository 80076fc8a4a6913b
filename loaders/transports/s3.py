"""s3://bucket/prefix through boto3: paginated listing, streamed downloads, botocore retries."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .base import RemoteFile, TransportError

RETRIES = BotoConfig(
    retries={"max_attempts": 8, "mode": "adaptive"},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=16,
)


def s3_client(endpoint_url: str | None = None, region: str | None = None, profile: str | None = None):
    """A client from the AWS default chain (env, profile, instance role); never from inline keys."""
    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=RETRIES)


class S3Transport:
    def __init__(
        self, uri: str, endpoint_url: str | None = None, region: str | None = None, profile: str | None = None
    ):
        parsed = urlparse(uri)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.lstrip("/")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        self.client = s3_client(endpoint_url, region, profile)

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
            raise TransportError(f"s3://{self.bucket}/{self.prefix}: cannot list: {exc}") from exc
        return files

    def local_path(self, file: RemoteFile) -> Path | None:
        return None

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        key = file.uri[len(f"s3://{self.bucket}/") :]
        try:
            with open(dest, "wb") as out:
                # IfMatch pins the version we listed: a file replaced meanwhile is caught on the next run.
                self.client.download_fileobj(self.bucket, key, out, ExtraArgs={"IfMatch": file.version})
        except (ClientError, BotoCoreError) as exc:
            raise TransportError(f"{file.uri}: download failed: {exc}") from exc

    def close(self) -> None:
        self.client.close()
