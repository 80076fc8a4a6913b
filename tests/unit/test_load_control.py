"""Control-file gating (loaders/load/control.py) with Simon's layout and a transport in memory."""

from __future__ import annotations

import json
from pathlib import Path

from loaders.load.control import Gate, gate_on_control_files, read_control_files
from loaders.transports import RemoteFile, Transport
from loaders.vendors import get_layout
from loaders.warehouse import META_SCHEMA
from tests.unit.loadparts import ledger, remote

LAYOUT = get_layout("simon", {})
DAY = "simon/2024/05/01"
DATA = "acme_welcome_add_r1_20240501120000.csv"
OTHER = "acme_welcome_add_r2_20240501130000.csv"


class Files(Transport):
    """Files held in memory; none readable in place, so each is fetched."""

    def __init__(self, contents: dict[str, bytes]) -> None:
        self.contents = contents

    def list(self) -> list[RemoteFile]:
        return [remote(p, len(c)) for p, c in self.contents.items()]

    def local_path(self, file: RemoteFile) -> Path | None:
        return None

    def fetch(self, file: RemoteFile, dest: Path) -> None:
        dest.write_bytes(self.contents[file.relpath])

    def close(self) -> None:
        pass


def control(*entries: tuple[str, object]) -> bytes:
    files = [
        {"file": f"s3://b/{DAY}/{name}", "rows": rows, "flow_ID": "42", "flow_name": "Welcome"}
        for name, rows in entries
    ]
    return json.dumps({"files": files}).encode()


def test_a_data_file_is_ready_only_with_its_control_file_and_carries_its_lineage() -> None:
    transport = Files(
        {
            f"{DAY}/{DATA}": b"identifier,timestamp,operation\n",
            f"{DAY}/{OTHER}": b"identifier,timestamp,operation\n",
            f"{DAY}/control_{DATA}.json": control((DATA, 3)),
        }
    )
    gate = read_control_files(transport, LAYOUT, transport.list())
    assert [r.relpath for r in gate.ready] == [f"{DAY}/{DATA}"]
    assert [r.relpath for r in gate.waiting] == [f"{DAY}/{OTHER}"]
    uri = gate.ready[0].uri
    assert gate.rows == {uri: 3}
    assert gate.lineage[uri] == {"_control_flow_id": "42", "_control_flow_name": "Welcome"}
    assert gate.errors == []


def test_an_unreadable_control_file_is_an_error_and_its_data_waits() -> None:
    transport = Files({f"{DAY}/{DATA}": b"x\n", f"{DAY}/control_{DATA}.json": b"{not json"})
    gate = read_control_files(transport, LAYOUT, transport.list())
    assert gate.ready == [] and len(gate.waiting) == 1
    assert len(gate.errors) == 1 and "control file unreadable" in gate.errors[0]


def test_check_rows_names_each_file_whose_count_differs() -> None:
    gate = Gate(rows={"u1": 3, "u2": 5})
    assert gate.check_rows({"u1": 3, "u2": 4, "u3": 9}) == {
        "u2": "control file says 5 rows, the file has 4; ask the vendor to re-send the file and its control file"
    }


def test_waiting_files_are_recorded_unless_loaded_before() -> None:
    con = ledger()
    transport = Files({f"{DAY}/{DATA}": b"x\n", f"{DAY}/{OTHER}": b"x\n"})
    loaded = remote(f"{DAY}/{OTHER}")
    con.execute(
        f"insert into {META_SCHEMA}.files values ('s', ?, 'v0', 1, 0, 't', 'loaded', 1, 'L0', now(), null)",
        [loaded.uri],
    )
    con.execute(f"insert into {META_SCHEMA}.state values ('s', 'waiting:old', 'stale', now())")
    gate = gate_on_control_files(con, transport, "s", LAYOUT, transport.list())
    assert [w.relpath for w in gate.waiting] == [f"{DAY}/{DATA}"]
    assert con.execute(f"select key from {META_SCHEMA}.state where feed = 's'").fetchall() == [
        (f"waiting:{remote(f'{DAY}/{DATA}').uri}",)
    ]


def test_a_transport_inherits_the_capabilities_it_does_not_have() -> None:
    transport = Files({})
    assert transport.problems == () and transport.errors == ()
    file = remote("a.csv", version="v9")
    assert transport.current_version(file) == "v9"  # a fetched copy is the version listed
