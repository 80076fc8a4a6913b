"""SFTP download throughput from OpenSSH's sshd on loopback: our transport beside OpenSSH's own `sftp` client.

One ~300 MB file of random bytes (incompressible), each client downloads it BENCH_SFTP_RUNS times; the best
run of each is printed in MB/s with the ratio. Returns 1 only if a download is wrong (size or bytes differ).
"""

from __future__ import annotations

import filecmp
import os
import subprocess
import tempfile
import time
from pathlib import Path

from fixtures.sshd import LocalSshd, local_sshd
from loaders.config import SFTPOptions
from loaders.transports.sftp import SFTPTransport

SIZE_MB = int(os.environ.get("BENCH_SFTP_MB", "300"))
RUNS = int(os.environ.get("BENCH_SFTP_RUNS", "2"))
PREVIOUS: dict[int, str] = {}  # by BENCH_SFTP_MB: no earlier figure of this bench was recorded


def _ours(server: LocalSshd, dest: Path) -> float:
    with SFTPTransport(server.uri(), SFTPOptions(**server.sftp_options())) as transport:
        (remote,) = [f for f in transport.list() if f.relpath == "big.bin"]
        start = time.perf_counter()
        transport.fetch(remote, dest)
        return time.perf_counter() - start


def _openssh(server: LocalSshd, source: Path, dest: Path) -> float:
    command = [
        "sftp",
        "-q",
        "-b",
        "-",
        "-i",
        str(server.key_file),
        "-o",
        f"UserKnownHostsFile={server.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-P",
        str(server.port),
        f"{server.user}@{server.host}",
    ]
    start = time.perf_counter()
    subprocess.run(command, input=f"get {source} {dest}\n", text=True, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp, local_sshd() as server:
        source = server.root / "big.bin"
        with open(source, "wb") as fh:
            for _ in range(SIZE_MB):
                fh.write(os.urandom(1 << 20))
        size_mb = source.stat().st_size / 1e6
        ours_dest, theirs_dest = Path(tmp) / "ours.bin", Path(tmp) / "openssh.bin"
        ours = min(_ours(server, ours_dest) for _ in range(RUNS))
        theirs = min(_openssh(server, source, theirs_dest) for _ in range(RUNS))
        same = filecmp.cmp(source, ours_dest, shallow=False) and filecmp.cmp(
            source, theirs_dest, shallow=False
        )
    print(
        f"sftp download, {size_mb:,.0f} MB from local sshd (best of {RUNS}): feeds SFTPTransport "
        f"{size_mb / ours:,.0f} MB/s, OpenSSH sftp {size_mb / theirs:,.0f} MB/s, "
        f"ratio {theirs / ours:.2f}x{'' if same else '  (DOWNLOAD MISMATCH)'}  load average {os.getloadavg()[0]:.1f}\n"
        f"  previous: {PREVIOUS.get(SIZE_MB, f'no previous figure at this size ({SIZE_MB} MB)')}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
