"""file:///path: a local folder, read in place by DuckDB."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from .base import RemoteFile, TransportError


class LocalTransport:
    def __init__(self, uri: str) -> None:
        self.root = Path(unquote(urlparse(uri).path))

    def list(self) -> list[RemoteFile]:
        if not self.root.is_dir():
            raise TransportError(f"{self.root}: no such folder; check the feed's uri")
        files: list[RemoteFile] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if name.startswith(".") or name.endswith((".tmp", ".part")):
                    continue  # files still being written by their producer
                st = path.stat()
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

    def close(self) -> None:
        pass
