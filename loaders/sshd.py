"""OpenSSH's real `sshd` on a loopback port, for the demo, the tests and the benchmarks.

`with local_sshd() as server:` starts `/usr/sbin/sshd` (Debian package openssh-server) as the current user,
with a fresh host key and a fresh client key in a temporary folder, SFTP only (internal-sftp, no shell), and
yields what a client needs: host, port, user, key file, a known_hosts file holding the server's real host key,
and the folder it serves (no chroot: SFTP paths are the folder's absolute paths).

Works as root (CI) and as an ordinary user: StrictModes is off because the temporary folder is not owned
the way sshd wants for a real home, PAM is off so no system login stack is needed.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
INSTALL_HINT = "install OpenSSH's server: `apt-get install -y openssh-server` (Debian/Ubuntu)"


class SshdError(RuntimeError):
    """sshd is missing or did not start; the message says what to install or what sshd printed."""


def find_sshd() -> str:
    """The sshd binary; sshd re-executes itself, so it must be an absolute path."""
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("sshd")
    if found:
        return os.path.abspath(found)
    raise SshdError(f"no sshd binary found (looked in {', '.join(SSHD_CANDIDATES)} and PATH); {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalSshd:
    host: str
    port: int
    user: str
    key_file: Path
    known_hosts: Path
    root: Path
    host_public_key: str  # "ssh-ed25519 AAAA..." as written to known_hosts
    process: subprocess.Popen = field(repr=False)
    log_file: Path = field(repr=False)

    def uri(self, relpath: str = "") -> str:
        """`sftp://user@127.0.0.1:port/<root>/<relpath>` for a folder or file under the served root."""
        path = (self.root / relpath) if relpath else self.root
        return f"sftp://{self.user}@{self.host}:{self.port}{path.as_posix()}"

    def sftp_options(self) -> dict[str, str]:
        """The `sftp:` block of a feeds.yml feed pointing at this server."""
        return {"key_file": str(self.key_file), "known_hosts": str(self.known_hosts)}

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (one per client connection), children of the listener."""
        try:
            return [p.pid for p in psutil.Process(self.process.pid).children(recursive=False)]
        except psutil.NoSuchProcess:
            return []

    def kill_sessions(self) -> int:
        """Cut every open client connection the hard way (SIGKILL its sshd); the listener stays up."""
        killed = 0
        for pid in self.session_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return path.with_suffix(".pub").read_text().strip()


def _wait_banner(host: str, port: int, proc: subprocess.Popen, log_file: Path, timeout: float) -> None:
    """Ready when the listener answers with its SSH banner (a bare TCP accept is not enough)."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SshdError(
                f"sshd exited with code {proc.returncode}: {log_file.read_text(errors='replace')}"
            )
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SshdError(
                f"sshd on {host}:{port} did not answer within {timeout:.0f}s: {log_file.read_text()}"
            )
        time.sleep(0.05)


@contextlib.contextmanager
def local_sshd(
    root: Path | None = None, port: int | None = None, timeout: float = 15.0
) -> Iterator[LocalSshd]:
    """Start sshd on 127.0.0.1 serving `root` (a new temporary folder when None) over SFTP only."""
    sshd = find_sshd()
    if shutil.which("ssh-keygen") is None:
        raise SshdError(f"ssh-keygen not found; install openssh-client ({INSTALL_HINT})")
    user = getpass.getuser()
    host = "127.0.0.1"
    with tempfile.TemporaryDirectory(prefix="feeds-sshd-") as tmp:
        state = Path(tmp)
        served = Path(root) if root is not None else state / "root"
        served.mkdir(parents=True, exist_ok=True)
        served = served.resolve()
        host_pub = _keygen(state / "host_ed25519", "feeds-local-sshd-host")
        client_pub = _keygen(state / "client_ed25519", "feeds-local-sshd-client")
        (state / "authorized_keys").write_text(client_pub + "\n")
        # sshd refuses to run as root without its privilege separation folder; Debian creates it at boot only.
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        port = port or _free_port()
        config = state / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {host}",
                    f"Port {port}",
                    f"HostKey {state / 'host_ed25519'}",
                    f"PidFile {state / 'sshd.pid'}",
                    f"AuthorizedKeysFile {state / 'authorized_keys'}",
                    f"AllowUsers {user}",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PermitTTY no",
                    "MaxStartups 100:30:200",
                    "MaxSessions 64",
                    "Subsystem sftp internal-sftp",
                    # SFTP only: whatever a client asks for, it gets the SFTP server and nothing else.
                    "ForceCommand internal-sftp",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )
        known_hosts = state / "known_hosts"
        known_hosts.write_text(f"[{host}]:{port} {host_pub}\n")
        log_file = state / "sshd.log"
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(
                [sshd, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # a test's Ctrl-C does not hit sshd before cleanup does
            )
        server = LocalSshd(
            host=host,
            port=port,
            user=user,
            key_file=state / "client_ed25519",
            known_hosts=known_hosts,
            root=served,
            host_public_key=host_pub.rsplit(" ", 1)[0],
            process=proc,
            log_file=log_file,
        )
        try:
            _wait_banner(host, port, proc, log_file, timeout)
            yield server
        finally:
            sessions = server.session_pids()
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            # Session processes outlive the listener; end them so the temporary folder can go.
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
