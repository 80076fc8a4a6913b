"""A small hand-written feed for every vendor, with the quirks the mart must absorb, and the answers.

Used by the mart tests when the full export side is not needed: every file is written in the vendor's own
layout (the same vendor modules the loader routes with), loaded with `feeds load`, and modelled with dbt.
`EXPECTED` is what the mart must show, worked out by hand from the rows below.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import yaml

from loaders.vendors import simon


def sha(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


ANNA, BEN, CARL, DORA = "anna.berg@example.com", "ben.chen@example.org", "carl@example.net", "dora@example.se"


def _csv(path: Path, header: list[str], rows: list[list[object]], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data) if gz else data)


def _ndjson(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# ------------------------------------------------------------------------------------------- per day


# Day 2's Leanplum file holds a reject; its name carries a quote, as a vendor's file name may: the rejects
# model puts the names of files with rejects into its SQL as literals.
LEANPLUM_DAY_2 = "leanplum/dt=20240502/leanplum-events-20240502-00000 (o'clock).json"


def _leanplum(root: Path, day: int) -> None:
    def ev(eid: str, event: str, user: str, time: str, **props: object) -> dict:
        return {"event_id": eid, "name": f"(Leanplum) {event}",
                "properties": {"user_id": user, "device_id": f"dev-{user}", "time": time, **props}}  # fmt: skip

    if day == 1:
        _ndjson(root / "leanplum/dt=2024-05-01/leanplum-events-20240501-00000.json", [
            ev("L1", "Email Sent", "u1", "2024-05-01 09:00:00.000", message_id=11, channel="Email", campaign_id=5,
               campaign_name="Spring", name="Spring mail"),
            ev("L2", "Email Open", "u1", "2024-05-01 23:59:59.500", message_id=11, channel="Email", campaign_id=5),
        ])  # fmt: skip
    if day == 2:
        # L2 spilled into the next day's folder as well: one event
        _ndjson(root / LEANPLUM_DAY_2, [
            ev("L2", "Email Open", "u1", "2024-05-01 23:59:59.500", message_id=11, channel="Email", campaign_id=5),
            ev("L3", "Push Notification Opened", "u2", "2024-05-02 08:00:00.000", message_id=12, channel="Push"),
            ev("L4", "In-App Message Accept", "u2", "2024-05-02 09:00:00.000", message_id=13),
            # the name is formatted from channel and event type: the structured fields decide
            ev("L5", "Email Send", "u2", "2024-05-02 10:00:00.000", message_id=14, channel="Email",
               event_type="Send"),
            ev("L6", "Campaign Exit", "u2", "2024-05-02 11:00:00.000", campaign_id=5, event_type="Exit"),
            ev("L7", "Campaign Forced Exit", "u1", "2024-05-02 11:00:00.000", campaign_id=5, event_type="Forced Exit"),
            # an event no seed row maps: reported in the rejects model, not in the fact
            ev("L8", "Mystery Event", "u2", "2024-05-02 12:00:00.000"),
        ])  # fmt: skip


SEND = ["message_id", "campaign_id", "client_id", "email_md5", "email_sha256", "event_id", "event_time",
        "list_id", "profile_id", "subject"]  # fmt: skip
OPEN = ["message_id", "campaign_id", "client_id", "email_sha256", "event_id", "event_time", "is_real_open",
        "profile_id", "user_agent"]  # fmt: skip


def _sailthru(root: Path, day: int) -> None:
    st = root / "sailthru"
    if day == 1:
        _csv(st / "campaign_send/dt=20240501/client_id=0000/part-00000001.csv", SEND, [
            ["m1", "c100", "0000", "", sha(ANNA).upper(), "S1", "2024-05-01 10:00:00", "l1", "p-anna", "Hi"],
            ["m2", "c100", "0000", "", sha(BEN), "S2", "2024-05-01 10:00:00.250", "l1", "p-ben", "Hi"],
        ])  # fmt: skip
        # a file from before event_id existed: the column is absent; its catch-up copy repeats the row
        old = ["message_id", "campaign_id", "client_id", "email_sha256", "event_time", "profile_id"]
        for part in ("0000000a", "0000000b"):
            _csv(st / f"campaign_send/dt=20240301/client_id=0000/part-{part}.csv", old,
                 [["m9", "c099", "0000", sha(BEN), "2024-03-01T08:00:00.000Z", "p-ben"]])  # fmt: skip
        _csv(st / "campaign/dt=20240501/hr=00/client_id=0000/part-00000002.csv",
             ["campaign_id", "client_id", "name", "subject", "create_time"],
             [["c100", "0000", "Spring (draft)", "Hi", "2024-04-30 12:00:00"]])  # fmt: skip
    if day == 2:
        _csv(st / "campaign_open/dt=20240502/client_id=0000/part-00000003.csv", OPEN, [
            ["m1", "c100", "0000", sha(ANNA), "O1", "2024-05-02T07:00:00.000Z", "true", "p-anna", "Mail"],
            ["m2", "c100", "0000", sha(BEN), "O2", "2024-05-02 07:30:00", "false", "p-ben", "Scanner"],
        ])  # fmt: skip
        _csv(st / "campaign_bounce/dt=20240502/client_id=0000/part-00000004.csv",
             ["message_id", "campaign_id", "client_id", "email_sha256", "event_id", "event_time", "reason_log"],
             [["m3", "c100", "0000", sha(CARL), "B1", "2024-05-02 06:00:00", "550 5.1.1 user unknown"]])  # fmt: skip
        # lookup snapshot later the same day, in the seed's printed folder form (no slash before client_id)
        _csv(st / "campaign/dt=20240501/hr=05client_id=0000/part-00000005.csv",
             ["campaign_id", "client_id", "name", "subject", "create_time"],
             [["c100", "0000", "Spring", "Hi", "2024-04-30 12:00:00"]])  # fmt: skip
    if day == 3:
        # catch-up part repeating O1, and mobile rows arriving late (event day 1)
        _csv(st / "campaign_open/dt=20240503/client_id=0000/part-00000006.csv", OPEN,
             [["m1", "c100", "0000", sha(ANNA), "O1", "2024-05-02T07:00:00.000Z", "true", "p-anna", "Mail"]])  # fmt: skip
        _csv(st / "mobile_notifications/dt=20240503/client_id=0000/part-00000007.csv",
             ["client_id", "app_id", "event_id", "event_time", "type", "status", "platform", "profile_id",
              "device_id", "user_id"],
             [["0000", "app1", "M1", "2024-05-01 20:00:00", "notification", "success", "ios", "p-anna", "d1", "x1"],
              ["0000", "app1", "M2", "2024-05-01 21:00:00", "notification", "uninstalled", "android", "p-ben",
               "d2", "x2"]])  # fmt: skip


APSIS_HEADER = ["activity_id", "split_id", "activity_name", "split_activity_name", "sender", "subject", "address",
                "variation", "type", "correlation_id", "event_time", "server_time", "device", "location",
                "link_id", "link_url", "link_title", "bounce_code", "unsubscribe_topic", "abuse_section",
                "gender (version_id: 491874)", "vip (version_id: 77)"]  # fmt: skip


def _apsis_row(
    typ: str, corr: str, addr: str, event_time: int, server_time: int, **kw: object
) -> list[object]:
    row = {c: "" for c in APSIS_HEADER}
    row.update({"activity_id": "900", "split_id": "901", "activity_name": "May news", "type": typ,
                "split_activity_name": "A", "correlation_id": corr, "address": addr, "event_time": event_time,
                "server_time": server_time, "gender (version_id: 491874)": "f"}, **kw)  # fmt: skip
    return [row[c] for c in APSIS_HEADER]


def _apsis(root: Path, day: int) -> None:
    t = ms("2024-05-01T11:00:00")
    if day == 1:
        _csv(root / "apsis/apsis-email-events-20240501T000000Z_20240502T000000Z.csv.gz", APSIS_HEADER, [
            _apsis_row("SENT", "a1", f"  {ANNA.title()} ", t, t + 5),
            _apsis_row("SENT", "a1", ANNA, t, t + 9),  # the source retried: same correlation_id
            _apsis_row("OPENED", "a2", ANNA, 0, ms("2024-05-01T12:00:00"), location="SE-AB",
                       **{"vip (version_id: 77)": "TAG"}),
            _apsis_row("BOUNCED", "a3", CARL, t, t, bounce_code="2001"),
            _apsis_row("BOUNCED", "a4", DORA, t, t, bounce_code="5001"),  # out of office: auto_replied
            # a 1970 event_time (the source sent 0 plus an offset): server_time decides the day
            _apsis_row("CLICKED", "a6", DORA, 5000, ms("2024-05-01T14:00:00"), link_url="https://x.example/l"),
        ], gz=True)  # fmt: skip
    if day == 2:
        # an overlapping window: exact duplicates of a3 and a new unsubscribe
        _csv(root / "apsis/apsis-email-events-20240501T120000Z_20240502T120000Z.csv.gz", APSIS_HEADER, [
            _apsis_row("BOUNCED", "a3", CARL, t, t, bounce_code="2001"),
            _apsis_row("UNSUBSCRIBED", "a5", DORA, ms("2024-05-02T10:00:00"), ms("2024-05-02T10:00:01")),
        ], gz=True)  # fmt: skip


def _encharge(root: Path, day: int) -> None:
    def ev(event: str, typ: str, props: dict, email: str | None, ts: str) -> dict:
        user = {"id": "enc-" + (email or "anon").split("@")[0]}
        if email:
            user["email"] = email
        return {"event": event, "type": typ, "properties": props, "user": user, "timestamp": ms(ts)}

    open_ = ev("email-open", "email", {"emailId": 59969, "flowId": "48918", "flowName": "Welcome", "emailName": "W1"},
               ANNA, "2024-05-01T13:00:00")  # fmt: skip
    if day == 1:
        _ndjson(root / "encharge/dt=2024-05-01/encharge-events-20240501T130000-0000abcd.ndjson", [
            open_, open_,  # the vendor retried the POST
            ev("added-tag-vip", "tag", {"tag": "vip"}, ANNA, "2024-05-01T13:05:00"),
        ])  # fmt: skip
    if day == 3:
        _ndjson(root / "encharge/dt=2024-05-03/encharge-events-20240503T090000-0000abce.ndjson", [
            open_,  # a retry landing days later
            ev("performed-step:42", "step", {"stepId": 42, "flowId": "48918"}, BEN, "2024-05-03T09:00:00"),
            ev("unsubscribedUser", "unsubscribedUser", {}, BEN, "2024-05-03T09:30:00"),
            # a row with no usable time: lands in fct_engagement_event_rejects, the build passes
            {**ev("email-open", "email", {"emailId": 1}, BEN, "2024-05-03T09:40:00"), "timestamp": "not-a-time"},
        ])  # fmt: skip


def _simon(root: Path, day: int) -> None:
    if day != 2:
        return
    folder = root / "simon" / simon.folder_for("flows", datetime(2024, 5, 2).date())
    header = [
        "identifier",
        "timestamp",
        "segment_name",
        "flow_name",
        "action",
        "variant",
        "operation",
        "coupon",
    ]
    # the document: one entry per contact for the data feed (no action) and one per applicable flow action
    rows = [[ANNA, "2024-05-02 10:00:00", "VIP", "Welcome", "", "", "add", "X1"],
            [ANNA, "2024-05-02 10:00:00", "VIP", "Welcome", "Send Email", "", "add", "X1"],
            [sha(BEN), "2024-05-02 10:00:00", "VIP", "Welcome", "", "B", "remove", ""]]  # fmt: skip
    for random in ("r1", "r2"):  # the same file sent twice: exact duplicates
        name = simon.data_file_name("acme", "welcome", "add", random, datetime(2024, 5, 2, 10), "csv")
        _csv(folder / name, header, rows)
        entry = simon.ControlEntry(file=name, url=f"s3://b/flows/{name}", bucket="b", path="flows",
                                   rows=len(rows), flow_id="7", flow_name="Welcome", file_type="csv")  # fmt: skip
        (folder / simon.control_file_name(name)).write_text(json.dumps(simon.control_document([entry])))


VENDOR_WRITERS = {"leanplum": _leanplum, "sailthru": _sailthru, "apsis": _apsis, "encharge": _encharge,
                  "simon": _simon}  # fmt: skip
DAYS = (1, 2, 3)


def write_day(root: Path, day: int) -> None:
    for writer in VENDOR_WRITERS.values():
        writer(root, day)


def write_feeds_yml(root: Path) -> Path:
    feeds = [{"name": v, "vendor": v, "uri": (root / v).as_uri()} for v in VENDOR_WRITERS]
    for v in VENDOR_WRITERS:
        (root / v).mkdir(parents=True, exist_ok=True)
    path = root / "feeds.yml"
    path.write_text(yaml.safe_dump({"feeds": feeds}))
    return path


# (vendor, event_type, occurred_date) -> distinct events, after every day is loaded
EXPECTED_EVENTS = {
    ("leanplum", "sent", "2024-05-01"): 1,
    ("leanplum", "opened", "2024-05-01"): 1,
    ("leanplum", "opened", "2024-05-02"): 1,
    ("leanplum", "interacted", "2024-05-02"): 1,
    ("leanplum", "sent", "2024-05-02"): 1,
    ("leanplum", "campaign_converted", "2024-05-02"): 1,
    ("leanplum", "campaign_exited", "2024-05-02"): 1,
    ("sailthru", "sent", "2024-03-01"): 1,
    ("sailthru", "sent", "2024-05-01"): 3,  # two emails and one push
    ("sailthru", "bounced", "2024-05-01"): 1,  # push uninstalled
    ("sailthru", "opened", "2024-05-02"): 2,
    ("sailthru", "bounced", "2024-05-02"): 1,
    ("apsis", "sent", "2024-05-01"): 1,
    ("apsis", "opened", "2024-05-01"): 1,
    ("apsis", "bounced", "2024-05-01"): 1,
    ("apsis", "auto_replied", "2024-05-01"): 1,
    ("apsis", "clicked", "2024-05-01"): 1,
    ("apsis", "unsubscribed", "2024-05-02"): 1,
    ("encharge", "opened", "2024-05-01"): 1,
    ("encharge", "tag_added", "2024-05-01"): 1,
    ("encharge", "flow_step_performed", "2024-05-03"): 1,
    ("encharge", "unsubscribed", "2024-05-03"): 1,
    ("simon", "segment_added", "2024-05-02"): 1,
    ("simon", "segment_removed", "2024-05-02"): 1,
    ("simon", "flow_step_performed", "2024-05-02"): 1,
}
# (reason, vendor) -> rows in fct_engagement_event_rejects
EXPECTED_REJECTS = {("unmapped_event", "leanplum"): 1, ("no_event_time", "encharge"): 1}
EXPECTED_CONTACTS = {sha(ANNA), sha(BEN), sha(CARL), sha(DORA), "leanplum:u1", "leanplum:u2", "sailthru:p-anna",
                     "sailthru:p-ben"}  # fmt: skip
CLEAR_TEXT_EMAILS = (ANNA, BEN, CARL, DORA)
