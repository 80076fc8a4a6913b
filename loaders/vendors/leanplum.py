"""Leanplum Data Feed: `[subfolder/]dt=<date>/<file>`, JSON (one event per line, maybe gzip) or Parquet.

[doc] dt= partition folders, optional subfolder, duplicates share event_id, events near midnight may sit in
the neighbouring day's folder. [guess] the dt format (2024-05-01 or 20240501): both are accepted; JSON is
newline-delimited and may be gzipped: detected by magic bytes, not the name.
"""

from __future__ import annotations

from datetime import date

from .base import Layout, Route, format_from_name, hive_partitions

VENDOR = "leanplum"
EVENTS_TABLE = "leanplum__events"  # JSON: top-level keys as VARCHAR, `properties` as JSON text
PARQUET_TABLE = "leanplum__events_parquet"  # Parquet keeps its types: structs and maps

# The seed's event names; the export side writes them and the canonical seed maps them.
EVENT_NAMES = {
    "campaign": [
        "Campaign Triggered",
        "Campaign Enter",
        "Campaign Convert",
        "Campaign Exit",
        "Campaign Forced Exit",
    ],
    "email": [
        "Email Sent",
        "Email Delivered",
        "Email Deferred",
        "Email Bounce",
        "Email Open",
        "Email Clicked",
        "Email Marked as Spam",
        "Email Unsubscribed",
        "Email Dropped",
    ],
    "push": ["Push Notification Sent", "Push Notification Opened", "Push Notification Bounced"],
    "app_inbox": ["App Inbox Sent", "App Inbox Opened"],
    "in_app": [
        "In-App Message Viewed",
        "In-App Message Accept",
        "In-App Message Submit",
        "In-App Message Select",
    ],
    "webhook": ["Webhook Sent"],
    "ab_test": ["A/B Test Impression"],
}


# Seed event title -> (canonical event_type, channel); the JSON `name` is "(Leanplum) <title>".
CANONICAL = {
    "Campaign Triggered": ("campaign_triggered", None),
    "Campaign Enter": ("campaign_entered", None),
    "Campaign Convert": ("campaign_converted", None),
    # "Fires when a user triggers the conversion event for a single-conversion campaign": a conversion
    "Campaign Exit": ("campaign_converted", None),
    "Campaign Forced Exit": ("campaign_exited", None),
    "Email Sent": ("sent", "email"),
    "Email Delivered": ("delivered", "email"),
    "Email Deferred": ("deferred", "email"),
    "Email Bounce": ("bounced", "email"),
    "Email Open": ("opened", "email"),
    "Email Clicked": ("clicked", "email"),
    "Email Marked as Spam": ("spam_reported", "email"),
    "Email Unsubscribed": ("unsubscribed", "email"),
    "Email Dropped": ("dropped", "email"),
    "Push Notification Sent": ("sent", "push"),
    "Push Notification Opened": ("opened", "push"),
    "Push Notification Bounced": ("bounced", "push"),
    "App Inbox Sent": ("sent", "app_inbox"),
    "App Inbox Opened": ("opened", "app_inbox"),
    "In-App Message Viewed": ("viewed", "in_app"),
    "In-App Message Accept": ("interacted", "in_app"),
    "In-App Message Submit": ("interacted", "in_app"),
    "In-App Message Select": ("interacted", "in_app"),
    "Webhook Sent": ("sent", "webhook"),
    "A/B Test Impression": ("ab_test_impression", None),
}
NAME_PREFIX = "(Leanplum) "
# The seed's channel names, as in `properties.channel` / `Message.channel`
CHANNELS = {"email": "Email", "push": "Push Notification", "in_app": "In App Message",
            "app_inbox": "App Inbox", "webhook": "Webhook"}  # fmt: skip
JSON_FILE_EVENTS = 50_000  # [doc] a new JSON file each hour or ~50,000 events
PARQUET_FILE_EVENTS = 2_000_000  # [doc] a new Parquet file each hour or ~2 M events
PARQUET_SCHEMA_VERSION = 1


def folder_for(day: date, subfolder: str = "", dt_format: str = "%Y-%m-%d") -> str:
    prefix = f"{subfolder.strip('/')}/" if subfolder else ""
    return f"{prefix}dt={day.strftime(dt_format)}"


def file_name(day: date, seq: int, fmt: str = "json", gzip: bool = False) -> str:
    """`leanplum-events-<yyyymmdd>-<seq>.json[.gz]|.parquet`; the exporter uses seq = hour * 100 + chunk."""
    ext = {"json": "json", "parquet": "parquet"}[fmt]
    return f"leanplum-events-{day:%Y%m%d}-{seq:05d}.{ext}{'.gz' if gzip else ''}"


# [doc] every event record has event_id (the dedupe key) and name (its type); JSON puts the time and the
# user in `properties`, Parquet in top-level `time` and `user_id`
REQUIRED: dict[str, tuple[str, ...]] = {
    EVENTS_TABLE: ("event_id", "name", "properties"),
    PARQUET_TABLE: ("event_id", "name", "time"),
}


def _marker(name: str) -> bool:
    """Hadoop and Spark side files (`_SUCCESS`, `_committed_x`, `.part-0.crc`) hold no events."""
    return name.startswith(("_", "."))


class LeanplumLayout(Layout):
    vendor = VENDOR
    required = REQUIRED

    def route(self, relpath: str) -> Route | None:
        parts = hive_partitions(relpath)
        if "dt" not in parts:
            return None
        name = relpath.rsplit("/", 1)[-1]
        fmt = format_from_name(name)
        if fmt not in (None, "json", "parquet") or _marker(name):
            return None
        return Route(table=EVENTS_TABLE, fmt=fmt, partitions={"dt": parts["dt"]})

    def table_for(self, route: Route, fmt: str | None) -> str:
        return PARQUET_TABLE if fmt == "parquet" else route.table

    def unclaimed(self, relpath: str) -> str:
        if "dt" not in hive_partitions(relpath):
            return "not in a dt=<date>/ folder, where Leanplum writes its files"
        name = relpath.rsplit("/", 1)[-1]
        if _marker(name):
            return "a marker or hidden file (name starts with '_' or '.'), not events"
        return f"a {format_from_name(name)} file: Leanplum sends JSON or Parquet"
