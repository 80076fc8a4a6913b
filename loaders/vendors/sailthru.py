"""Sailthru (Marigold Engage) Connect / Event Stream: CSV tables in `dt=`/`client_id=` folders.

[doc] Event tables: `<table>/dt=<yyyymmdd>/client_id=<id>/<file>.csv`; lookups (full refresh):
`<table>/dt=<yyyymmdd>/hr=<hh>/client_id=<id>/<file>.csv`, which the seed prints without the slash
(`hr=<hh>client_id=<id>/`): both are accepted. `client_id=0000` is a string and stays `0000`.
[doc] event_id (uuid7) on every event row since 2024-03-20; older files lack the column.
[guess] the raw headers are `email_md5`/`email_sha256`; files are plain (not gzipped) CSV.
"""

from __future__ import annotations

import re
from datetime import date

from .base import Layout, Route, format_from_name

VENDOR = "sailthru"
CLIENT_ID = "0000"
EVENT_ID_SINCE = date(2024, 3, 20)  # [doc] rows before this day carry no event_id

# The three shapes of event_time [doc], as DuckDB strftime patterns (%g: milliseconds).
TIME_SHAPES = {
    "seconds": "%Y-%m-%d %H:%M:%S",  # 2018-01-02 09:24:25
    "millis": "%Y-%m-%d %H:%M:%S.%g",  # 2024-02-14 21:42:15.520
    "iso": "%Y-%m-%dT%H:%M:%S.%gZ",  # 2024-02-14T21:42:15.520Z
}

_SEND = ["message_id", "campaign_id", "client_id", "email_md5", "email_sha256", "engagement", "event_id",
         "event_time", "list_id", "list_name", "profile_id", "send_time", "signup_time", "subject",
         "template_id"]  # fmt: skip
_OPEN = ["message_id", "browser", "campaign_id", "client_id", "count", "email_md5", "email_sha256",
         "engagement", "event_id", "event_time", "ip", "ip_type", "is_real_open", "list_id", "profile_id",
         "send_time", "signup_time", "user_agent"]  # fmt: skip
_CLICK = [c for c in _OPEN if c != "is_real_open"] + ["index", "url", "url_count", "is_real_click"]
_BOUNCE = ["message_id", "campaign_id", "client_id", "email_md5", "email_sha256", "engagement", "event_id",
           "event_time", "list_id", "message_type", "profile_id", "reason_log", "send_time",
           "signup_time"]  # fmt: skip
_UNSUB = [c for c in _BOUNCE if c != "reason_log"]


def _triggered(columns: list[str]) -> list[str]:
    """Triggered (transactional / lifecycle) tables: template_id, flow_id, is_basic instead of campaign/list."""
    out = [c for c in columns if c not in ("campaign_id", "list_id", "list_name", "template_id")]
    return out + ["template_id", "flow_id", "is_basic"]


EVENT_COLUMNS: dict[str, list[str]] = {
    "campaign_send": _SEND,
    "campaign_open": _OPEN,
    "campaign_click": _CLICK,
    "campaign_bounce": _BOUNCE,
    "campaign_unsubscribe": _UNSUB,
    "triggered_send": _triggered(_SEND),
    "triggered_open": _triggered(_OPEN),
    "triggered_click": _triggered(_CLICK),
    "triggered_bounce": _triggered(_BOUNCE),
    "triggered_unsubscribe": _triggered(_UNSUB),
}
EMAIL_EVENT_TABLES = list(EVENT_COLUMNS)
MOBILE_TABLE = "mobile_notifications"
MOBILE_COLUMNS = ["client_id", "app_id", "event_id", "event_time", "type", "status", "platform", "profile_id",
                  "device_id", "user_id", "title"]  # fmt: skip
LOOKUP_COLUMNS: dict[str, list[str]] = {
    "campaign": [
        "campaign_id",
        "client_id",
        "create_time",
        "name",
        "subject",
        "from_name",
        "from_email",
        "list_name",
        "schedule_time",
        "start_time",
        "template_id",
        "label_ids",
    ],  # fmt: skip
    "template": [
        "template_id",
        "client_id",
        "name",
        "subject",
        "create_time",
        "modify_time",
        "is_basic",
        "label_ids",
    ],  # fmt: skip
    "label": ["label_id", "name", "client_id"],
    "lifecycle_optimizer_flow": ["flow_id", "client_id", "name", "version", "create_time", "modify_time"],
}
LOOKUP_TABLES = list(LOOKUP_COLUMNS)
# Columns that appear mid-stream in the exporter's drift quirk (forward compatibility [doc]).
DRIFT_COLUMNS = {"campaign_open": "geo_country", "campaign_click": "geo_country",
                 "triggered_open": "geo_country", "triggered_click": "geo_country"}  # fmt: skip

