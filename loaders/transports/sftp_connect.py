"""Opening an SSH connection for an `sftp://` feed: credentials by reference, the host key checked.

- The server's host key must be in the feed's known_hosts file. An unknown or changed key is refused, never
  learned: the error names the host, the offered key's SHA256 fingerprint and how to add it after checking.
- Credentials by reference only: `sftp.key_file` (a private key file) and/or `sftp.password_env` (the name of
  an environment variable holding the password). No agent, no ~/.ssh/config, so runs are reproducible.
Every refusal is a `TransportError` naming the feed's server and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncssh

from ..config import SFTPOptions
from .base import TransportError

# Fast ciphers first: AES-GCM uses AES-NI through OpenSSL; chacha20 is the fallback everyone has.
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "chacha20-poly1305@openssh.com")


class _HostKeyRecorder(asyncssh.SSHClient):
    """Remembers the key a server offered when known_hosts did not trust it, to put it in the error."""

    def __init__(self) -> None:
        self.offered: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.offered = key
        return False


async def connect(
    label: str, host: str, port: int, user: str, options: SFTPOptions, *, window: int
) -> asyncssh.SSHClientConnection:
    """An SSH connection to `host`, its key checked against the feed's known_hosts, logged in as `user`."""
    known_hosts = Path(os.path.expanduser(options.known_hosts))
    kwargs = _connect_kwargs(label, host, port, user, options, known_hosts, window)
    recorder = _HostKeyRecorder()
    try:
        return await asyncssh.connect(client_factory=lambda: recorder, **kwargs)
    except asyncssh.HostKeyNotVerifiable:
        raise TransportError(host_key_message(label, host, port, known_hosts, recorder.offered)) from None
    except asyncssh.PermissionDenied:
        raise TransportError(
            f"{label}: the server refused user {user!r} with the configured credentials "
            "(sftp.key_file / sftp.password_env); check the key is in the account's authorized_keys"
        ) from None
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise TransportError(f"{label}: cannot use sftp.key_file: {exc}") from None


def _connect_kwargs(
    label: str, host: str, port: int, user: str, options: SFTPOptions, known_hosts: Path, window: int
) -> dict[str, Any]:
    if not known_hosts.is_file():
        raise TransportError(
            f"{label}: known_hosts file {known_hosts} does not exist; the server's host key is never "
            f"accepted blindly. Run `ssh-keyscan -p {port} {host}`, check the fingerprint with "
            f"your vendor, and save the line to {known_hosts} (or point sftp.known_hosts at your file)"
        )
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "username": user,
        "known_hosts": str(known_hosts),
        # Ask for any key type, not only the types known_hosts lists: a server with another key type is
        # then refused as a changed key (with its fingerprint), not as a mysterious handshake reset.
        "server_host_key_algs": "default",
        "config": None,
        "agent_path": None,
        "client_keys": None,
        "password": None,
        "connect_timeout": options.timeout,
        "login_timeout": options.timeout,
        "keepalive_interval": 15,
        "keepalive_count_max": 3,
        "encryption_algs": list(CIPHERS),
        "compression_algs": None,
        "window": window,
    }
    if options.key_file:
        key_file = Path(os.path.expanduser(options.key_file))
        if not key_file.is_file():
            raise TransportError(f"{label}: sftp.key_file {key_file} does not exist")
        kwargs["client_keys"] = [str(key_file)]
    if options.password_env:
        password = os.environ.get(options.password_env)
        if password is None:
            raise TransportError(
                f"{label}: environment variable {options.password_env} (sftp.password_env) is not set"
            )
        kwargs["password"] = password
    if not options.key_file and not options.password_env:
        raise TransportError(f"{label}: set sftp.key_file or sftp.password_env for this feed")
    return kwargs


def host_key_message(
    label: str, host: str, port: int, known_hosts: Path, offered: asyncssh.SSHKey | None
) -> str:
    """Why the server's key was refused (unknown, changed, unverifiable), and how to trust it after checking."""
    where = f"[{host}]:{port}" if port != 22 else host
    fix = (
        f"If the server is really the one you expect, fetch its key with `ssh-keyscan -p {port} "
        f"{host}`, compare the fingerprint (`ssh-keygen -lf <file>`) with one your vendor gives you "
        f"out of band, and only then add the line to {known_hosts}."
    )
    if offered is None:
        return f"{label}: host key for {where} could not be verified against {known_hosts}. {fix}"
    fingerprint = offered.get_fingerprint("sha256")
    algorithm = offered.get_algorithm()
    try:
        trusted = asyncssh.read_known_hosts(str(known_hosts)).match(host, host, port)[0]
    except (OSError, ValueError):
        trusted = []
    if trusted:
        known = ", ".join(sorted({k.get_fingerprint("sha256") for k in trusted}))
        return (
            f"{label}: host key for {where} has CHANGED: the server offered {algorithm} {fingerprint}, "
            f"but {known_hosts} trusts {known}. Someone may be intercepting the connection, or the vendor "
            f"replaced its key. Refusing to connect. {fix} Remove the old line first "
            f"(`ssh-keygen -R '{where}' -f {known_hosts}`)."
        )
    return (
        f"{label}: host key for {where} is unknown: the server offered {algorithm} {fingerprint}, "
        f"which is not in {known_hosts}. Refusing to connect. {fix}"
    )
