"""Before a CSV file is read: its dialect, its header's bounds, its decompressed size and its records counted.

One streaming pass over the file (decompressing a gzip file as it goes) feeds the record counter
(loaders/csvcount.py) and stops as soon as the file passes its decompressed-size limit, which scales with the
compressed size (a ratio) as well as an absolute figure: a small gzip cannot keep the loader busy for minutes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import csvcount, csvdialect
from .csvcount import Counts
from .csvdialect import Dialect

CHUNK = 4 << 20
HEAD = 1 << 20


class Refused(Exception):
    """The file must not be read; the message says why and what to do."""


@dataclass(frozen=True)
class Inspection:
    dialect: Dialect
    counts: Counts
    decompressed: int
    documented: bool  # the dialect is the vendor's documented one

    @property
    def strict_ok(self) -> bool:
        """Whether DuckDB's strict reader, in the documented dialect, can load every record as it is."""
        return self.counts.clean and self.documented


def _plain(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _inflate(path: Path, limit: int) -> Iterator[bytes]:
    """The decompressed bytes of a (multi-member) gzip file, never more than limit + one chunk in memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending = b""
    with open(path, "rb") as fh:
        while data := pending or fh.read(CHUNK):
            out = inflater.decompress(data, CHUNK)
            if out:
                yield out
            if inflater.eof:  # the next member starts in unused_data
                pending = inflater.unused_data
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            else:
                pending = inflater.unconsumed_tail
        tail = inflater.flush()
        if tail:
            yield tail


def decompressed_limit(size: int, gzip: bool, absolute: int, ratio: int, floor: int) -> int:
    """A gzip file may inflate to `ratio` times its size (at least `floor`), and never past `absolute`."""
    if not gzip:
        return absolute
    return min(absolute, max(size * ratio, floor))


def inspect(
    path: Path,
    gzip: bool,
    fmt: str | None,
    limit: int,
    max_header_bytes: int,
    max_columns: int,
) -> Inspection:
    chunks = _inflate(path, limit) if gzip else _plain(path)
    head = b""
    buffered: list[bytes] = []
    try:
        for chunk in chunks:  # enough of the file to read its header and a sample of records
            buffered.append(chunk)
            head += chunk
            if len(head) >= HEAD:
                break
    except (OSError, EOFError, zlib.error) as exc:
        raise Refused(f"cannot decompress: {exc}; re-send the file") from None
    complete = len(head) < HEAD
    sample = head[:8192]
    control = sum(sample.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    if sample and control > len(sample) // 20:  # text has a few control bytes at most, never one in 20
        raise Refused(
            f"binary content ({control} control or NUL bytes in the first {len(sample)}) in a file read as "
            f"{fmt}; not text in UTF-8 (a UTF-16 export must be re-sent as UTF-8)"
        )
    if not complete or len(head) > max_header_bytes:
        first_line = min((i for i in (head.find(b"\n"), head.find(b"\r")) if i >= 0), default=-1)
        if first_line < 0 or first_line > max_header_bytes:
            raise Refused(
                f"the first line is longer than {max_header_bytes} bytes (max_header_bytes): not a header; "
                "ask the vendor to check the export, or raise the setting"
            )
    dialect = csvdialect.detect(head[: HEAD * 2], fmt, complete)
    skip = body_start(head, dialect)
    ends = [i for i in (head.find(b"\n", skip), head.find(b"\r", skip)) if i >= 0]
    header_end = min(ends) if ends else len(head)
    if header_end - skip > max_header_bytes:
        raise Refused(
            f"the header line is longer than {max_header_bytes} bytes (max_header_bytes): not a header; "
            "ask the vendor to check the export, or raise the setting"
        )
    total = 0

    def stream() -> Iterator[bytes]:
        nonlocal total
        first = True
        for chunk in _chain(buffered, chunks):
            total += len(chunk)
            if total > limit:
                raise Refused(
                    f"decompresses to more than {limit} bytes (max_decompressed_bytes, or "
                    "max_decompressed_ratio times its compressed size); raise the limit if the file is genuine"
                )
            if first:
                first = False
                chunk = chunk[skip:]
            yield chunk

    try:
        counts = csvcount.count_chunks(
            stream(),
            delimiter=dialect.delimiter,
            quote=dialect.quote,
            escape=dialect.escape,
            skip_space=dialect.skip_space,
        )
    except (OSError, EOFError, zlib.error) as exc:
        raise Refused(f"cannot decompress: {exc}; re-send the file") from None
    if counts.header_fields > max_columns:
        raise Refused(
            f"the header has {counts.header_fields} columns, over max_columns ({max_columns}); raise the "
            "setting if the file is genuine"
        )
    if counts.header_nul:
        raise Refused(
            f"binary content (NUL bytes) in the header of a file read as {fmt}; not text in UTF-8 "
            "(a UTF-16 export must be re-sent as UTF-8)"
        )
    if counts.header_fields == 1:
        raise Refused(
            "the header is one column in every dialect tried (comma, semicolon, tab, pipe, comma and space, "
            "with a preamble): it is not loaded as a one-column table of joined values; ask the vendor for "
            "the documented format"
        )
    return Inspection(dialect, counts, total, dialect == csvdialect.documented(fmt))


def _chain(buffered: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield b"".join(buffered)
    yield from rest


def body_start(head: bytes, dialect: Dialect) -> int:
    """Where the header starts in the file's first bytes: after its preamble lines, or after a byte order
    mark (the counter and the tolerant reader both start there)."""
    if not dialect.preamble and head.startswith(b"\xef\xbb\xbf"):
        return 3
    return _preamble_bytes(head, dialect.preamble)


def _preamble_bytes(head: bytes, lines: int) -> int:
    """The byte length of the first `lines` lines of head."""
    if not lines:
        return 0
    text = head.decode("latin-1")  # one character per byte: offsets stay byte offsets
    return len(text) - len(csvdialect.skip_lines(text, lines))
