"""Records of a CSV file counted by a pass of its own, to account for every row the reader loaded or rejected.

The loader reads CSV with DuckDB (or, for a file DuckDB refuses, with Python's csv module); this pass counts
the same file's records by CSV's quoting rules with neither of them: rows loaded + rows rejected must equal
its count, or the file is quarantined with both numbers. It also tells whether the file holds records the
strict reader would load silently wrong: a field count that differs from the header's (a trailing delimiter
shifts nothing: it is a field more), a NUL byte, a quote where CSV allows none, a quote left open at the end.

The record rule (the one definition: the counter and the tolerant reader both follow it, the reader by
reading the record bounds the counter marks, so the two cannot split a file differently):

1. A record ends at a line break outside quotes: `\n`, `\r\n` or a lone `\r`. A record with no byte
   before its line break (a blank line) is no record. The first record is the header.
2. Fields are separated by the delimiter outside quotes; with `, ` (skip_space) spaces at a field's start
   are not part of it.
3. A quote opens a quoted field only at the start of a field. Inside quotes every byte is text, line breaks
   and delimiters too, except: with the quote as its own escape, a doubled quote is one quote and a single
   one closes the field; with another escape character (a backslash), that character and the byte after it
   are that byte, and a quote closes the field.
4. A quote anywhere else (inside an unquoted field), or anything but a delimiter or a line break right after
   a closing quote, is a stray quote: the record is counted, but its fields are in doubt, so it is rejected
   whole (never split and loaded). So is a record with a NUL byte, and the last record when the file ends
   inside quotes (it is the rest of the file).

The C scanner (`_csvcount.c`) is built when the project is installed; `PyCounter` holds the same rules in
Python for a machine without a compiler (and the tests compare the two on random bytes). `split_record`
splits the fields of one record whose bounds the counter marked (rule 2 and 3).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

try:
    from ._csvcount import Counter as _CCounter
except ImportError:  # installed without a C compiler
    _CCounter = None  # type: ignore[assignment,misc]

CHUNK = 4 << 20

# marks (a counter made with marks=True, for the tolerant reader): per record, 5 int64 in this order
MARK_FIELDS = ("start", "end", "line", "fields", "flags")  # bytes [start, end) of the stream, no line break
MARK_STRAY, MARK_NUL, MARK_UNTERMINATED, MARK_HEADER = 1, 2, 4, 8


@dataclass(frozen=True)
class Counts:
    records: int  # data records (the header and blank lines are not records)
    header_fields: int  # -1: no header at all (an empty file)
    header_lines: int  # physical lines the header spans (more than 1: a quote in it is left open)
    bad_fields: int  # records whose field count differs from the header's
    nul_records: int
    stray_records: int  # a quote inside an unquoted field, or text after a closing quote
    lines: int
    unterminated: bool  # the file ends inside a quoted field
    header_stray: bool
    header_nul: bool
    first_bad_line: int  # physical line of the first record above (0: none)
    stray_lines: frozenset[int] = frozenset()  # first line of each record with a stray quote

    @property
    def clean(self) -> bool:
        """Whether a strict reader can load every record as it is: nothing to reject, nothing to shift."""
        return not (
            self.bad_fields
            or self.nul_records
            or self.stray_records
            or self.unterminated
            or self.header_stray
            or self.header_nul
            or self.header_lines > 1
        )


class Counter(Protocol):
    """What `make_counter` gives: the C counter or `PyCounter`, the same rules."""

    def feed(self, chunk: bytes, /) -> None: ...

    def finish(self) -> dict[str, int | bytes]: ...

    def take(self) -> bytes: ...


class PyCounter:
    """The C counter's rules in Python (slow: only when the scanner is not built, and in tests)."""

    def __init__(
        self,
        delimiter: int = 44,
        quote: int = 34,
        escape: int = 34,
        skip_space: bool = False,
        marks: bool = False,
    ):
        self.delim, self.quote, self.escape, self.skip_space = delimiter, quote, escape, skip_space
        self.marks = marks
        self.base = self.rec_start = 0
        self.mk: list[int] = []
        self.in_q = self.quote_seen = self.esc_pending = self.after_close = self.has_content = self.cr = False
        self.cr_q = False
        self.stray_lines: list[int] = []
        self.stray = self.nul = self.header_stray = self.header_nul = False
        self.field_start = True
        self.fields = 1
        self.line = self.rec_line = 1
        self.records = self.bad_fields = self.nul_records = self.stray_records = self.first_bad_line = 0
        self.header_fields = -1
        self.header_lines = 0

    def _end(self, end: int, flags: int = 0) -> None:
        if self.has_content:
            if self.marks:
                flags |= (MARK_HEADER if self.header_fields < 0 else 0) | (MARK_STRAY if self.stray else 0)
                flags |= MARK_NUL if self.nul else 0
                self.mk += (self.rec_start, end, self.rec_line, self.fields, flags)
            if self.header_fields < 0:
                self.header_fields = self.fields
                self.header_lines = self.line - self.rec_line + 1
                self.header_stray, self.header_nul = self.stray, self.nul
            else:
                self.records += 1
                bad = False
                if self.fields != self.header_fields:
                    self.bad_fields += 1
                    bad = True
                if self.nul:
                    self.nul_records += 1
                    bad = True
                if self.stray:
                    self.stray_records += 1
                    self.stray_lines.append(self.rec_line)
                    bad = True
                if bad and not self.first_bad_line:
                    self.first_bad_line = self.rec_line
        self.fields = 1
        self.has_content = self.stray = self.nul = self.after_close = False
        self.field_start = True

    def feed(self, chunk: bytes) -> None:
        delim, quote, escape = self.delim, self.quote, self.escape
        base = self.base
        self.base += len(chunk)
        for i, c in enumerate(chunk):
            if self.cr_q:
                self.cr_q = False
                if self.in_q and not self.esc_pending and not self.quote_seen and c == 10:
                    continue
            if self.in_q:
                if self.esc_pending:
                    self.esc_pending = False
                    if c == 10:
                        self.line += 1
                    if c == 0:
                        self.nul = True
                    continue
                if self.quote_seen:
                    self.quote_seen = False
                    if c == quote:
                        continue
                    self.in_q = False
                    self.after_close = True
                else:
                    if c == quote:
                        if escape == quote:
                            self.quote_seen = True
                        else:
                            self.in_q = False
                            self.after_close = True
                    elif c == escape:
                        self.esc_pending = True
                    elif c == 10:
                        self.line += 1
                    elif c == 13:
                        self.line += 1
                        self.cr_q = True
                    elif c == 0:
                        self.nul = True
                    continue
            if c == 10:
                if self.cr:
                    self.cr = False
                    continue
                self._end(base + i)
                self.line += 1
                self.rec_line = self.line
                continue
            self.cr = False
            if c == 13:
                self._end(base + i)
                self.line += 1
                self.rec_line = self.line
                self.cr = True
                continue
            if not self.has_content:
                self.has_content = True
                self.rec_line = self.line
                self.rec_start = base + i
            if c == delim:
                self.fields += 1
                self.field_start = True
                self.after_close = False
            elif c == quote:
                if self.field_start:
                    self.in_q = True
                    self.field_start = False
                else:
                    self.stray = True
            elif c == 32 and self.skip_space and self.field_start:
                pass
            else:
                if c == 0:
                    self.nul = True
                if self.after_close:
                    self.stray = True
                self.field_start = False

    def finish(self) -> dict[str, int | bytes]:
        unterminated = self.in_q and not self.quote_seen
        self.in_q = self.quote_seen = False
        self._end(self.base, MARK_UNTERMINATED if unterminated else 0)
        return {
            "records": self.records,
            "header_fields": self.header_fields,
            "header_lines": self.header_lines,
            "bad_fields": self.bad_fields,
            "nul_records": self.nul_records,
            "stray_records": self.stray_records,
            "lines": self.line,
            "unterminated": int(unterminated),
            "header_stray": int(self.header_stray),
            "header_nul": int(self.header_nul),
            "first_bad_line": self.first_bad_line,
            "stray_lines": array("q", self.stray_lines).tobytes(),
        }

    def take(self) -> bytes:
        out = array("q", self.mk).tobytes()
        self.mk = []
        return out


