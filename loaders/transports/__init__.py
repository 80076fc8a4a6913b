"""Transports: where files come from. Chosen by the feed URI's scheme."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import RemoteFile, Transport, TransportError, safe_relpath

if TYPE_CHECKING:
    from ..config import Feed

__all__ = ["RemoteFile", "Transport", "TransportError", "open_transport", "safe_relpath"]


def open_transport(feed: Feed) -> Transport:
    """A file transport. APSIS feeds are not files: the loader builds their transport from the ledger."""
    scheme = feed.scheme
    if scheme == "file":
        from .local import LocalTransport

        return LocalTransport(feed.uri)
    if scheme == "s3":
        from .s3 import S3Transport

        return S3Transport(
            feed.uri, feed.s3.endpoint_url, feed.s3.region, feed.s3.profile, feed.s3.max_attempts
        )
    if scheme == "sftp":
        from .sftp import SFTPTransport

        return SFTPTransport(feed.uri, feed.sftp)
    raise TransportError(f"feed {feed.name!r}: no file transport for {scheme}://")
