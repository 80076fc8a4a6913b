"""Ground truth of an export: what the mart must hold after dedupe, written to `truth/` beside the feeds.

Files (UTF-8, comma-separated, header row, LF line ends, sorted as stated):

`truth/events.csv` -- `vendor,event_type,event_date,events`, sorted by vendor, event_date, event_type.
    One row per vendor x canonical event_type x UTC date with the number of DISTINCT events (duplicates
    removed). An event's date is the UTC date of its occurred_at:
    - sailthru: `event_time` (all three shapes are UTC); mobile_notifications likewise.
    - simon: `timestamp` (time of export, UTC).
    - apsis: `event_time` (ms epoch), or `server_time` when event_time is 0 or a 1970 time (the document: "The
      dates in 1970 are possible when the event source specified the event time as 0").
    - encharge: `timestamp` (ms epoch).
    - leanplum: `properties.time` (JSON, `yyyy-MM-dd HH:mm:ss.SSS` UTC) / `time` (Parquet, ms epoch) -- NOT
      the `dt=` folder, which may be the neighbouring day.
    Canonical event_type per DESIGN.md's mapping: sailthru `<kind>_send/open/click/bounce/unsubscribe` ->
    sent/opened/clicked/bounced/unsubscribed (machine opens and clicks count too; they are flagged, not
    dropped), mobile status success/rejected/uninstalled -> sent/dropped/bounced; simon: the document's file
    holds "for each contact, one entry for the data feed and one for each applicable flow action", so the
    entry (empty action) is segment_added/segment_removed by its operation and a row with an action is
    flow_step_performed; apsis SENT/DELIVERED/OPENED/CLICKED/BOUNCED/UNSUBSCRIBED/ABUSE -> sent/delivered/
    opened/clicked/bounced/unsubscribed/spam_reported, except BOUNCED with a code in "5000-5999 Informational
    (out of office, auto reply etc.)" -> auto_replied; encharge as in `loaders/vendors/encharge.py`
    EVENTS/PATTERNS; leanplum by the document's headings in `loaders/vendors/leanplum.py` CANONICAL, where
    Campaign Exit ("Fires when a user triggers the conversion event for a single-conversion campaign") is
    campaign_converted and only Forced Exit campaign_exited. Leanplum names are written formatted from the
    channel and event type as the document says (`(Leanplum) Email Send`), so a consumer must map the
    structured fields, not the name.
    Distinct means, per vendor, after dedupe on:
    - sailthru email tables: `event_id` where present, else (table, message_id, event_time as a timestamp,
      url for clicks). mobile_notifications: `event_id` where present, else (device_id, event_time, type,
      status). The generated events are distinct under both keys, so either gives the same count.
    - simon: the whole row (every column of the data file; a column missing from a file is NULL).
    - apsis: (correlation_id, type).
    - encharge: the whole event (event, type, user.id, timestamp, properties).
    - leanplum: event_id (across files, formats and dt= folders).

`truth/contacts.csv` -- `contact_key`, sorted: the distinct contact keys over all those events.
    contact_key = lower-case hex sha256 of the trimmed, lower-cased e-mail address:
    - sailthru email tables: the `email_sha256` column as written (already that hash);
      mobile_notifications: `sailthru:<profile_id>` (the table carries no e-mail).
    - simon: `identifier` when it is 64 hex characters (identity hashing on: already that hash), else
      sha256 of the trimmed lower-cased identifier.
    - apsis: sha256 of the trimmed lower-cased `address` (some addresses are upper-case and padded).
    - encharge: sha256 of the trimmed lower-cased `user.email`.
    - leanplum: sha256 of the trimmed lower-cased `user_attributes['email']` when the Parquet row carries
      one, else `leanplum:<user_id>` (every JSON row; user_id is never empty in this fixture). A Leanplum user
      is in exactly one of the two apps and always or never has the e-mail attribute, so each person has one key.

`truth/campaigns.csv` -- `vendor,campaign_id,campaign_name`, sorted: each Sailthru campaign some `campaign` lookup
    snapshot listed, with its name. Lookups are hourly exports that need not list every campaign (the quirk
    `partial_lookup` leaves older campaigns out of the last one), so a campaign keeps the name of the newest
    snapshot that lists it.

`truth/raw_rows.csv` -- `raw_table,files,rows`: data rows written per raw table, duplicates included (what a
    complete `feeds load` holds in `raw.<raw_table>`); header lines and control files are not rows.

`truth/files.csv` -- `relpath,vendor,raw_table,kind,rows,arrives_at,note` per file (kind data|control|lookup;
    arrives_at: when the vendor would have delivered it, UTC ISO; note: quirks shaping the file), sorted by
    arrives_at, relpath. Replaying files in arrives_at order gives late and duplicate files in between.

`truth/summary.json` -- seed, arguments, quirks, totals per vendor (events, contacts, rows written).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from .files import Written
from .world import World


def truth_union(vendors: list[str]) -> str:
    return " union all ".join(f"select * from {v}_truth" for v in vendors)


def write_truth(
    world: World, vendors: list[str], files: list[Written], root: Path, args: dict[str, Any]
) -> dict:
    out = root / "truth"
    out.mkdir(parents=True, exist_ok=True)
    union = truth_union(vendors)
    events = world.execute(
        f"""select vendor, event_type, occurred_at::date as event_date, count(*) as events from ({union})
        group by all order by vendor, event_date, event_type"""
    ).fetchall()
    _csv(out / "events.csv", ["vendor", "event_type", "event_date", "events"],
         [(v, t, d.isoformat(), n) for v, t, d, n in events])  # fmt: skip
    contacts = world.execute(f"select distinct contact_key from ({union}) order by 1").fetchall()
    _csv(out / "contacts.csv", ["contact_key"], contacts)
    if "sailthru" in vendors:
        # every campaign some lookup snapshot listed, with its name: the newest row per key across snapshots
        last = world.end_at.replace(tzinfo=None) - timedelta(hours=6)
        campaigns = world.execute(
            "select campaign_id, name from st_messages where kind = 'campaign' and at_ms(create_ms) <= ?"
            " order by campaign_id",
            [last],
        ).fetchall()
        _csv(out / "campaigns.csv", ["vendor", "campaign_id", "campaign_name"],
             [("sailthru", c, n) for c, n in campaigns])  # fmt: skip
    per_vendor = {
        v: {"events": e, "contacts": c}
        for v, e, c in world.execute(
            f"select vendor, count(*), count(distinct contact_key) from ({union}) group by 1 order by 1"
        ).fetchall()
    }
    raw: dict[str, list[int]] = {}
    for f in files:
        if f.kind != "control" and f.raw_table:
            entry = raw.setdefault(f.raw_table, [0, 0])
            entry[0] += 1
            entry[1] += f.rows
    _csv(
        out / "raw_rows.csv", ["raw_table", "files", "rows"], [(t, n, r) for t, (n, r) in sorted(raw.items())]
    )
    ordered = sorted(files, key=lambda f: (f.arrives_at, f.relpath))
    _csv(out / "files.csv", ["relpath", "vendor", "raw_table", "kind", "rows", "arrives_at", "note"],
         [(f.relpath, f.vendor, f.raw_table or "", f.kind, f.rows, f.arrives_at.isoformat(), f.note)
          for f in ordered])  # fmt: skip
    for f in files:
        per_vendor.setdefault(f.vendor, {"events": 0, "contacts": 0}).setdefault("rows_written", 0)
        if f.kind != "control":
            per_vendor[f.vendor]["rows_written"] += f.rows
    summary = {
        **args,
        "events": sum(n for *_, n in events),
        "contacts": len(contacts),
        "vendors": per_vendor,
        "files": len(files),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return summary


def _csv(path: Path, header: list[str], rows) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def read_events(root: Path) -> dict[tuple[str, str, str], int]:
    """(vendor, event_type, event_date) -> events, from an export's truth/events.csv."""
    with open(root / "truth" / "events.csv", newline="", encoding="utf-8") as fh:
        return {(r["vendor"], r["event_type"], r["event_date"]): int(r["events"]) for r in csv.DictReader(fh)}


def read_contacts(root: Path) -> list[str]:
    with open(root / "truth" / "contacts.csv", newline="", encoding="utf-8") as fh:
        return [r["contact_key"] for r in csv.DictReader(fh)]
