"""file:///path: a local folder, read in place by DuckDB.

The folder is resolved once (`a/../a` and a symlink to it name the same files), so a file's URI, its
identity in the ledger, does not depend on how the feed's URI is spelled. Listing never stops on one bad
entry: a dangling link, a link loop, a name that is not UTF-8 or a file gone mid-walk is reported in
`problems` (one line each) and the other files are listed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from .base import RemoteFile, Transport, TransportError


class LocalTransport(Transport):
    def __init__(self, uri: str) -> None:
        self.root = Path(os.path.realpath(unquote(urlparse(uri).path)))
        self.problems: list[str] = []

    def list(self) -> list[RemoteFile]:
        if not self.root.is_dir():
            raise TransportError(f"{self.root}: no such folder; check the feed's uri")
        self.problems = []
        files: list[RemoteFile] = []
        visited: set[tuple[int, int]] = set()

        def walk_error(exc: OSError) -> None:
            self.problems.append(
                f"{_shown(exc.filename)}: cannot list: {exc.strerror}; check its permissions"
            )

        for dirpath, dirnames, filenames in os.walk(self.root, onerror=walk_error, followlinks=True):
            try:
                st = os.stat(dirpath)
            except OSError as exc:
                self.problems.append(f"{_shown(dirpath)}: cannot list: {exc.strerror}")
                dirnames[:] = []
                continue
            if (st.st_dev, st.st_ino) in visited:  # a link back to a folder already listed: a loop
                self.problems.append(
                    f"{_shown(dirpath)}: a link to a folder already listed (a loop); not listed again"
                )
                dirnames[:] = []
                continue
            visited.add((st.st_dev, st.st_ino))
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or name.endswith((".tmp", ".part")):
                    continue  # files still being written by their producer
                try:
                    str(path).encode("utf-8")
                except UnicodeEncodeError:
                    self.problems.append(
                        f"{_shown(path)}: the file name is not UTF-8; not loaded (ask the sender to rename it)"
                    )
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    if path.is_symlink():
                        self.problems.append(f"{_shown(path)}: a link to nothing (dangling); not loaded")
                    else:
                        self.problems.append(
                            f"{_shown(path)}: disappeared while listed; taken by a later run"
                        )
                    continue
                except OSError as exc:
                    self.problems.append(f"{_shown(path)}: cannot read: {exc.strerror}; not loaded")
                    continue
                rel = path.relative_to(self.root).as_posix()
                files.append(
                    RemoteFile(
                        uri=f"file://{path}",
                        relpath=rel,
                        size=st.st_size,
                        mtime=st.st_mtime,
                        version=f"{st.st_size}-{st.st_mtime_ns}",
                    )
                )
        return files

    def local_path(self, file: RemoteFile) -> Path | None:
        return self.root / file.relpath

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        shutil.copyfile(self.root / file.relpath, dest)

    def current_version(self, file: RemoteFile) -> str | None:
        """The file's version now (None: gone), to pin the version that was read."""
        try:
            st = (self.root / file.relpath).stat()
        except OSError:
            return None
        return f"{st.st_size}-{st.st_mtime_ns}"

    def close(self) -> None:
        pass


def _shown(path: object) -> str:
    """A path for a message: bytes that are not UTF-8 shown as escapes, never a crash."""
    return str(path).encode("utf-8", errors="backslashreplace").decode("utf-8")
