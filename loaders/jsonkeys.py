"""The top-level keys of newline-delimited JSON, found by the C scanner in `_jsonkeys.c`.

The loader must know every top-level key of a JSON batch before it reads it, or a key first seen after
DuckDB's sample would be dropped. DuckDB can list them (`json_keys` over every line), but that parses each
record a second time; the scanner only follows the structure and costs about half as much CPU.
It is built when the project is installed (`pip install -e .`, which needs a C compiler); without it the
loader asks DuckDB, which gives the same keys, more slowly.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

try:
    from ._jsonkeys import Scanner
except ImportError:  # installed without a C compiler
    Scanner = None  # type: ignore[assignment,misc]

CHUNK = 4 << 20  # bytes read at a time; the scanner gets whole lines


def available() -> bool:
    return Scanner is not None


def decode_key(raw: bytes) -> str:
    """A key as the bytes between its quotes -> its text (JSON escapes resolved, as DuckDB names columns)."""
    if b"\\" in raw:
        return json.loads(b'"' + raw + b'"')
    return raw.decode("utf-8")


def scan_keys(streams: Iterable[io.BufferedIOBase]) -> list[str]:
    """The distinct top-level keys of the records in these binary streams, in first-seen order.

    Raises ValueError when a stream is not one JSON object per line (blank lines allowed), or a key is not
    UTF-8; RuntimeError when the scanner is not built. The JSON is not validated: the reader that loads it
    does that.
    """
    if Scanner is None:
        raise RuntimeError("the JSON key scanner is not built (reinstall the project with a C compiler)")
    keys: dict[str, None] = {}
    for stream in streams:
        scanner = Scanner()
        buf = bytearray(CHUNK)
        start = 0  # bytes kept from the previous read: the start of a line not yet complete
        while True:
            with memoryview(buf) as view:
                n = stream.readinto(view[start:])
                if not n:
                    if start:
                        scanner.feed(view[:start])  # the last line, without its newline
                    break
                filled = start + n
                cut = buf.rfind(b"\n", 0, filled) + 1
                if cut:
                    scanner.feed(view[:cut])
                    view[: filled - cut] = view[cut:filled]
                start = filled - cut
            if start == len(buf):  # one line longer than the buffer: make room for the rest of it
                buf.extend(bytes(len(buf)))
        for raw in scanner.finish():
            keys.setdefault(decode_key(raw))
    return list(keys)
