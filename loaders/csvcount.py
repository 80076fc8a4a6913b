"""Records of a CSV file counted by a pass of its own, to account for every row the reader loaded or rejected.

The loader reads CSV with DuckDB (or, for a file DuckDB refuses, with Python's csv module); this pass counts
the same file's records by CSV's quoting rules with neither of them: rows loaded + rows rejected must equal
its count, or the file is quarantined with both numbers. It also tells whether the file holds records the
strict reader would load silently wrong: a field count that differs from the header's (a trailing delimiter
shifts nothing: it is a field more), a NUL byte, a quote where CSV allows none, a quote left open at the end.

The C scanner (`_csvcount.c`) is built when the project is installed; `PyCounter` holds the same rules in
Python for a machine without a compiler (and the tests compare the two).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

try:
    from ._csvcount import Counter as _CCounter
except ImportError:  # installed without a C compiler
    _CCounter = None

CHUNK = 4 << 20


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


class PyCounter:
    """The C counter's rules in Python (slow: only when the scanner is not built, and in tests)."""

    def __init__(self, delimiter: int = 44, quote: int = 34, escape: int = 34, skip_space: bool = False):
        self.delim, self.quote, self.escape, self.skip_space = delimiter, quote, escape, skip_space
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

    def _end(self) -> None:
        if self.has_content:
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
        for c in chunk:
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
                self._end()
                self.line += 1
                self.rec_line = self.line
                continue
            self.cr = False
            if c == 13:
                self._end()
                self.line += 1
                self.rec_line = self.line
                self.cr = True
                continue
            if not self.has_content:
                self.has_content = True
                self.rec_line = self.line
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

    def finish(self) -> dict[str, int]:
        unterminated = self.in_q and not self.quote_seen
        self.in_q = self.quote_seen = False
        self._end()
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
    cls = PyCounter if python or _CCounter is None else _CCounter
    counter = cls(
        delimiter=ord(delimiter),
        quote=ord(quote) if quote else -1,
        escape=ord(escape) if escape else -1,
        skip_space=skip_space,
    )
    for chunk in chunks:
        counter.feed(chunk)
    found = counter.finish()
    found["unterminated"] = bool(found["unterminated"])
    found["header_stray"] = bool(found["header_stray"])
    found["header_nul"] = bool(found["header_nul"])
    found["stray_lines"] = frozenset(array("q", found["stray_lines"]))
    return Counts(**found)
