"""Whose fault an error is, and how a file's error reads (loaders/load/errors.py)."""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb
import pytest

from loaders.load.errors import EnvironmentFailure, RecountMismatch, describe_error, environment_problem
from tests.unit.loadparts import pending


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (EnvironmentFailure("disk gone"), "disk gone"),
        (
            OSError(errno.ENOSPC, "No space left on device", "/w/x.duckdb"),
            "No space left on device: /w/x.duckdb",
        ),
        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
        (
            duckdb.IOException('Could not write file "w": No space left on device\nmore'),
            'Could not write file "w": No space left on device',
        ),
        (duckdb.TransactionException("Conflict on update\nmore"), "Conflict on update"),
        (duckdb.Error("file is not a valid DuckDB database"), "file is not a valid DuckDB database"),
    ],
)
def test_the_machines_faults_are_named_in_one_line(exc: BaseException, expected: str) -> None:
    assert environment_problem(exc) == expected


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.ENOENT, "No such file or directory", "x.csv"),
        duckdb.InvalidInputException("CSV Error on Line: 3"),
        duckdb.ConversionException("Could not convert"),
        ValueError("no space left"),  # not an OS or DuckDB error: the file's
    ],
)
def test_the_files_faults_are_not_the_environments(exc: BaseException) -> None:
    assert environment_problem(exc) is None


def test_describe_error_names_the_uri_not_the_local_copy(tmp_path: Path) -> None:
    local = tmp_path / "000001.part"
    f = pending("dt=1/a.csv", local=local)
    exc = duckdb.InvalidInputException(f"CSV Error on Line: 3\nin {local}\n\nPossible fixes: ...")
    message = describe_error(f, exc)
    assert message == (
        f"{f.remote.uri}: CSV Error on Line: 3 in {f.remote.uri} -- fix or re-send the file; "
        "it is retried when its version changes"
    )
    assert str(local) not in message


def test_recount_mismatch_says_both_counts() -> None:
    assert RecountMismatch.message(9, 0, 10).startswith("9 rows read, but the file holds 10 records")
    assert RecountMismatch.message(7, 2, 10).startswith("7 rows loaded + 2 rejected, but the file holds 10")
    exc = RecountMismatch({"u1": "a", "u2": "b"})
    assert exc.bad == {"u1": "a", "u2": "b"} and str(exc) == "u1: a; u2: b"
