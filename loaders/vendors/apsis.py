"""APSIS One email event export: gzip CSV files pulled through the export API, landed as
`apsis-email-events-<start>_<end>.csv.gz` (window bounds in UTC, `YYYYmmddTHHMMSSZ`).

[doc] Default columns below, then one column per requested attribute and tag, headed like
`gender (version_id: 491874)` (spaces, colons, parentheses: kept as is); a tag's value is the constant `TAG`.
`correlation_id` repeats when the source retried; `event_time` is a ms epoch where 0 means unknown (fall back to
`server_time`). Overlapping windows give exact duplicates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .apsis_protocol import STAMP, utc
from .base import Layout, Route

VENDOR = "apsis"
TABLE = "apsis__email_events"
DEFAULT_COLUMNS = [
    "activity_id", "split_id", "activity_name", "split_activity_name", "sender", "subject", "address",
    "variation", "type", "correlation_id", "event_time", "server_time", "device", "location", "link_id",
    "link_url", "link_title", "bounce_code", "unsubscribe_topic", "abuse_section",
]  # fmt: skip
EVENT_TYPES = {
    "SENT": "sent",
    "DELIVERED": "delivered",
    "OPENED": "opened",
    "CLICKED": "clicked",
    "BOUNCED": "bounced",
    "UNSUBSCRIBED": "unsubscribed",
    "ABUSE": "spam_reported",
}
TAG_VALUE = "TAG"
_NAME = re.compile(r"^apsis-email-events-(\d{8}T\d{6}Z)_(\d{8}T\d{6}Z)\.csv(\.gz)?$")
_HEADER = re.compile(r"^(?P<name>.+) \(version_id: (?P<version>\d+)\)$")


def export_file_name(start: datetime, end: datetime) -> str:
    return f"apsis-email-events-{utc(start):{STAMP}}_{utc(end):{STAMP}}.csv.gz"


def parse_export_file_name(name: str) -> tuple[datetime, datetime] | None:
    match = _NAME.match(name)
    if not match:
        return None
    start, end = (datetime.strptime(g, STAMP).replace(tzinfo=UTC) for g in match.group(1, 2))
    return start, end


def field_header(name: str, version_id: int) -> str:
    """`gender (version_id: 491874)`: the export's header for an attribute or a tag."""
    return f"{name} (version_id: {version_id})"


def parse_field_header(header: str) -> tuple[str, int] | None:
    match = _HEADER.match(header)
    return (match.group("name"), int(match.group("version"))) if match else None


def bounce_class(code: int) -> str | None:
    """[doc] 2xxx invalid address: hard; 1xxx, 3xxx, 4xxx, 9999: soft; 5xxx informational: None."""
    if 2000 <= code < 3000:
        return "hard"
    if 1000 <= code < 2000 or 3000 <= code < 5000 or code == 9999:
        return "soft"
    return None


# [doc] default columns every export has; without them a row has no key, no kind, no contact or no time
REQUIRED = ("correlation_id", "type", "address", "server_time")


class ApsisLayout(Layout):
    """Every `apsis-email-events-<start>_<end>.csv[.gz]` under the feed -> `apsis__email_events`."""

    vendor = VENDOR
    required = {TABLE: REQUIRED}

    def unclaimed(self, relpath: str) -> str:
        return "not an export file name: apsis-email-events-<start>_<end>.csv[.gz] (UTC, YYYYmmddTHHMMSSZ)"

    def route(self, relpath: str) -> Route | None:
        name = relpath.rsplit("/", 1)[-1]
        if parse_export_file_name(name) is None:
            return None
        return Route(table=TABLE, fmt="csv")
