"""APSIS One email event export fixture: what `POST /emails/reports` would produce for a window.

Activities (some split tests with sub-activities and variations) are sent to the world's contacts; each send
gives SENT, then DELIVERED or BOUNCED (codes of every class), OPENED, CLICKED (a link of its activity),
UNSUBSCRIBED, ABUSE. Rows with `time0` carry event_time 0 or a 1970 time (the consumer falls back to
server_time); BOUNCED rows with a 5xxx code are auto replies, not bounces (truth: auto_replied); with `dup`
some events are repeated with the same correlation_id (the source's retry) and a later server_time. An export
window selects rows by server_time, the time APSIS One received the event.

`render_export(world, start_at, end_at, attributes, tags)` is the file the fake APSIS API serves;
`write()` lands daily windows as files for a file-based feed.
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..vendors import apsis as layout
from ..warehouse import quote_ident
from .files import GZIP_LEVEL, Output, Written, gzip_bytes
from .world import World, sql_list

VENDOR = "apsis"
STEP_MS = 37 * 60_000
DEFAULT_ATTRIBUTES = ["gender", "first_name"]
DEFAULT_TAGS = ["vip", "newsletter"]
DRIFT_ATTRIBUTE = "city"
# Attribute name -> (version id, SQL over the contact `c`); other names get a stable id and generated values.
KNOWN_ATTRIBUTES = {
    "gender": (491874, "c.gender"),
    "first_name": (491870, "upper(c.first_name[1]) || c.first_name[2:]"),
    "last_name": (491871, "upper(c.last_name[1]) || c.last_name[2:]"),
    "city": (491880, "c.city"),
    "country": (491881, "c.country"),
    "birthday": (
        491890,
        "strftime(date '1950-01-01' + rint(c.contact, 'ap_bday', 20000)::integer, '%Y-%m-%d')",
    ),
}
HARD_CODES = [2001, 2002, 2004]
SOFT_CODES = [1001, 3001, 3002, 3003, 4003, 4007, 4008, 4009, 9999]
# "5000-5999 Informational (out of office, auto reply etc.)": auto_replied, no bounce
INFO_CODES = [5001, 5002]
FIRST_REAL_MS = 31_536_000_000  # 1971-01-01: an event_time before it (0, or 0 plus an offset) means unknown
DEVICES = ["DESKTOP", "MOBILE", "TABLET", "MOBILE_IOS", "SMART_TV", "UNKNOWN"]


def generate(world: World) -> None:
    rng = world.rng("apsis")
    n_act = max(4, 2 * world.days)
    names = ["Spring newsletter", "Member offer", "Product launch", "Weekend deals", "Event invite",
             "Survey", "Abandoned cart", "Monthly digest"]  # fmt: skip
    acts: dict[str, list] = {k: [] for k in ("act_idx", "activity_id", "activity_name", "sender", "subject",
                                             "send_at_ms", "split", "split_a", "split_b")}  # fmt: skip
    for j in range(n_act):
        acts["act_idx"].append(j)
        acts["activity_id"].append(_guid(rng))
        acts["activity_name"].append(f"{names[j % len(names)]} #{j + 1}")
        acts["sender"].append(["Example Shop", "Example Club", "Example News"][j % 3])
        acts["subject"].append(f"{names[j % len(names)]}: this week at Example")
        acts["send_at_ms"].append((j % world.days) * 86_400_000 + (7 + rng.randrange(12)) * 3_600_000)
        split = j % 3 == 1
        acts["split"].append(split)
        acts["split_a"].append(_guid(rng) if split else None)
        acts["split_b"].append(_guid(rng) if split else None)
    world.table_from("ap_activities", acts)
    audience = world.audience(VENDOR)
    sends = max(1, round(world.budget(VENDOR) / 2.95))
    time0 = world.has("time0")
    case = world.has("email_case")
    world.execute(
        f"""
        create or replace table apsis_events as
        with sends as (
            select i, rint(i, 'ap_act', {n_act}) as act_idx, rint(i, 'ap_who', {audience}) as k,
                rnd(i, 'r1') as r1, rnd(i, 'r2') as r2, rnd(i, 'r3') as r3, rnd(i, 'ap_split') as rs
            from range({sends}) r(i)
        ),
        steps as (
            select s.*, a.*, unnest(st) as type, unnest(range(1, len(st) + 1)) as step
            from (select *, list_filter(['SENT',
                    case when r1 < 0.04 then 'BOUNCED' else 'DELIVERED' end,
                    case when r1 >= 0.04 and r2 < 0.50 then 'OPENED' end,
                    case when r1 >= 0.04 and r2 < 0.15 then 'OPENED' end,
                    case when r1 >= 0.04 and r2 < 0.18 then 'CLICKED' end,
                    case when r1 >= 0.04 and r2 < 0.50 and r3 < 0.02 then 'UNSUBSCRIBED'
                         when r1 >= 0.04 and r3 > 0.995 then 'ABUSE' end], lambda x: x is not null) as st
                  from sends) s
            join ap_activities a using (act_idx)
        )
        select s.i * 8 + s.step as seq, s.i * 8 + s.step as ek,
            s.activity_id,
            case when s.split and s.rs < 0.2 then s.split_a when s.split and s.rs < 0.4 then s.split_b
                 else s.activity_id end as split_id,
            s.activity_name,
            case when s.split and s.rs < 0.2 then s.activity_name || ' - A'
                 when s.split and s.rs < 0.4 then s.activity_name || ' - B'
                 when s.split then s.activity_name || ' - winner' else s.activity_name end as split_activity_name,
            s.sender, s.subject,
            case when {case} and rnd(s.i, 'ap_case') < 0.05 then '  ' || upper(c.email) || ' '
                 when {case} and rnd(s.i, 'ap_case') < 0.10 then upper(c.email[1]) || c.email[2:]
                 else c.email end as address,
            case when s.split and s.rs < 0.2 then 'A' when s.split and s.rs < 0.4 then 'B'
                 when s.split then 'A' end as variation,
            s.type,
            uuid_of(s.i * 8 + s.step, 'ap_correlation') as correlation_id,
            at_ms(s.send_at_ms + rint(s.i, 'ap_spread', 3600000)
                + case when s.step = 1 then 0 else (s.step - 1) * {STEP_MS} - rint(s.i * 8 + s.step, 'ap_dt', 1800000) end)
                as ts,
            -- the document: event_time may be 0, and "The dates in 1970 are possible when the event source
            -- specified the event time as 0 since they're interpreted as Unix epoch"
            case when {time0} and rnd(s.i * 8 + s.step, 'ap_time0') < 0.03 then 0
                 when {time0} and rnd(s.i * 8 + s.step, 'ap_time0') < 0.05
                     then 1 + rint(s.i * 8 + s.step, 'ap_1970', 2592000000)
                 else epoch_ms(ts) end as event_time,
            epoch_ms(ts) + 50 + rint(s.i * 8 + s.step, 'ap_server', 5000) as server_time,
            case when s.type in ('OPENED', 'CLICKED') then
                {sql_list(DEVICES)}[1 + rint(s.i * 8 + s.step, 'ap_device', {len(DEVICES)})] end as device,
            case when s.type in ('OPENED', 'CLICKED') then
                case when rnd(s.i, 'ap_loc') < 0.1 then c.country || '-01' else c.country end end as location,
            case when s.type = 'CLICKED' then (9000 + s.act_idx * 10 + rint(s.i, 'ap_link', 3))::varchar end as link_id,
            case when s.type = 'CLICKED' then 'https://www.example.com/a' || s.act_idx::varchar || '/l'
                || rint(s.i, 'ap_link', 3)::varchar end as link_url,
            case when s.type = 'CLICKED' then ['Shop now', 'Read more', 'View offer'][1 + rint(s.i, 'ap_link', 3)]
                end as link_title,
            case when s.type = 'BOUNCED' then
                case when s.r2 < 0.4 then {sql_list(HARD_CODES)}[1 + rint(s.i, 'ap_code', {len(HARD_CODES)})]
                     when s.r2 < 0.9 then {sql_list(SOFT_CODES)}[1 + rint(s.i, 'ap_code', {len(SOFT_CODES)})]
                     else {sql_list(INFO_CODES)}[1 + rint(s.i, 'ap_code', {len(INFO_CODES)})] end::varchar
            end as bounce_code,
            case when s.type = 'UNSUBSCRIBED' then ['newsletter', 'offers', 'all'][1 + rint(s.i, 'ap_topic', 3)]
                end as unsubscribe_topic,
            case when s.type = 'ABUSE' then ['feedback_loop', 'report_button'][1 + rint(s.i, 'ap_abuse', 2)]
                end as abuse_section,
            c.contact,
            -- bounce codes "5000-5999 Informational (out of office, auto reply etc.)" are no bounce
            case when s.type = 'BOUNCED' and bounce_code::integer between 5000 and 5999 then 'auto_replied'
                else case s.type when 'SENT' then 'sent' when 'DELIVERED' then 'delivered' when 'OPENED' then 'opened'
                when 'CLICKED' then 'clicked' when 'BOUNCED' then 'bounced' when 'UNSUBSCRIBED' then 'unsubscribed'
                else 'spam_reported' end end as event_type,
            c.email_sha256 as contact_key
        from steps s join contacts_{VENDOR} c on c.k = s.k
        """
    )
    world.execute(
        f"""
        create or replace table apsis_rows as
        select *, 0 as copy from apsis_events
        union all
        -- the source retried: same correlation_id and event, received again a little later
        select * replace (server_time + 1000 + rint(seq, 'ap_retry_ms', 120000) as server_time), 1 as copy
        from apsis_events where {world.has("dup")} and event_time >= {FIRST_REAL_MS} and rnd(seq, 'ap_retry') < 0.03
        order by server_time, seq, copy
        """
    )
    world.execute(
        f"""create or replace view apsis_truth as select 'apsis' as vendor, event_type,
        epoch_ms(case when event_time < {FIRST_REAL_MS} then server_time else event_time end) as occurred_at,
        contact_key from apsis_events"""
    )


def _guid(rng) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_HEADER = re.compile(r"^(?P<name>.+) \(version_id: (?P<version>\d+)\)$")


def _stable_id(name: str, base: int) -> int:
    return base + zlib.crc32(name.encode("utf-8")) % 100_000


def attribute_columns(attributes: list[str]) -> list[tuple[str, str, list[object]]]:
    """(header, SQL expression, bound parameters) per requested attribute: a name (`gender`), a version id
    (`491874`) or a full header (`gender (version_id: 491874)`)."""
    by_version = {v: (n, sql) for n, (v, sql) in KNOWN_ATTRIBUTES.items()}
    out = []
    for raw in attributes:
        raw = str(raw).strip()
        match = _HEADER.match(raw)
        if match:
            name, version = match.group("name"), int(match.group("version"))
        elif raw.isdigit():
            version = int(raw)
            name = by_version.get(version, (f"attribute_{version}", ""))[0]
        else:
            name = raw
            version = KNOWN_ATTRIBUTES[name][0] if name in KNOWN_ATTRIBUTES else _stable_id(name, 400_000)
        if name in KNOWN_ATTRIBUTES:
            out.append((layout.field_header(name, version), KNOWN_ATTRIBUTES[name][1], []))
        else:
            out.append((layout.field_header(name, version), "'v-' || hex8(c.contact, ?)", [f"attr:{name}"]))
    return out


def tag_columns(tags: list[str]) -> list[tuple[str, str, list[object]]]:
    out = []
    for raw in tags:
        raw = str(raw).strip()
        match = _HEADER.match(raw)
        name, version = (
            (match.group("name"), int(match.group("version"))) if match else (raw, _stable_id(raw, 700_000))
        )
        expr = f"case when rnd(c.contact, ?) < 0.3 then '{layout.TAG_VALUE}' end"
        out.append((layout.field_header(name, version), expr, [f"tag:{name}"]))
    return out


def _utc_ms(value: datetime) -> int:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return int(value.timestamp() * 1000)


def export_query(attributes: list[str], tags: list[str]) -> tuple[str, list[object]]:
    """The export's SELECT for a window given as two bound ms-epoch parameters after the field parameters."""
    extra = attribute_columns(attributes) + tag_columns(tags)
    select = [f"r.{quote_ident(c)}::varchar as {quote_ident(c)}" for c in layout.DEFAULT_COLUMNS]
    params: list[object] = []
    for header, expr, p in extra:
        select.append(f"{expr} as {quote_ident(header)}")
        params += p
    sql = (
        f"select {', '.join(select)} from apsis_rows r join contacts c on c.contact = r.contact"
        " where r.server_time >= ? and r.server_time < ? order by r.server_time, r.seq, r.copy"
    )
    return sql, params


