"""Encharge Activity Stream as landed by our receiver (`feeds receive`): NDJSON files
`dt=<YYYY-MM-DD>/encharge-events-<YYYYmmddTHHMMSS>-<8 hex>.ndjson` (dt and stamp: when the file was opened, UTC).

[doc] One JSON object per event: event, type, properties, user {id, email}, timestamp (ms epoch). No event id:
duplicates (the vendor's retries, our at-least-once) are found by a hash of the whole event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .base import Layout, Route

VENDOR = "encharge"
TABLE = "encharge__events"
TOP_LEVEL_KEYS = ["event", "type", "properties", "user", "timestamp"]
STAMP = "%Y%m%dT%H%M%S"
_TOKEN = re.compile(r"^[0-9a-f]{8}$")
_NAME = re.compile(r"^encharge-events-(\d{8}T\d{6})-([0-9a-f]{8})\.ndjson(\.gz)?$")
_DT = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")

# Fixed names -> (type, canonical event_type); names carrying a value are matched by prefix in PATTERNS.
EVENTS = {
    "newUser": ("newUser", "contact_created"),
    "updatedUser": ("updatedUser", "contact_updated"),
    "unsubscribedUser": ("unsubscribedUser", "unsubscribed"),
    "page-visited": ("page", "page_visited"),
    "form-submitted": ("form", "form_submitted"),  # [guess] the seed gives no type for it
    "sms-sent": ("sms", "sent"),
    "sms-failed": ("sms", "failed"),
    "email-delivered": ("email", "delivered"),
    "email-open": ("email", "opened"),
    "email-click": ("email", "clicked"),
    "email-reply": ("email", "replied"),
    "email-blocked": ("email", "bounced"),  # soft
    "email-bounce": ("email", "bounced"),  # hard
    "email-dropped": ("email", "dropped"),
    "email-spamreport": ("email", "spam_reported"),
}
PATTERNS = [  # (prefix, type, canonical event_type)
    ("added-tag-", "tag", "tag_added"),
    ("removed-tag-", "tag", "tag_removed"),
    ("performed-step:", "step", "flow_step_performed"),
    ("errored-step:", "step", "flow_step_errored"),
    ("newObject-", "object", "object_changed"),
    ("updatedObject-", "object", "object_changed"),
    ("deletedObject-", "object", "object_changed"),
    ("newAssociation-", "association", "object_changed"),
    ("deletedAssociation-", "association", "object_changed"),
]


def event_type_of(event: str) -> str | None:
    if event in EVENTS:
        return EVENTS[event][1]
    for prefix, _, canonical in PATTERNS:
        if event.startswith(prefix) and len(event) > len(prefix):
            return canonical
    return None


def landing_path(now: datetime, token: str) -> str:
    """Where the receiver lands a file opened at `now` (UTC) with an 8-hex `token`."""
    if not _TOKEN.match(token):
        raise ValueError(f"landing token must be 8 lower-case hex characters, got {token!r}")
    now = now.astimezone(UTC) if now.tzinfo else now
    return f"dt={now:%Y-%m-%d}/encharge-events-{now:{STAMP}}-{token}.ndjson"


REQUIRED = ("event", "timestamp")  # [doc] what happened and when; the rest may be empty


class EnchargeLayout(Layout):
    vendor = VENDOR
    required = {TABLE: REQUIRED}

    def unclaimed(self, relpath: str) -> str:
        return "not a landed file: dt=<YYYY-MM-DD>/encharge-events-<YYYYmmddTHHMMSS>-<8 hex>.ndjson[.gz]"

    def route(self, relpath: str) -> Route | None:
        segments = relpath.split("/")
        if len(segments) < 2 or not _NAME.match(segments[-1]):
            return None
        dt = _DT.match(segments[-2])
        if not dt:
            return None
        return Route(table=TABLE, fmt="json", partitions={"dt": dt.group(1)})
