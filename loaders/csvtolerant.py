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
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import csvcount, csvinspect
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


def _content(record: bytes) -> str:
    """A rejected record's text as it is in the file (bytes that are not UTF-8 as `\\xNN`)."""
    return record[: REJECT_CONTENT_CHARS * 4].decode("utf-8", errors="backslashreplace")[
        :REJECT_CONTENT_CHARS
    ]


def stage(
    src: IO[bytes] | io.BufferedIOBase,
    dest: Path,
    dialect: Dialect,
    max_field: int,
    check_header: Callable[[list[str]], None] | None = None,
    python: bool = False,
) -> Staged:
    """Read `src` in `dialect`; good records to `dest` (`record number, fields...`), bad ones returned.

    The record bounds are the record counter's (loaders/csvcount.py, its record rule): the same counter as
    the file's inspection, run again over the same bytes, marks where each record starts and ends; this
    reader only splits the fields inside those bounds, so it reads exactly the records counted."""
    head = src.read(csvinspect.CHUNK)
    skip = csvinspect.body_start(head, dialect)
    preamble_lines = dialect.preamble
    counter = csvcount.make_counter(
        dialect.delimiter, dialect.quote, dialect.escape, dialect.skip_space, python=python, marks=True
    )
    delim = ord(dialect.delimiter)
    quote = ord(dialect.quote) if dialect.quote else -1
    escape = ord(dialect.escape) if dialect.escape else -1
    staged: Staged | None = None
    number = 0
    buf = b""
    buf_base = 0  # the stream offset of buf[0]
    with open(dest, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")

        def header(record: bytes, line: int, flags: int) -> Staged:
            if flags & csvcount.MARK_UNTERMINATED or b"\n" in record or b"\r" in record:
                raise HeaderRejected(
                    f"the header (line {line}) runs over lines: a quote in it is never closed"
                )
            fields = csvcount.split_record(record, delim, quote, escape, dialect.skip_space)
            if flags & csvcount.MARK_STRAY or fields is None:
                raise HeaderRejected(f"the header (line {line}) has a stray quote: its names are in doubt")
            row = [v.decode("utf-8", errors="surrogateescape") for v in fields]
            row[0] = row[0].removeprefix("\ufeff")
            if check_header is not None:
                check_header(row)
            return Staged(row)

        def judge(record: bytes, line: int, nfields: int, flags: int) -> None:
            nonlocal number
            assert staged is not None
            number += 1
            n = len(staged.header)
            reason = None
            row: list[str] = []
            if flags & csvcount.MARK_UNTERMINATED:
                reason = (
                    "UNQUOTED VALUE: a quote opened in this record is never closed: the rest of the file is "
                    "one field"
                )
            elif flags & csvcount.MARK_STRAY:
                reason = (
                    "STRAY QUOTE: a quote inside an unquoted value, or text after a closing quote (CSV allows "
                    "neither: the record's bounds are in doubt)"
                )
            elif nfields != n:
                kind = "TOO MANY COLUMNS" if nfields > n else "MISSING COLUMNS"
                reason = f"{kind}: {nfields} fields where the header has {n} (a value is never shifted)"
                if nfields > n:
                    staged.wider += 1
            elif flags & csvcount.MARK_NUL:
                reason = "NUL BYTE: a NUL byte in a value"
            else:
                fields = csvcount.split_record(record, delim, quote, escape, dialect.skip_space)
                if (
                    fields is None or len(fields) != n
                ):  # the counter's rule and the split disagree: never load
                    reason = "UNSPLIT RECORD: its fields cannot be told apart for sure"
                else:
                    try:
                        row = [v.decode("utf-8") for v in fields]
                    except UnicodeDecodeError:
                        reason = "INVALID ENCODING: bytes that are not UTF-8 text"
            if reason is None:
                writer.writerow([number, *row])
                staged.rows += 1
            else:
                staged.rejects.append((line, reason, _content(record)))

        def take() -> None:
            nonlocal staged, buf, buf_base
            marks = array("q", counter.take())
            for k in range(0, len(marks), 5):
                start, end, line, nfields, flags = marks[k : k + 5]
                record = buf[start - buf_base : end - buf_base]
                line += preamble_lines
                if flags & csvcount.MARK_HEADER:
                    staged = header(record, line, flags)
                else:
                    judge(record, line, nfields, flags)
            if marks:
                cut = marks[-4] - buf_base  # the end of the last record taken
                buf, buf_base = buf[cut:], marks[-4]

        chunk = head[skip:]
        while chunk:
            buf += chunk
            counter.feed(chunk)
            take()
            if len(buf) > max_field + csvinspect.CHUNK:
                raise HeaderRejected(
                    f"a record longer than {max_field} bytes (max_line_bytes) from byte {buf_base + skip}"
                )
            chunk = src.read(csvinspect.CHUNK)
        counter.finish()
        take()
    if staged is None:
        raise HeaderRejected("no header line")
    return staged
