"""Where an export goes: a local folder (written in place), an S3 prefix or an SFTP folder (written to a local
staging folder first, then uploaded file by file in the order the vendor would have delivered them)."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse


class DestinationError(Exception):
    """The destination cannot be used; the message names it and what to do."""


@dataclass(frozen=True)
class Destination:
    uri: str  # normalised, no trailing slash
    scheme: str
    endpoint_url: str | None = None  # s3
    known_hosts: str | None = None  # sftp
    key_file: str | None = None  # sftp
    password_env: str | None = None  # sftp

    def child(self, relpath: str) -> str:
        return f"{self.uri}/{relpath.strip('/')}" if relpath else self.uri

    @property
    def local_root(self) -> Path | None:
        return Path(unquote(urlparse(self.uri).path)) if self.scheme == "file" else None


def parse_destination(
    uri: str,
    endpoint_url: str | None = None,
    known_hosts: str | None = None,
    key_file: str | None = None,
    password_env: str | None = None,
) -> Destination:
    parsed = urlparse(uri)
    scheme = parsed.scheme
    if scheme == "file":
        if not parsed.path.startswith("/"):
            raise DestinationError(f"{uri}: file:// needs an absolute path, e.g. file:///tmp/export")
        return Destination(uri.rstrip("/"), scheme)
    if scheme == "s3":
        if not parsed.netloc:
            raise DestinationError(f"{uri}: s3:// needs a bucket, e.g. s3://my-bucket/prefix")
        return Destination(uri.rstrip("/"), scheme, endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))
    if scheme == "sftp":
        if not parsed.hostname or not parsed.username:
            raise DestinationError(f"{uri}: sftp:// needs user and host, e.g. sftp://me@host:22/upload")
        if not known_hosts:
            raise DestinationError(f"{uri}: sftp needs --known-hosts FILE holding the server's host key")
        return Destination(uri.rstrip("/"), scheme, known_hosts=known_hosts, key_file=key_file,
                           password_env=password_env)  # fmt: skip
    raise DestinationError(
        f"{uri}: --to must be file:///path, s3://bucket/prefix or sftp://user@host:port/path"
    )


def upload(dest: Destination, staging: Path, relpaths: Iterable[str]) -> int:
    """Upload the staged files in the given order; returns the number uploaded."""
    relpaths = list(relpaths)
    if dest.scheme == "s3":
        return _upload_s3(dest, staging, relpaths)
    if dest.scheme == "sftp":
        return _upload_sftp(dest, staging, relpaths)
    raise DestinationError(f"{dest.uri}: nothing to upload for {dest.scheme}://")


def _upload_s3(dest: Destination, staging: Path, relpaths: list[str]) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from ..transports.s3 import s3_client

    parsed = urlparse(dest.uri)
    bucket, prefix = parsed.netloc, parsed.path.strip("/")
    client = s3_client(dest.endpoint_url)
    try:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            client.create_bucket(Bucket=bucket)  # a fixture bucket: created when missing
        for rel in relpaths:
            key = f"{prefix}/{rel}" if prefix else rel
            client.upload_file(str(staging / rel), bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise DestinationError(f"{dest.uri}: upload failed: {exc} -- check the bucket, credentials and "
                               "--endpoint-url / AWS_ENDPOINT_URL") from exc  # fmt: skip
    finally:
        client.close()
    return len(relpaths)


def _upload_sftp(dest: Destination, staging: Path, relpaths: list[str]) -> int:
    import paramiko

    parsed = urlparse(dest.uri)
    client = paramiko.SSHClient()
    known_hosts = os.path.expanduser(dest.known_hosts or "")
    if not os.path.isfile(known_hosts):
        raise DestinationError(f"{dest.uri}: known_hosts file {known_hosts} does not exist")
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())  # never trust an unknown host key
    password = os.environ.get(dest.password_env) if dest.password_env else None
    try:
        client.connect(
            parsed.hostname,
            port=parsed.port or 22,
            username=parsed.username,
            key_filename=os.path.expanduser(dest.key_file) if dest.key_file else None,
            password=password,
            allow_agent=False,
            look_for_keys=False,
            timeout=30,
        )
    except paramiko.SSHException as exc:
        raise DestinationError(
            f"{dest.uri}: cannot connect: {exc} -- is the host key in {known_hosts}?"
        ) from exc
    except OSError as exc:
        raise DestinationError(f"{dest.uri}: cannot connect: {exc}") from exc
    base = unquote(parsed.path) or "."
    made: set[str] = set()
    try:
        sftp = client.open_sftp()
        for rel in relpaths:
            target = posixpath.join(base, rel)
            _mkdirs(sftp, posixpath.dirname(target), made)
            tmp = posixpath.join(posixpath.dirname(target), f".{posixpath.basename(target)}.part")
            sftp.put(str(staging / rel), tmp)
            sftp.posix_rename(tmp, target)  # a reader never sees half a file
        sftp.close()
    finally:
        client.close()
    return len(relpaths)


def _mkdirs(sftp, folder: str, made: set[str]) -> None:
    if not folder or folder in made or folder == "/":
        return
    try:
        sftp.stat(folder)
    except OSError:
        _mkdirs(sftp, posixpath.dirname(folder), made)
        try:
            sftp.mkdir(folder)
        except OSError:
            sftp.stat(folder)  # created meanwhile by someone else: fine; otherwise this raises
    made.add(folder)
