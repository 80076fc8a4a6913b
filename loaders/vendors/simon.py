"""Simon Data flow data feeds: `<path>/<year>/<month>/<day>/<client>_<flow>_<operation>_<random>_<YmdHMS>.<ext>`.

[doc] CSV, TSV or JSONL chosen per feed, named `.csv` or `.jsonl` (a TSV file is a `.csv`: its delimiter is
read from its content); folders padded or not (`2024/3/7`); a control file `control_<data file name>.json` per data file
holding the data file's row count, which a loader checks before loading it; the vendor may later send one
control file listing many data files. Columns: identifier (email, or its SHA-256 hex with identity hashing),
timestamp (`2017-03-14 17:54:13`, time of export), segment_name, flow_name, action, variant, operation
(`add`|`remove`), then custom-context columns. Re-sent files give exact duplicates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from .base import Layout, Route, Vouched

VENDOR = "simon"
TABLE = "simon__flow_events"
COLUMNS = ["identifier", "timestamp", "segment_name", "flow_name", "action", "variant", "operation"]
# [doc] identifier, timestamp and operation: without them a row has no contact, no time or no meaning
REQUIRED = ("identifier", "timestamp", "operation")
OPERATIONS = ("add", "remove")
OPERATION_EVENT_TYPE = {"add": "segment_added", "remove": "segment_removed"}
# extension -> loader format; None: delimited text whose delimiter the content decides ([doc] the document
# offers TSV but names only `.csv` and `.jsonl`, so a TSV file comes as `.csv`). `.tsv` is accepted too.
EXTENSIONS: dict[str, str | None] = {"csv": None, "tsv": None, "jsonl": "json"}
# the extension a file of each chosen data format carries [doc]: TSV under `.csv`
EXTENSION_OF_FORMAT = {"csv": "csv", "tsv": "csv", "jsonl": "jsonl"}
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
CONTROL_PREFIX = "control_"
LINEAGE = ("_control_flow_id", "_control_flow_name")  # the control file's flow_ID and flow_name, per row

# [doc] `client_flow_operation_random_YmdHMS.<ext>`: flow names and random parts may hold any character but
# `/` (spaces, underscores), so only the stamp and the extension anchor the name; the rest is split
# best-effort (the operation is the last `_add_`/`_remove_`, when there is one).
_DATA_NAME = re.compile(r"^(?P<head>[^/]+)_(?P<stamp>\d{14})\.(?P<ext>csv|tsv|jsonl)$", re.IGNORECASE)
_HEAD = re.compile(r"^(?P<client>[^_]+)_(?P<flow>.+)_(?P<operation>add|remove)_(?P<random>.+)$")
_HEAD_ANY = re.compile(r"^(?P<client>[^_]+)_(?P<flow>.+)_(?P<operation>[^_]+)_(?P<random>[^_]+)$")
_YEAR, _NUMBER = re.compile(r"^\d{4}$"), re.compile(r"^\d{1,2}$")


def folder_for(path: str, day: date, padded: bool = True) -> str:
    """`<path>/<year>/<month>/<day>` [doc]; the document does not say whether month and day are padded."""
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    if padded:
        return f"{prefix}{day:%Y}/{day:%m}/{day:%d}"
    return f"{prefix}{day.year}/{day.month}/{day.day}"


def day_of_folders(folders: list[str]) -> date | None:
    """The day of `.../<year>/<month>/<day>` (padded or not), or None when the last three folders are not one."""
    if len(folders) < 3:
        return None
    year, month, day = folders[-3:]
    if not (_YEAR.match(year) and _NUMBER.match(month) and _NUMBER.match(day)):
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def data_file_name(client: str, flow: str, operation: str, random: str, at: datetime, ext: str) -> str:
    if ext not in EXTENSIONS:
        raise ValueError(f"Simon data files are .csv, .tsv or .jsonl, not .{ext}")
    if any("/" in part for part in (client, flow, operation, random)):
        raise ValueError("a Simon file name part cannot hold '/'")
    return f"{client}_{flow}_{operation}_{random}_{at:%Y%m%d%H%M%S}.{ext}"


def control_file_name(data_file: str) -> str:
    return f"{CONTROL_PREFIX}{data_file}.json"


def data_name_of_control(control_file: str) -> str | None:
    """`control_<data>.json` -> `<data>`; None when the name is not a control file's."""
    if not (control_file.startswith(CONTROL_PREFIX) and control_file.endswith(".json")):
        return None
    return control_file[len(CONTROL_PREFIX) : -len(".json")]


