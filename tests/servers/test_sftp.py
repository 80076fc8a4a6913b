"""SFTP through OpenSSH's sshd on loopback: listing, fetching, host key checks, resume, `feeds load`."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncssh
import pytest

from fixtures.sshd import LocalSshd, local_sshd
from loaders.config import SFTPOptions
from loaders.transports import TransportError
from loaders.transports.sftp import SFTPTransport
from tests.conftest import leanplum_event, query, run_feeds, write_config, write_ndjson


@pytest.fixture(scope="module")
def sshd() -> Iterator[LocalSshd]:
    with local_sshd() as server:
        yield server


def _transport(server: LocalSshd, sub: str, **kwargs) -> SFTPTransport:
    return SFTPTransport(server.uri(sub), SFTPOptions(**server.sftp_options()), **kwargs)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _random_file(path: Path, mib: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        for _ in range(mib):
            fh.write(os.urandom(1 << 20))
    return path


def test_lists_recursively_and_fetches_exact_bytes(sshd: LocalSshd, tmp_path: Path) -> None:
    feed = sshd.root / "list_fetch"
    write_ndjson(feed / "dt=2024-05-01" / "a.json", [leanplum_event("a")])
    _random_file(feed / "dt=2024-05-02" / "deep" / "b.bin", 3)
    (feed / "dt=2024-05-02" / ".c.json.1234.tmp").write_text("half written")
    (feed / "empty.json").write_text("")
    with _transport(sshd, "list_fetch") as transport:
        files = transport.list()
        assert [f.relpath for f in files] == [
            "dt=2024-05-01/a.json",
            "dt=2024-05-02/deep/b.bin",
            "empty.json",
        ]
        by_rel = {f.relpath: f for f in files}
        big = by_rel["dt=2024-05-02/deep/b.bin"]
        st = (feed / big.relpath).stat()
        assert big.size == st.st_size == 3 << 20
        assert big.version == f"{st.st_size}-{int(st.st_mtime)}"
        assert big.uri == f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{feed}/dt=2024-05-02/deep/b.bin"
        assert transport.local_path(big) is None
        for f in files:
            dest = tmp_path / f.relpath.replace("/", "_")
            transport.fetch(f, dest)
            assert _sha256(dest) == _sha256(feed / f.relpath)


def test_missing_folder_is_a_clear_error(sshd: LocalSshd) -> None:
    with _transport(sshd, "no/such/folder") as transport, pytest.raises(TransportError) as err:
        transport.list()
    assert "no such folder" in str(err.value) and "no/such/folder" in str(err.value)


def _offered_fingerprint(server: LocalSshd) -> str:
    return asyncssh.import_public_key(server.host_public_key).get_fingerprint("sha256")


def test_unknown_host_key_is_refused_with_its_fingerprint(sshd: LocalSshd, tmp_path: Path) -> None:
    (sshd.root / "hk").mkdir(exist_ok=True)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    options = SFTPOptions(key_file=str(sshd.key_file), known_hosts=str(known_hosts))
    with SFTPTransport(sshd.uri("hk"), options) as transport, pytest.raises(TransportError) as err:
        transport.list()
    message = str(err.value)
    assert f"[127.0.0.1]:{sshd.port}" in message and "unknown" in message
    assert _offered_fingerprint(sshd) in message
    assert "ssh-keyscan" in message and str(known_hosts) in message


@pytest.mark.parametrize("known_type", ["ssh-ed25519", "ssh-rsa"])
def test_changed_host_key_is_refused_and_names_both_keys(
    sshd: LocalSshd, tmp_path: Path, known_type: str
) -> None:
    """Also when known_hosts holds another key type than the server's (not a vague handshake failure)."""
    (sshd.root / "hk").mkdir(exist_ok=True)
    impostor = asyncssh.generate_private_key(known_type).export_public_key().decode().strip()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {impostor}\n")
    options = SFTPOptions(key_file=str(sshd.key_file), known_hosts=str(known_hosts))
    with SFTPTransport(sshd.uri("hk"), options) as transport, pytest.raises(TransportError) as err:
        transport.list()
    message = str(err.value)
    assert "CHANGED" in message and f"[127.0.0.1]:{sshd.port}" in message
    assert _offered_fingerprint(sshd) in message
    assert asyncssh.import_public_key(impostor).get_fingerprint("sha256") in message


def test_missing_known_hosts_file_is_refused(sshd: LocalSshd, tmp_path: Path) -> None:
    options = SFTPOptions(key_file=str(sshd.key_file), known_hosts=str(tmp_path / "nope"))
    with SFTPTransport(sshd.uri(), options) as transport, pytest.raises(TransportError) as err:
        transport.list()
    assert "does not exist" in str(err.value) and "ssh-keyscan" in str(err.value)


def test_wrong_client_key_is_refused(sshd: LocalSshd, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(other))
    options = SFTPOptions(key_file=str(other), known_hosts=str(sshd.known_hosts))
    with SFTPTransport(sshd.uri(), options) as transport, pytest.raises(TransportError) as err:
        transport.list()
    assert "refused user" in str(err.value) and sshd.user in str(err.value)