def available() -> bool:
    return _CCounter is not None


def count_chunks(
    chunks: Iterable[bytes],
    delimiter: str = ",",
    quote: str | None = '"',
    escape: str | None = '"',
    skip_space: bool = False,
    python: bool = False,
) -> Counts:
    """Count the records of a file given as byte chunks (the header first, any preamble already skipped)."""
    counter = make_counter(delimiter, quote, escape, skip_space, python)
    for chunk in chunks:
        counter.feed(chunk)
    found: dict[str, Any] = counter.finish()
    found["unterminated"] = bool(found["unterminated"])
    found["header_stray"] = bool(found["header_stray"])
    found["header_nul"] = bool(found["header_nul"])
    found["stray_lines"] = frozenset(array("q", found["stray_lines"]))
    return Counts(**found)


def make_counter(
    delimiter: str = ",",
    quote: str | None = '"',
    escape: str | None = '"',
    skip_space: bool = False,
    python: bool = False,
    marks: bool = False,
) -> Counter:
    """A counter (the C one when built) for the dialect; with marks, `take()` gives each record's bounds."""
    cls = PyCounter if python or _CCounter is None else _CCounter
    return cls(
        delimiter=ord(delimiter),
        quote=ord(quote) if quote else -1,
        escape=ord(escape) if escape else -1,
        skip_space=skip_space,
        marks=marks,
    )


def split_record(
    record: bytes, delimiter: int, quote: int, escape: int, skip_space: bool
) -> list[bytes] | None:
    """The fields of one record (no line break) by rules 2 and 3; None when it breaks rule 4 (a stray quote,
    a quote left open): such a record cannot be split for sure."""
    d = bytes([delimiter])
    if quote < 0 or quote not in record:
        fields = record.split(d)
        return [f.lstrip(b" ") for f in fields] if skip_space else fields
    q = bytes([quote])
    e = bytes([escape]) if escape >= 0 and escape != quote else None
    fields = []
    n = len(record)
    i = 0
    while True:
        if skip_space:
            while i < n and record[i] == 32:
                i += 1
        if i < n and record[i] == quote:
            i += 1
            parts: list[bytes] = []
            while True:
                j = record.find(q, i)
                if e is not None:
                    k = record.find(e, i)
                    if 0 <= k < j or (j < 0 <= k):
                        if k + 1 >= n:
                            return None
                        parts += (record[i:k], record[k + 1 : k + 2])
                        i = k + 2
                        continue
                if j < 0:
                    return None  # the quote is never closed
                if e is None and j + 1 < n and record[j + 1] == quote:
                    parts.append(record[i : j + 1])  # a doubled quote: one quote of text
                    i = j + 2
                    continue
                parts.append(record[i:j])
                i = j + 1
                break
            fields.append(b"".join(parts))
            if i == n:
                return fields
            if record[i] != delimiter:
                return None  # text after a closing quote
            i += 1
            continue
        j = record.find(d, i)
        value = record[i:] if j < 0 else record[i:j]
        if q in value:
            return None  # a quote inside an unquoted field
        fields.append(value)
        if j < 0:
            return fields
        i = j + 1