def parse_data_name(name: str) -> dict[str, str] | None:
    """client, flow, operation, random, stamp, ext of a data file name; None when it is not one."""
    match = _DATA_NAME.match(name)
    if not match:
        return None
    head = match.group("head")
    parts = _HEAD.match(head) or _HEAD_ANY.match(head)
    if parts is None:
        return None  # fewer than the four parts before the stamp
    return {**parts.groupdict(), "stamp": match.group("stamp"), "ext": match.group("ext").lower()}


@dataclass(frozen=True)
class ControlEntry:
    """One data file a control file vouches for."""

    file: str  # the data file's name (last segment of the `file` URL)
    url: str  # the `file` value as sent: the data file's full URL
    bucket: str
    path: str
    rows: int
    flow_id: str
    flow_name: str
    file_type: str

    def vouched(self) -> Vouched:
        """What the loader needs: the file, its rows, and the flow it belongs to as lineage columns."""
        lineage = dict(zip(LINEAGE, (self.flow_id or None, self.flow_name or None), strict=True))
        return Vouched(self.file, self.rows, lineage)


class ControlFileError(ValueError):
    """A control file that cannot be trusted; the message says which key is wrong."""


def control_document(entries: list[ControlEntry]) -> dict:
    """The control file's JSON object for one or many data files [doc]."""
    return {
        "delta": True,
        "file_count": len(entries),
        "files": [
            {
                "bucket": e.bucket,
                "path": e.path,
                "file_type": e.file_type,
                "file": e.url,
                "rows": e.rows,
                "flow_ID": e.flow_id,
                "flow_name": e.flow_name,
            }
            for e in entries
        ],
    }


def parse_control(data: bytes) -> list[ControlEntry]:
    """Every data file listed by a control file (one today [doc], maybe many later)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlFileError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ControlFileError("expected an object with a 'files' list")
    entries = []
    for i, item in enumerate(doc["files"]):
        if not isinstance(item, dict):
            raise ControlFileError(f"files[{i}]: expected an object")
        url = item.get("file")
        rows = item.get("rows")
        if not isinstance(url, str) or not url:
            raise ControlFileError(f"files[{i}].file: missing")
        if isinstance(rows, str) and rows.strip().isdigit():
            rows = int(rows)
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise ControlFileError(f"files[{i}].rows: expected a row count, got {rows!r}")
        entries.append(
            ControlEntry(
                file=url.rstrip("/").rsplit("/", 1)[-1],
                url=url,
                bucket=str(item.get("bucket") or ""),
                path=str(item.get("path") or ""),
                rows=rows,
                flow_id=str(item.get("flow_ID", item.get("flow_id")) or ""),
                flow_name=str(item.get("flow_name") or ""),
                file_type=str(item.get("file_type") or ""),
            )
        )
    return entries


class SimonLayout(Layout):
    """Data files -> `simon__flow_events` (delimiter or JSON decided by the content); control files -> kind
    'control' (fmt None). Partitions: year, month, day of the folder, zero-padded whatever the folder's form."""

    vendor = VENDOR
    control_gated = True  # the core loads a data file only with its control file, and checks `rows`
    required = {TABLE: REQUIRED}

    def parse_control(self, data: bytes) -> list[Vouched]:
        return [entry.vouched() for entry in parse_control(data)]

    def route(self, relpath: str) -> Route | None:
        segments = relpath.split("/")
        name = segments[-1]
        day = day_of_folders(segments[:-1])
        if day is None:
            return None
        parts = {"year": f"{day:%Y}", "month": f"{day:%m}", "day": f"{day:%d}"}
        if data_name_of_control(name) is not None:
            return Route(table=TABLE, fmt=None, partitions=parts, kind="control")
        parsed = parse_data_name(name)
        if parsed is None:
            return None
        return Route(table=TABLE, fmt=EXTENSIONS[parsed["ext"]], partitions=parts)

    def unclaimed(self, relpath: str) -> str:
        segments = relpath.split("/")
        if day_of_folders(segments[:-1]) is None:
            return "not in a <path>/<year>/<month>/<day>/ folder, where Simon writes its files"
        return (
            "not a Simon file name: data files are <client>_<flow>_<operation>_<random>_<YmdHMS>.csv or "
            ".jsonl, control files control_<data file name>.json"
        )
