"""A vendor layout turns a file's path into where it lands: raw table, partition values, format.

The export side uses the same modules to write files, so each vendor's layout is defined once.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("csv", "tsv", "json", "parquet")
_PARTITION = re.compile(r"^([A-Za-z_]+)=([^/=]*)$")


@dataclass(frozen=True)
class Route:
    """Where one file goes. `kind` is 'data', or 'control' for side files a vendor sends with its data."""

    table: str
    fmt: str | None  # None: detect from the content
    partitions: dict[str, str] = field(default_factory=dict)
    kind: str = "data"


def hive_partitions(relpath: str) -> dict[str, str]:
    """`a=1/b=2/file` -> {'a': '1', 'b': '2'}; values stay strings (client_id=0000 is not 0)."""
    parts: dict[str, str] = {}
    for segment in relpath.split("/")[:-1]:
        match = _PARTITION.match(segment)
        if match:
            parts[match.group(1).lower()] = match.group(2)
    return parts


def format_from_name(name: str) -> str | None:
    lower = name.lower()
    for suffix in (".gz", ".gzip"):
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".tsv") or lower.endswith(".tab"):
        return "tsv"
    if lower.endswith((".json", ".jsonl", ".ndjson")):
        return "json"
    if lower.endswith(".parquet"):
        return "parquet"
    return None


@dataclass(frozen=True)
class Sniffed:
    fmt: str | None
    gzip: bool


def sniff(path: Path) -> Sniffed:
    """Decide format and compression from the bytes, not the name: gzip by magic, then the first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PAR1"):
        return Sniffed("parquet", False)
    is_gzip = head[:2] == b"\x1f\x8b"
    try:
        if is_gzip:
            with gzip.open(path, "rb") as fh:
                sample = fh.read(65536)
        else:
            with open(path, "rb") as fh:
                sample = fh.read(65536)
    except (OSError, EOFError):
        return Sniffed(None, is_gzip)
    text = sample.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return Sniffed(None, is_gzip)
    if text[:1] in (b"{", b"["):
        return Sniffed("json", is_gzip)
    return Sniffed(delimited_format(text.split(b"\n", 1)[0]), is_gzip)


def delimited_format(header: bytes) -> str:
    """'tsv' or 'csv' from a header line: the delimiter that splits it more often outside double quotes.

    The one place where a delimited file's delimiter is decided from its content (a vendor may name a TSV
    file `.csv`); a single-column header has neither and reads as CSV.
    """
    outside = header.split(b'"')[::2]  # the parts between quoted fields
    tabs = sum(part.count(b"\t") for part in outside)
    commas = sum(part.count(b",") for part in outside)
    return "tsv" if tabs > commas else "csv"


@dataclass(frozen=True)
class Vouched:
    """One data file a control file vouches for: its name, its row count, and lineage values that the
    rows of that file carry into raw (column name -> value)."""

    file: str
    rows: int
    lineage: dict[str, str | None] = field(default_factory=dict)


class Layout:
    """Base class: a vendor module subclasses it and fills in `route` (and `unclaimed` to say why not)."""

    vendor: str = ""
    # True: the core loads a data file only once a control file (kind 'control') vouches for it, and checks
    # the rows it reads against the control file's count; the layout then implements `parse_control`.
    control_gated: bool = False
    # raw table -> the columns (lower case) a file of that table cannot lack; a file without one of them is
    # quarantined, not loaded (its rows could not be placed: no key, no time, no kind of event)
    required: Mapping[str, tuple[str, ...]] = {}

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = options or {}

    def route(self, relpath: str) -> Route | None:
        raise NotImplementedError

    def unclaimed(self, relpath: str) -> str:
        """Why `route` gives None for this path: one line, for the ledger and the load summary."""
        return f"not in the {self.vendor} layout"

    def table_for(self, route: Route, fmt: str | None) -> str:
        """The raw table once the content's format is known (a vendor may keep formats apart)."""
        return route.table

    def required_columns(self, table: str) -> tuple[str, ...]:
        """The columns a file landing in `table` cannot lack (see `required`)."""
        return self.required.get(table, ())

    def parse_control(self, data: bytes) -> list[Vouched]:
        """The data files a control file vouches for (control-gated layouts only); ValueError if unreadable."""
        raise NotImplementedError(f"{self.vendor}: no control files in this layout")
