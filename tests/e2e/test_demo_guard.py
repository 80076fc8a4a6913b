"""`make demo` never touches a database it did not create: pointed at the user's warehouse it stops, says why,
and leaves the file byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["duckdb", "other"])
def test_make_demo_refuses_a_database_it_did_not_create(tmp_path: Path, kind: str) -> None:
    users = tmp_path / "mine" / "engagement.duckdb"
    users.parent.mkdir()
    if kind == "duckdb":
        con = duckdb.connect(str(users))
        con.execute("create table precious as select range as i from range(1000)")
        con.close()
    else:
        users.write_bytes(b"not a database, but the user's")
    before = _digest(users)
    listing = sorted(p.name for p in users.parent.iterdir())
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(users)}
    proc = subprocess.run(
        ["make", "-s", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode != 0
    assert f"refusing to run: {users}" in proc.stderr and "it is left as it is" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _digest(users) == before
    assert sorted(p.name for p in users.parent.iterdir()) == listing