def render_export(
    world: World, start_at: datetime, end_at: datetime, attributes: list[str], tags: list[str]
) -> bytes:
    """The gzip CSV APSIS One would produce for events received in [start_at, end_at)."""
    world.ensure(VENDOR)
    sql, params = export_query(list(attributes), list(tags))
    fd, tmp = tempfile.mkstemp(prefix="apsis-export-", suffix=".csv")
    os.close(fd)
    try:
        out = Output(Path(tmp).parent)
        out.copy_csv(world.con, sql, [*params, _utc_ms(start_at), _utc_ms(end_at)], Path(tmp).name)
        return gzip_bytes(Path(tmp).read_bytes())
    finally:
        Path(tmp).unlink(missing_ok=True)


def write(world: World, out: Output, vendor_uri: str) -> None:
    """Daily windows (plus one overlapping window with `dup`) as `apsis-email-events-<start>_<end>.csv.gz`."""
    last_ms = world.execute("select coalesce(max(server_time), 0) from apsis_rows").fetchall()[0][0]
    end = max(world.end_at, datetime.fromtimestamp(last_ms / 1000, UTC).replace(hour=0, minute=0, second=0,
                                                                               microsecond=0) + timedelta(days=1))  # fmt: skip
    windows = []
    day = world.start_at
    while day < end:
        windows.append((day, day + timedelta(days=1), ""))
        day += timedelta(days=1)
    if world.has("dup") and len(windows) > 1:
        windows.append(
            (world.start_at + timedelta(hours=12), world.start_at + timedelta(hours=36), "overlapping window")
        )
    drift_from = world.start_at + timedelta(days=world.days // 2)

    def job(start: datetime, stop: datetime, note: str):
        attributes = list(DEFAULT_ATTRIBUTES)
        if world.has("drift") and start >= drift_from:
            attributes.append(DRIFT_ATTRIBUTE)
        sql, params = export_query(attributes, DEFAULT_TAGS)
        rel = layout.export_file_name(start, stop)
        arrives = (stop + timedelta(hours=1)).replace(tzinfo=None)

        def run(con) -> None:
            rows = out.copy_csv(
                con, sql, [*params, _utc_ms(start), _utc_ms(stop)], rel, gzip_level=GZIP_LEVEL
            )
            out.record(Written(rel, VENDOR, layout.TABLE, rows, arrives, "data", note))

        return run

    out.run_jobs(world.con, [job(*w) for w in windows])
