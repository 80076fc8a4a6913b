"""Control-file gating (Simon): a data file loads only once a control file vouching for it has arrived, and
only if the rows read equal the control file's `rows`.

Used for layouts that declare `control_gated`. Until its control file arrives a data file waits: it is
reported (`loader.state`, `waiting:<uri>`) and taken by a later run. The values a control file vouches
(its flow's id and name) become per-file lineage columns of the rows.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ..transports import RemoteFile, Transport
from ..vendors import Layout, Vouched
from ..warehouse import META_SCHEMA
from . import clock
from .ledger import loaded_uris


@dataclass
class Gate:
    """What the control files of a listing say."""

    ready: list[RemoteFile] = field(default_factory=list)  # data files a control file vouches for
    waiting: list[RemoteFile] = field(default_factory=list)  # data files without one, not loaded before
    rows: dict[str, int] = field(default_factory=dict)  # uri -> the rows its control file promises
    lineage: dict[str, dict[str, str | None]] = field(default_factory=dict)  # uri -> vouched columns
    errors: list[str] = field(default_factory=list)  # control files that cannot be read

    def check_rows(self, counts: dict[str, int]) -> dict[str, str]:
        """uri -> why, for each file whose rows loaded differ from its control file's count."""
        bad = {}
        for uri, rows in counts.items():
            expected = self.rows.get(uri)
            if expected is not None and expected != rows:
                bad[uri] = (
                    f"control file says {expected} rows, the file has {rows}; "
                    "ask the vendor to re-send the file and its control file"
                )
        return bad


def read_control_files(transport: Transport, layout: Layout, listed: list[RemoteFile]) -> Gate:
    """Read every control file of the listing and sort the data files into ready and waiting."""
    gate = Gate()
    expected: dict[str, Vouched] = {}  # "<folder>/<data file name>" -> what its control file says
    data: list[RemoteFile] = []
    with tempfile.TemporaryDirectory(prefix="feeds-control-") as tmp:
        for remote in listed:
            route = layout.route(remote.relpath)
            if route is None:
                continue
            if route.kind != "control":
                data.append(remote)
                continue
            local = transport.local_path(remote)
            if local is None:
                local = Path(tmp) / "control.json"
                transport.fetch(remote, local)
            folder = remote.relpath.rpartition("/")[0]
            try:
                entries = layout.parse_control(local.read_bytes())
            except ValueError as exc:
                gate.errors.append(
                    f"{remote.uri}: control file unreadable: {exc}; ask the vendor to re-send it"
                )
                continue
            for entry in entries:
                expected[f"{folder}/{entry.file}"] = entry
    for remote in data:
        folder, _, name = remote.relpath.rpartition("/")
        vouched = expected.get(f"{folder}/{name}")
        if vouched is None:
            gate.waiting.append(remote)
        else:
            gate.ready.append(remote)
            gate.rows[remote.uri] = vouched.rows
            gate.lineage[remote.uri] = vouched.lineage
    return gate


def gate_on_control_files(
    con: duckdb.DuckDBPyConnection, transport: Transport, feed: str, layout: Layout, listed: list[RemoteFile]
) -> Gate:
    """The gate of a feed's listing; the files still waiting (not loaded in an earlier version) are recorded
    in `loader.state`, replacing the feed's earlier list."""
    gate = read_control_files(transport, layout, listed)
    loaded = loaded_uris(con, feed)
    gate.waiting = [w for w in gate.waiting if w.uri not in loaded]
    con.execute(f"delete from {META_SCHEMA}.state where feed = ? and key like 'waiting:%'", [feed])
    if gate.waiting:
        con.executemany(
            f"insert into {META_SCHEMA}.state values (?, ?, ?, ?)",
            [
                [
                    feed,
                    f"waiting:{w.uri}",
                    "waiting for its control file; loads when it arrives",
                    clock.utcnow(),
                ]
                for w in gate.waiting
            ],
        )
    return gate