# canonical event_type of each source table (mobile: by status)
_ACTION_TYPE = {"send": "sent", "open": "opened", "click": "clicked", "bounce": "bounced",
                "unsubscribe": "unsubscribed"}  # fmt: skip
EVENT_TYPE = {t: _ACTION_TYPE[t.split("_", 1)[1]] for t in EMAIL_EVENT_TABLES}
MOBILE_STATUS_EVENT_TYPE = {"success": "sent", "rejected": "dropped", "uninstalled": "bounced"}


def raw_table(table: str) -> str:
    return f"{VENDOR}__{table}"


def event_path(table: str, day: date, file: str, client_id: str = CLIENT_ID) -> str:
    return f"{table}/dt={day:%Y%m%d}/client_id={client_id}/{file}"


def lookup_path(
    table: str, day: date, hour: int, file: str, client_id: str = CLIENT_ID, slash: bool = True
) -> str:
    sep = "/" if slash else ""
    return f"{table}/dt={day:%Y%m%d}/hr={hour:02d}{sep}client_id={client_id}/{file}"


def part_file_name(token: str) -> str:
    """`part-1ae5f73f.csv` as in the seed's example; token is 8 hex characters."""
    return f"part-{token}.csv"


_TABLE = re.compile(r"^[a-z][a-z0-9_]*$")
_DT = re.compile(r"^dt=(\d{8})$")
_HR = re.compile(r"^hr=(\d{2})$")
_CLIENT = re.compile(r"^client_id=([^/=]+)$")
_HR_CLIENT = re.compile(r"^hr=(\d{2})client_id=([^/=]+)$")  # the seed's printed form, no slash


# The columns a file of a known table cannot lack: its key and, for events, its time [doc]
REQUIRED: dict[str, tuple[str, ...]] = {
    **{raw_table(t): ("message_id", "event_time") for t in EMAIL_EVENT_TABLES},
    raw_table(MOBILE_TABLE): ("event_time", "status"),
    raw_table("campaign"): ("campaign_id",),
    raw_table("template"): ("template_id",),
    raw_table("label"): ("label_id",),
    raw_table("lifecycle_optimizer_flow"): ("flow_id",),
}


class SailthruLayout(Layout):
    """`[prefix/]<table>/dt=<yyyymmdd>/[hr=<hh>/]client_id=<id>/<file>.csv` -> `sailthru__<table>`.

    A table name not known today still routes (to `sailthru__<name>`): Sailthru adds tables over time and
    nothing should be silently left behind.
    """

    vendor = VENDOR
    required = REQUIRED

    def route(self, relpath: str) -> Route | None:
        segments = relpath.split("/")
        name = segments[-1]
        if format_from_name(name) != "csv" or name.startswith((".", "_")):
            return None
        folders = segments[:-1]
        for i, seg in enumerate(folders):
            dt = _DT.match(seg)
            if not dt or i == 0 or not _TABLE.match(folders[i - 1]):
                continue
            rest = folders[i + 1 :]
            parts = {"dt": dt.group(1)}
            if len(rest) == 1 and (m := _CLIENT.match(rest[0])):
                parts["client_id"] = m.group(1)
            elif len(rest) == 1 and (m := _HR_CLIENT.match(rest[0])):
                parts["hr"], parts["client_id"] = m.group(1), m.group(2)
            elif len(rest) == 2 and (h := _HR.match(rest[0])) and (m := _CLIENT.match(rest[1])):
                parts["hr"], parts["client_id"] = h.group(1), m.group(1)
            else:
                return None
            return Route(table=raw_table(folders[i - 1]), fmt="csv", partitions=parts)
        return None

    def unclaimed(self, relpath: str) -> str:
        name = relpath.rsplit("/", 1)[-1]
        if format_from_name(name) != "csv" or name.startswith((".", "_")):
            return (
                "not a .csv data file (Sailthru sends part-<id>.csv; markers and hidden files hold no rows)"
            )
        return "not under <table>/dt=<yyyymmdd>/[hr=<hh>/]client_id=<id>/, where Sailthru writes its files"
