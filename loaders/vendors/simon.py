"""Simon Data flow data feeds: `<path>/<year>/<month>/<day>/<client>_<flow>_<operation>_<random>_<YmdHMS>.<ext>`.

[doc] CSV or JSONL (TSV [guess]) chosen per feed; a control file `control_<data file name>.json` per data file
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

from .base import Layout, Route

VENDOR = "simon"
TABLE = "simon__flow_events"
COLUMNS = ["identifier", "timestamp", "segment_name", "flow_name", "action", "variant", "operation"]
OPERATIONS = ("add", "remove")
OPERATION_EVENT_TYPE = {"add": "segment_added", "remove": "segment_removed"}
EXTENSIONS = {"csv": "csv", "tsv": "tsv", "jsonl": "json"}  # extension -> loader format
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
CONTROL_PREFIX = "control_"

_DATA_NAME = re.compile(
    r"^(?P<client>[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*?)_(?P<flow>[A-Za-z0-9-]+)_(?P<operation>[a-z]+)"
    r"_(?P<random>[A-Za-z0-9]+)_(?P<stamp>\d{14})\.(?P<ext>csv|tsv|jsonl)$"
)
_DAY = re.compile(r"^\d{4}$|^\d{2}$")


def folder_for(path: str, day: date) -> str:
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    return f"{prefix}{day:%Y}/{day:%m}/{day:%d}"


def data_file_name(client: str, flow: str, operation: str, random: str, at: datetime, ext: str) -> str:
    if ext not in EXTENSIONS:
        raise ValueError(f"Simon data files are .csv, .tsv or .jsonl, not .{ext}")
    return f"{client}_{flow}_{operation}_{random}_{at:%Y%m%d%H%M%S}.{ext}"


def control_file_name(data_file: str) -> str:
    return f"{CONTROL_PREFIX}{data_file}.json"


def data_name_of_control(control_file: str) -> str | None:
    """`control_<data>.json` -> `<data>`; None when the name is not a control file's."""
    if not (control_file.startswith(CONTROL_PREFIX) and control_file.endswith(".json")):
        return None
    return control_file[len(CONTROL_PREFIX) : -len(".json")]


def parse_data_name(name: str) -> dict[str, str] | None:
    match = _DATA_NAME.match(name)
    return match.groupdict() if match else None


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
                flow_id=str(item.get("flow_ID", item.get("flow_id", ""))),
                flow_name=str(item.get("flow_name") or ""),
                file_type=str(item.get("file_type") or ""),
            )
        )
    return entries


class SimonLayout(Layout):
    """Data files -> `simon__flow_events` (format by extension, confirmed by sniffing); control files -> kind
    'control' (fmt None). Partitions: year, month, day of the folder."""

    vendor = VENDOR
    control_gated = True  # the core loads a data file only with its control file, and checks `rows`

    @staticmethod
    def parse_control(data: bytes) -> list[ControlEntry]:
        return parse_control(data)

    def route(self, relpath: str) -> Route | None:
        segments = relpath.split("/")
        name = segments[-1]
        folders = segments[:-1]
        if len(folders) < 3 or not all(_DAY.match(s) for s in folders[-3:]) or len(folders[-3]) != 4:
            return None
        parts = {"year": folders[-3], "month": folders[-2], "day": folders[-1]}
        if data_name_of_control(name) is not None:
            return Route(table=TABLE, fmt=None, partitions=parts, kind="control")
        parsed = parse_data_name(name)
        if parsed is None:
            return None
        return Route(table=TABLE, fmt=EXTENSIONS[parsed["ext"]], partitions=parts)