def test_connection_cut_mid_file_is_resumed(sshd: LocalSshd, tmp_path: Path) -> None:
    source = _random_file(sshd.root / "resume" / "big.bin", 48)
    dest = tmp_path / "big.bin"
    # Small, few requests in flight: slow enough that the cut surely lands mid-file.
    with _transport(sshd, "resume", block_size=32 * 1024, max_requests=2) as transport:
        (remote,) = transport.list()
        errors: list[BaseException] = []

        def fetch() -> None:
            try:
                transport.fetch(remote, dest)
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=fetch)
        worker.start()
        deadline = time.monotonic() + 30
        while not (dest.exists() and dest.stat().st_size > remote.size // 4):
            assert time.monotonic() < deadline and worker.is_alive(), "download never got going"
            time.sleep(0.002)
        assert sshd.kill_sessions() >= 1
        worker.join(60)
        assert not errors, errors
        assert transport.resume_offsets and 0 < transport.resume_offsets[0] < remote.size
    assert _sha256(dest) == _sha256(source)


def test_parallel_fetches_share_one_connection_and_survive_a_cut(sshd: LocalSshd, tmp_path: Path) -> None:
    """The loader fetches from 8 threads at once; a cut hits all of them and each resumes."""
    sources = [_random_file(sshd.root / "parallel" / f"f{i}.bin", 6) for i in range(6)]
    with _transport(sshd, "parallel", block_size=32 * 1024, max_requests=2) as transport:
        remotes = transport.list()
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(transport.fetch, r, tmp_path / r.relpath) for r in remotes]
            deadline = time.monotonic() + 30
            while sum(p.stat().st_size for p in tmp_path.glob("*.bin")) < len(remotes) * (2 << 20):
                assert time.monotonic() < deadline and not any(f.done() for f in futures)
                time.sleep(0.002)
            assert len(sshd.session_pids()) == 1  # one SSH connection for all the threads
            sshd.kill_sessions()
            for f in futures:
                f.result(60)
        assert len(transport.resume_offsets) >= 2
    for source in sources:
        assert _sha256(tmp_path / source.name) == _sha256(source)


def test_server_gone_for_good_gives_clear_error(tmp_path: Path) -> None:
    with local_sshd() as server:
        _random_file(server.root / "f.bin", 1)
        # The server's folder goes with it: keep copies of what the client needs.
        key, known_hosts = tmp_path / "key", tmp_path / "known_hosts"
        key.write_bytes(server.key_file.read_bytes())
        known_hosts.write_bytes(server.known_hosts.read_bytes())
        options = SFTPOptions(key_file=str(key), known_hosts=str(known_hosts))
        transport = SFTPTransport(server.uri(), options, retries=2)
        (remote,) = transport.list()
    try:
        with pytest.raises(TransportError) as err:
            transport.fetch(remote, tmp_path / "f.bin")
        assert "kept dropping (2 attempts)" in str(err.value) and remote.uri in str(err.value)
    finally:
        transport.close()


def test_upload_is_atomic_and_creates_folders(sshd: LocalSshd, tmp_path: Path) -> None:
    local = _random_file(tmp_path / "up.bin", 2)
    with _transport(sshd, "uploads") as transport:
        (sshd.root / "uploads").mkdir(exist_ok=True)
        written = transport.upload(local, "dt=2024-05-01/up.bin")
        transport.upload(local, "dt=2024-05-01/up.bin")  # replacing an existing file works too
        assert [f.relpath for f in transport.list()] == ["dt=2024-05-01/up.bin"]
        with pytest.raises(ValueError):
            transport.upload(local, "../escape.bin")
    target = sshd.root / "uploads" / "dt=2024-05-01" / "up.bin"
    assert written.size == target.stat().st_size and _sha256(target) == _sha256(local)
    assert os.listdir(target.parent) == ["up.bin"]  # no temporary file left behind


def test_feeds_load_over_sftp_loads_once(sshd: LocalSshd, tmp_path: Path, warehouse: Path) -> None:
    feed = sshd.root / "leanplum_feed"
    write_ndjson(feed / "dt=2024-05-01" / "a.json", [leanplum_event(f"a{i}") for i in range(7)])
    write_ndjson(feed / "dt=2024-05-02" / "b.json", [leanplum_event(f"b{i}") for i in range(5)])
    cfg = write_config(
        tmp_path / "feeds.yml",
        [
            {
                "name": "lp_sftp",
                "vendor": "leanplum",
                "uri": sshd.uri("leanplum_feed"),
                "sftp": sshd.sftp_options(),
            }
        ],
    )
    run_feeds("load", "-c", str(cfg), check=0)
    rows = query(warehouse, "select _source_uri, count(*) from raw.leanplum__events group by 1 order by 1")
    assert rows == [
        (sshd.uri("leanplum_feed/dt=2024-05-01/a.json"), 7),
        (sshd.uri("leanplum_feed/dt=2024-05-02/b.json"), 5),
    ]
    run_feeds("load", "-c", str(cfg), check=0)
    assert query(warehouse, "select count(*) from raw.leanplum__events") == [(12,)]
    assert query(warehouse, "select count(*), sum(rows) from loader.files where status = 'loaded'") == [
        (2, 12)
    ]
