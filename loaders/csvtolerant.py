"""The tolerant reading of a CSV file the strict reader cannot take as it is: record by record, in its dialect.

Each record is checked on its own: a field count that differs from the header's (a trailing delimiter is a
field more: nothing shifts), a NUL byte, bytes that are not UTF-8, a quote left open at the end of the file.
A bad record goes to the rejects with its line and reason; the good ones are written to a clean staging CSV
(its first column the record's number in the file) that DuckDB then loads strictly. The records are numbered
whatever came before them: a rejected or multi-line record still counts, so `_source_row` never shifts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .csvdialect import Dialect

REJECT_CONTENT_CHARS = 65536  # the rejects table keeps this much of a bad record's text


class HeaderRejected(Exception):
    """The first record cannot be the file's header; the message says why."""


@dataclass
class Staged:
    header: list[str]
    rows: int = 0
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, content)
    wider: int = 0  # records with more fields than the header


def _content(row: list[str], delimiter: str) -> str:
    text = delimiter.join(row)[:REJECT_CONTENT_CHARS]
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def _not_utf8(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def stage(
    src: IO[bytes],
    dest: Path,
    dialect: Dialect,
    max_field: int,
    unterminated: bool,
    check_header: Callable[[list[str]], None] | None = None,
    stray_lines: frozenset[int] = frozenset(),
) -> Staged:
    """Read `src` in `dialect`; good records to `dest` (`record number, fields...`), bad ones returned."""
    # utf-8-sig: a byte order mark before the header is not part of its first name
    text = io.TextIOWrapper(src, encoding="utf-8-sig", errors="surrogateescape", newline="")
    skipped = 0
    for _ in range(dialect.preamble):
        if text.readline():
            skipped += 1
    csv.field_size_limit(max(max_field, 1 << 20))
    reader = csv.reader(text, **dialect.reader_options())  # type: ignore[arg-type]
    staged: Staged | None = None
    pending: tuple[int, list[str]] | None = None  # the previous record: the last one is judged at the end
    previous_line = 0
    number = 0
    with open(dest, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")

        def judge(line: int, row: list[str], last: bool) -> None:
            nonlocal number
            assert staged is not None
            number += 1
            n = len(staged.header)
            reason = None
            if last and unterminated:
                reason = (
                    "UNQUOTED VALUE: a quote opened in this record is never closed: the rest of the file is "
                    "one field"
                )
            elif line - skipped in stray_lines:
                reason = (
                    "STRAY QUOTE: a quote inside an unquoted value, or text after a closing quote (CSV allows "
                    "neither: the record's bounds are in doubt)"
                )
            elif len(row) != n:
                kind = "TOO MANY COLUMNS" if len(row) > n else "MISSING COLUMNS"
                reason = f"{kind}: {len(row)} fields where the header has {n} (a value is never shifted)"
                if len(row) > n:
                    staged.wider += 1
            elif any("\x00" in v for v in row):
                reason = "NUL BYTE: a NUL byte in a value"
            elif any(_not_utf8(v) for v in row):
                reason = "INVALID ENCODING: bytes that are not UTF-8 text"
            if reason is None:
                writer.writerow([number, *row])
                staged.rows += 1
            else:
                staged.rejects.append((line, reason, _content(row, dialect.delimiter)))

        try:
            for row in reader:
                line = previous_line + 1 + skipped
                previous_line = reader.line_num
                if not row:
                    continue  # a blank line is no record
                if staged is None:
                    if reader.line_num != 1:
                        raise HeaderRejected(
                            f"the header (line {line}) runs over {reader.line_num} lines: a quote in it is "
                            "never closed"
                        )
                    if check_header is not None:
                        check_header(row)
                    staged = Staged(row)
                    continue
                if pending is not None:
                    judge(*pending, last=False)
                pending = (line, row)
        except csv.Error as exc:
            raise HeaderRejected(f"line {previous_line + 1 + skipped}: {exc}") from None
        if pending is not None:
            judge(*pending, last=True)
    if staged is None:
        raise HeaderRejected("no header line")
    return staged
