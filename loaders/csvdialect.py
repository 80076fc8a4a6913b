"""A CSV file's dialect: the vendor's documented one first; when its header does not parse in it, the common
ones are tried (comma, semicolon, tab, pipe, `, `; doubled or backslash-escaped quotes; up to five preamble
lines before the header) and the one used is recorded with the file. Never a one-column table of
joined values: a header that parses in no dialect keeps the documented one, and the loader refuses it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace

DELIMITERS = (",", ";", "\t", "|")
# a field as long as a record may be (the loader's max_line_bytes); the same limit whatever ran before
csv.field_size_limit(1 << 30)
MAX_PREAMBLE = 5
SAMPLE_RECORDS = 50


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    quote: str | None = '"'
    escape: str | None = '"'  # the quote itself: a doubled quote is a quote in the text
    skip_space: bool = False  # `, `: spaces after a delimiter are not part of the value
    preamble: int = 0  # lines before the header (titles, export dates), not loaded

    def describe(self) -> str:
        names = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
        parts = [names.get(self.delimiter, repr(self.delimiter)) + (" and space" if self.skip_space else "")]
        parts.append(f"quote {self.quote!r}" if self.quote else "no quoting")
        if self.escape and self.escape != self.quote:
            parts.append(f"escape {self.escape!r}")
        if self.preamble:
            parts.append(f"{self.preamble} preamble line(s) before the header skipped")
        return ", ".join(parts)

    def reader_options(self) -> dict[str, object]:
        """Keyword arguments of Python's csv.reader for this dialect."""
        options: dict[str, object] = {"delimiter": self.delimiter, "skipinitialspace": self.skip_space}
        if self.quote is None:
            options["quoting"] = csv.QUOTE_NONE
        else:
            options["quotechar"] = self.quote
            options["doublequote"] = self.escape == self.quote
            if self.escape and self.escape != self.quote:
                options["escapechar"] = self.escape
        return options


def documented(fmt: str | None) -> Dialect:
    return Dialect(delimiter="\t" if fmt == "tsv" else ",")


def skip_lines(text: str, n: int) -> str:
    """The text after its first n lines (a line ends at \\n, \\r\\n or a lone \\r)."""
    pos = 0
    for _ in range(n):
        ends = [i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0]
        if not ends:
            return ""
        end = min(ends)
        pos = end + (2 if text.startswith("\r\n", end) else 1)
    return text[pos:]


def first_lines(text: str, n: int) -> list[str]:
    """The first n lines of text (as str.splitlines would give them, without splitting all of it)."""
    lines = []
    pos = 0
    for _ in range(n):
        if pos >= len(text):
            break
        ends = [i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0]
        end = min(ends) if ends else len(text)
        lines.append(text[pos:end])
        pos = end + (2 if text.startswith("\r\n", end) else 1)
    return lines


def _sample(text: str, d: Dialect, complete: bool) -> tuple[list[str], list[list[str]], int] | None:
    """(header, first records, lines the header spans) of the text in dialect d; None if it has no header."""
    reader = csv.reader(io.StringIO(skip_lines(text, d.preamble), newline=""), **reader_kwargs(d))
    rows: list[list[str]] = []
    header_lines = 0
    try:
        for row in reader:
            if not row:
                continue
            if not rows:
                header_lines = reader.line_num
            rows.append(row)
            if len(rows) > SAMPLE_RECORDS:
                break
    except csv.Error:
        return None
    if not rows:
        return None
    if not complete and len(rows) > 2:
        rows = rows[:-1]  # the sample may cut the last record
    return rows[0], rows[1:], header_lines


def reader_kwargs(d: Dialect) -> dict:
    return d.reader_options()


def _fits(text: str, d: Dialect, complete: bool, share: float = 0.8) -> bool:
    """Whether the header parses in d into 2 fields or more, at least `share` of the sampled records have
    its field count, and every preamble line is one field of words (a title, a date) that is not the header's
    names with their delimiters lost: a preamble never hides a record or a header with delimiters missing."""
    sample = _sample(text, d, complete)
    if sample is None:
        return False
    header, records, header_lines = sample
    if len(header) < 2 or header_lines != 1:
        return False
    first = first_lines(skip_lines(text, d.preamble), 1)
    if first and any(first[0].count(q) % 2 for q in ('"', "'") if q == d.quote or q == '"'):
        return False  # a header with an unbalanced quote cannot be the file's header, in any dialect
    if d.preamble:
        lines = first_lines(text, d.preamble)
        if any(line.count('"') % 2 for line in lines):
            return False  # an open quote: a broken header or record, not a title line
        if any(x in line for line in lines for x in DELIMITERS):
            return False  # a line holding a delimiter of any dialect may be a header or a record: not a title
        for line, row in zip(lines, csv.reader(lines, **reader_kwargs(replace(d, preamble=0))), strict=False):
            if len(row) >= 2:  # a line of fields may be a header or record missing a delimiter: not a title
                return False
            words = line.split()
            if len(words) < 2 or len(words) == len(
                header
            ):  # `col0col1`, `a b c`: a header lost its delimiters
                return False
    if not records:
        return True
    same = sum(1 for r in records if len(r) == len(header))
    return same >= max(1, share * len(records))


def _with_spaces(text: str, d: Dialect) -> Dialect:
    """`, `-separated: every delimiter of the header line is followed by a space."""
    line = skip_lines(text, d.preamble).split("\n", 1)[0]
    n = line.count(d.delimiter)
    if d.delimiter == "," and n and line.count(", ") == n:
        return replace(d, skip_space=True)
    return d


def detect(head: bytes, fmt: str | None, complete: bool) -> Dialect:
    """The dialect to read a file in, from its first bytes (`complete`: they are the whole file)."""
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")
    doc = documented(fmt)
    backslash = '\\"' in text
    if not backslash and _fits(text, doc, complete, share=0.5):
        return _with_spaces(text, doc)
    candidates = []
    for preamble in range(MAX_PREAMBLE + 1):
        for delim in (doc.delimiter, *(x for x in DELIMITERS if x != doc.delimiter)):
            for quote, escape in (('"', '"'), ('"', "\\")):
                if escape == "\\" and not backslash:
                    continue
                candidates.append(Dialect(delim, quote, escape, False, preamble))
    if backslash:  # a backslash before a quote: try the escaping dialects first
        candidates.sort(key=lambda c: (c.preamble, c.escape != "\\"))
    for d in candidates:
        if _fits(text, d, complete):
            return _with_spaces(text, d)
    return _with_spaces(text, doc)  # fitting none: the documented one, `, ` if its header is written so
