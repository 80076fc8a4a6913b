"""A feed's listing sorted before anything loads: files its vendor's layout claims, files the feed's `ignore:`
globs skip, folder placeholders (not files), and everything else -- unrecognized, recorded in the ledger with
the reason and reported, never passed over in silence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import duckdb

from .transports import RemoteFile
from .vendors import Layout
from .warehouse import META_SCHEMA

UNRECOGNIZED, CLEARED = "unrecognized", "unrecognized_cleared"
NO_VENDOR_FILES = "no_vendor_files"  # loader.state key: the last listing held no file of the feed's vendor


@dataclass
class Listing:
    claimed: list[RemoteFile] = field(default_factory=list)
    unrecognized: list[tuple[RemoteFile, str]] = field(
        default_factory=list
    )  # (file, why no layout claims it)
    ignored: list[RemoteFile] = field(default_factory=list)
    placeholders: int = 0


def is_folder_placeholder(remote: RemoteFile) -> bool:
    """An object that stands for a folder, not a file: S3 consoles write `prefix/`, Hadoop `name_$folder$`."""
    return remote.relpath.endswith("/") or (remote.relpath.endswith("_$folder$") and remote.size == 0)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over a path relative to the feed's uri: `*` and `?` stay within one folder, `**` spans folders,
    `[...]` is a set; a glob without `/` matches a file's name in any folder (like .gitignore)."""
    glob = pattern.strip().lstrip("/")
    if "/" not in glob:
        glob = "**/" + glob
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            body = glob[i + 1 : end]
            body = body.replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def is_ignored(relpath: str, patterns: Sequence[str]) -> bool:
    return any(glob_regex(p).match(relpath) for p in patterns)


def sort_listing(files: Iterable[RemoteFile], layout: Layout, ignore: Sequence[str]) -> Listing:
    listing = Listing()
    for remote in files:
        if is_folder_placeholder(remote):
            listing.placeholders += 1
        elif ignore and is_ignored(remote.relpath, ignore):
            listing.ignored.append(remote)
        elif layout.route(remote.relpath) is None:
            listing.unrecognized.append((remote, layout.unclaimed(remote.relpath)))
        else:
            listing.claimed.append(remote)
    return listing


def record_unrecognized(
    con: duckdb.DuckDBPyConnection, feed: str, unrecognized: Sequence[tuple[RemoteFile, str]], load_id: str
) -> None:
    """Each unrecognized file version enters the ledger once (status 'unrecognized', the reason in `error`);
    one the listing no longer reports as such (removed, now ignored, now claimed) becomes 'unrecognized_cleared'."""
    now = datetime.now(UTC).replace(tzinfo=None)
    known = set(
        con.execute(
            f"select uri, version from {META_SCHEMA}.files where feed = ? and status = ?",
            [feed, UNRECOGNIZED],
        ).fetchall()
    )
    current = {(r.uri, r.version) for r, _ in unrecognized}
    con.execute("begin transaction")
    try:
        cleared = [list(k) for k in known - current]
        if cleared:
            con.executemany(
                f"update {META_SCHEMA}.files set status = '{CLEARED}'"
                " where feed = ? and status = 'unrecognized' and uri = ? and version = ?",
                [[feed, *k] for k in cleared],
            )
        new = [(r, why) for r, why in unrecognized if (r.uri, r.version) not in known]
        if new:
            con.executemany(
                f"insert into {META_SCHEMA}.files values (?, ?, ?, ?, ?, null, '{UNRECOGNIZED}', 0, ?, ?, ?)",
                [[feed, r.uri, r.version, r.size, r.mtime, load_id, now, why] for r, why in new],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def note_vendor_files(con: duckdb.DuckDBPyConnection, feed: str, message: str | None) -> None:
    """Remember (for `feeds status`) that the last listing held no file of the feed's vendor, or forget it."""
    con.execute(f"delete from {META_SCHEMA}.state where feed = ? and key = ?", [feed, NO_VENDOR_FILES])
    if message:
        con.execute(
            f"insert into {META_SCHEMA}.state values (?, ?, ?, ?)",
            [feed, NO_VENDOR_FILES, message, datetime.now(UTC).replace(tzinfo=None)],
        )
