"""Leanplum Data Feed fixture: campaign, message (email, push, app inbox, in-app, webhook) and A/B test events.

Two Leanplum apps share the world's users: the JSON app writes NDJSON (gzip by default), the Parquet app writes
the seed's record schema (structs AbTest/Campaign/Message, maps user_attributes/user_attributes_numeric).
Files sit in `dt=<yyyy-mm-dd>/` folders, a new file each hour or 50,000 (JSON) / 2 M (Parquet) events.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..vendors import leanplum as layout
from .files import Output, Written, gzip_bytes
from .world import World

VENDOR = "leanplum"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%g"
STEP_MS = 37 * 60_000  # steps of one journey are at least 7 minutes apart, at most 37


def generate(world: World) -> None:
    rng = world.rng("leanplum")
    campaigns = ["Spring Sale", "Onboarding", "Win Back", "Loyalty Boost", "Cart Reminder", "Weekly Digest",
                 "Feature Launch", "Re-engagement"]  # fmt: skip
    world.table_from(
        "lp_campaigns",
        {
            "campaign_idx": list(range(len(campaigns))),
            "campaign_id": [5_100_000_000_000_000 + rng.randrange(10**14) for _ in campaigns],
            "campaign_name": campaigns,
        },
    )
    channels = ["email", "push", "app_inbox", "in_app", "webhook", "email", "push", "email"]
    msgs: dict[str, list] = {"message_idx": [], "message_id": [], "message_name": [], "channel": [],
                             "campaign_idx": []}  # fmt: skip
    for i in range(len(campaigns) * 2):
        channel = channels[i % len(channels)]
        msgs["message_idx"].append(i)
        msgs["message_id"].append(6_200_000_000_000_000 + rng.randrange(10**14))
        msgs["message_name"].append(
            f"{campaigns[i % len(campaigns)]} {layout.CHANNELS[channel]} {i // 8 + 1}"
        )
        msgs["channel"].append(channel)
        msgs["campaign_idx"].append(i % len(campaigns))
    world.table_from("lp_messages", msgs)
    world.table_from(
        "lp_abtests",
        {
            "ab_idx": [0, 1, 2],
            "ab_test_id": [4_300_000_000_000_000 + rng.randrange(10**14) for _ in range(3)],
            "ab_name": ["Home screen layout", "Push copy test", "Checkout button colour"],
        },
    )
    n_msgs = len(msgs["message_idx"])
    audience = world.audience(VENDOR)
    instances = max(1, round(world.budget(VENDOR) / 1.83))
    channel_steps = {
        "email": """['Email Sent',
            case when r1 < 0.03 then 'Email Bounce' when r1 < 0.05 then 'Email Dropped'
                 when r1 < 0.09 then 'Email Deferred' else 'Email Delivered' end,
            case when r1 >= 0.05 and r1 < 0.09 then 'Email Delivered' end,
            case when r1 >= 0.05 and r2 < 0.45 then 'Email Open' end,
            case when r1 >= 0.05 and r2 < 0.15 then 'Email Clicked' end,
            case when r1 >= 0.05 and r2 < 0.45 and r3 < 0.03 then 'Email Unsubscribed'
                 when r1 >= 0.05 and r3 > 0.995 then 'Email Marked as Spam' end]""",
        "push": """['Push Notification Sent', case when r1 < 0.05 then 'Push Notification Bounced'
                    when r1 < 0.3 then 'Push Notification Opened' end]""",
        "app_inbox": "['App Inbox Sent', case when r1 < 0.4 then 'App Inbox Opened' end]",
        "in_app": """['In-App Message Viewed', case when r1 < 0.2 then 'In-App Message Accept'
                    when r1 < 0.3 then 'In-App Message Submit' when r1 < 0.4 then 'In-App Message Select' end]""",
        "webhook": "['Webhook Sent']",
    }
    steps_case = (
        "case " + " ".join(f"when m.channel = '{c}' then {s}" for c, s in channel_steps.items()) + " end"
    )
    world.execute(
        f"""
        create or replace table lp_instances as
        with base as (
            select i,
                case when rnd(i, 'lp_kind') < 0.22 then 'campaign' when rnd(i, 'lp_kind') < 0.88 then 'message'
                     else 'ab' end as kind,
                rint(i, 'lp_who', {audience}) as k,
                rint(i, 'lp_campaign', 8) as campaign_idx,
                rint(i, 'lp_message', {n_msgs}) as message_idx,
                rint(i, 'lp_ab', 3) as ab_idx,
                rnd(i, 'r1') as r1, rnd(i, 'r2') as r2, rnd(i, 'r3') as r3,
                at_ms(rint(i, 'lp_t0', {world.window_ms})) as t0
            from range({instances}) r(i)
        )
        select b.*, m.channel, m.message_id, m.message_name, coalesce(cm.campaign_id, c.campaign_id) as campaign_id,
            coalesce(cm.campaign_name, c.campaign_name) as campaign_name, a.ab_test_id, a.ab_name,
            list_filter(case
                when b.kind = 'campaign' then ['Campaign Triggered',
                    case when r1 < 0.9 then 'Campaign Enter' end,
                    case when r1 < 0.9 and r2 < 0.2 then 'Campaign Convert'
                         when r1 < 0.9 and r2 < 0.5 then 'Campaign Exit'
                         when r1 < 0.9 and r2 < 0.55 then 'Campaign Forced Exit' end]
                when b.kind = 'ab' then ['A/B Test Impression']
                else {steps_case} end, lambda x: x is not null) as steps
        from base b
        left join lp_messages m on b.kind = 'message' and m.message_idx = b.message_idx
        left join lp_campaigns cm on cm.campaign_idx = m.campaign_idx
        left join lp_campaigns c on b.kind = 'campaign' and c.campaign_idx = b.campaign_idx
        left join lp_abtests a on b.kind = 'ab' and a.ab_idx = b.ab_idx
        order by i
        """
    )
    canonical = "case title " + " ".join(
        f"when '{t}' then '{et}'" for t, (et, _) in layout.CANONICAL.items()
    ) + " end"  # fmt: skip
    world.execute(
        f"""
        create or replace table leanplum_events as
        with steps as (
            select x.*, unnest(steps) as title, unnest(range(1, len(steps) + 1)) as step from lp_instances x
        )
        select
            s.i * 8 + s.step as seq,
            s.*,
            case when s.step = 1 then s.t0
                 else s.t0 + to_milliseconds(((s.step - 1) * {STEP_MS} - rint(s.i * 8 + s.step, 'lp_dt', 30 * 60000))::bigint)
            end as ts,
            -- the document: `name` is a "Formatted event name based on channel and event type (e.g. '(Leanplum)
            -- Email Open')" (campaigns: "(Leanplum) Campaign " and the event type), and a message's event_type
            -- is given by example ("Send, Delivered, Open, etc."): a sent message's type is `Send`, so its
            -- name, `(Leanplum) Email Send`, is none of the document's headings
            regexp_replace(regexp_replace(s.title,
                '^(Campaign|Email|Push Notification|App Inbox|In-App Message|Webhook) ', ''), '^Sent$', 'Send')
                as event_type_text,
            case when s.kind = 'message'
                then '{layout.NAME_PREFIX}' || {_channel_case("s.channel")} || ' ' || event_type_text
                else '{layout.NAME_PREFIX}' || s.title end as name,
            {canonical} as event_type,
            uuid_of(s.i * 8 + s.step, 'lp_event_id') as event_id,
            hex16(s.i, 'lp_occurrence') || hex8(s.i, 'lp_occurrence2') as message_occurrence_id,
            case when s.channel = 'email' then hex16(s.i, 'lp_email_id') end as email_id,
            case when s.title = 'Email Clicked' then 'https://app.example.com/m/' || s.message_id::varchar
                || '/link' || (1 + rint(s.i, 'lp_link', 3))::varchar end as link_url,
            case when s.title = 'Email Clicked' then 'lnk-' || (1 + rint(s.i, 'lp_link', 3))::varchar end as link_id,
            c.leanplum_user_id as user_id, c.device_id, c.leanplum_app as app, c.country,
            case when c.leanplum_app = 'parquet' and c.leanplum_email_known then c.email end as attr_email,
            rint(c.contact, 'lp_sessions', 400) as sessions,
            case when c.leanplum_app = 'parquet' and c.leanplum_email_known then c.email_sha256
                 else 'leanplum:' || c.leanplum_user_id end as contact_key,
            -- where the file lands: events near midnight may sit in the neighbouring day's folder
            {world.has("spill")} and ts - date_trunc('day', ts) >= interval '23 hours 45 minutes'
                and rnd(seq, 'lp_spill') < 0.5 as spill_next,
            {world.has("spill")} and ts - date_trunc('day', ts) < interval 15 minutes
                and rnd(seq, 'lp_spill') < 0.5 as spill_prev,
            case when spill_next then ts::date + 1 when spill_prev then ts::date - 1 else ts::date end as pdt,
            case when spill_next then 0 when spill_prev then 23 else hour(ts) end as phr,
            -- a pipeline re-send: the same event_id an hour later; a spilled event also in its own day's folder
            {world.has("dup")} and (rnd(seq, 'lp_dup') < 0.03 or ((spill_next or spill_prev) and rnd(seq, 'lp_dup2') < 0.5))
                as has_dup,
            case when not has_dup then null when spill_next or spill_prev then ts::date
                 else (ts + interval 1 hour)::date end as ddt,
            case when not has_dup then null when spill_next or spill_prev then hour(ts)
                 else hour(ts + interval 1 hour) end as dhr
        from steps s join contacts_{VENDOR} c on c.k = s.k
        -- clustered as the files are cut, so a file's query reads only its own row groups
        order by app, pdt, phr, ts, seq
        """
    )
    world.execute("create or replace table lp_dups as select * from leanplum_events where has_dup "
                  "order by app, ddt, dhr, ts, seq")  # fmt: skip
    # the truth's view: occurred_at is `time` (string in JSON, ms epoch in Parquet), both from ts
    world.execute("create or replace view leanplum_truth as select 'leanplum' as vendor, event_type, "
                  "ts as occurred_at, contact_key from leanplum_events")  # fmt: skip


def _json_object(pairs: list[tuple[str, str, str]]) -> str:
    """A JSON object as SQL string concatenation: much faster than json_object() row by row. Keys are ours;
    values are generated ids, names and times without quotes or backslashes, so none needs escaping.
    Each pair is (key, SQL expression, 's' string | 'n' number | 'j' nested JSON SQL)."""
    parts = []
    for i, (key, expr, kind) in enumerate(pairs):
        sep = "{" if i == 0 else ","
        value = {"s": f"coalesce('\"' || {expr} || '\"', 'null')", "n": f"coalesce(({expr})::varchar, 'null')",
                 "j": expr}[kind]  # fmt: skip
        parts.append(f"'{sep}\"{key}\":' || {value}")
    return "(" + " || ".join(parts) + " || '}')"


_TIME = f"strftime(ts, '{TIME_FORMAT}')"
_HEAD = [("user_id", "user_id", "s"), ("device_id", "device_id", "s")]
_MESSAGE = [*_HEAD, ("message_occurrence_id", "message_occurrence_id", "s"), ("time", _TIME, "s"),
            ("name", "message_name", "s"), ("message_id", "message_id", "n"), ("event_type", "event_type_text", "s"),
            ("channel", "{channel}", "s"), ("campaign_id", "campaign_id", "n"),
            ("campaign_name", "campaign_name", "s")]  # fmt: skip
_PROPERTIES = f"""case
    when kind = 'campaign' then {_json_object([*_HEAD, ("time", _TIME, "s"), ("name", "campaign_name", "s"),
        ("campaign_id", "campaign_id", "n"), ("event_type", "event_type_text", "s")])}
    when kind = 'ab' then {_json_object([*_HEAD, ("time", _TIME, "s"), ("name", "ab_name", "s"),
        ("ab_test_id", "ab_test_id", "n"), ("variant_id", "ab_test_id + 1 + rint(i, 'lp_variant', 2)", "n")])}
    when channel = 'email' then {_json_object([*_MESSAGE, ("email_id", "email_id", "s"),
        ("link_url", "link_url", "s"), ("link_id", "link_id", "s")])}
    else {_json_object(_MESSAGE)} end"""  # fmt: skip
JSON_LINE = (
    _json_object([("event_id", "event_id", "s"), ("name", "name", "s"), ("properties", _PROPERTIES, "j")])
    + " || chr(10)"
)

PARQUET_COLUMNS = f"""{layout.PARQUET_SCHEMA_VERSION}::integer as schema_version, name, event_id, user_id, device_id,
    epoch_ms(ts)::bigint as time,
    case when attr_email is not null then map(['email', 'country'], [attr_email, country])
         else map(['country'], [country]) end as user_attributes,
    map(['sessions'], [sessions::bigint]) as user_attributes_numeric,
    case when kind = 'ab' then struct_pack(name := ab_name, id := ab_test_id::bigint,
        variant_id := (ab_test_id + 1 + rint(i, 'lp_variant', 2))::bigint) end as "AbTest",
    case when kind = 'campaign' then struct_pack(name := campaign_name, id := campaign_id::bigint,
        event_type := event_type_text) end as "Campaign",
    case when kind = 'message' then struct_pack(name := message_name, id := message_id::bigint,
        campaign_name := campaign_name, campaign_id := campaign_id::bigint, channel := {{channel}},
        message_occurrence_id := message_occurrence_id, email_id := email_id, link_url := link_url,
        link_id := link_id, event_type := event_type_text) end as "Message"
"""

# rows of one file: its primaries in a time range, plus (in the hour's first file) re-sent copies
FILE_ROWS = """select *, 0 as copy from leanplum_events where app = $app and pdt = $dt and phr = $hr
        and ts >= $lo and ts < $hi"""
FILE_ROWS_WITH_DUPS = (
    FILE_ROWS
    + """
    union all
    select *, 1 as copy from lp_dups where app = $app and ddt = $dt and dhr = $hr"""
)


def write(world: World, out: Output, vendor_uri: str, gzip_json: bool = True) -> None:
    """One job per file, each selecting its rows from the events table; an hour's events are cut into files
    of at most 50,000 (JSON) / 2 M (Parquet) events by event time."""
    note = ",".join(q for q in ("spill", "dup") if world.has(q))
    hours = world.execute(
        """select app, dt, hr, sum(n)::bigint from (
            select app, pdt as dt, phr as hr, count(*) as n from leanplum_events group by all
            union all select app, ddt, dhr, count(*) from leanplum_events where has_dup group by all)
        group by all order by all"""
    ).fetchall()
    low, high = datetime(1970, 1, 1), datetime(9999, 1, 1)
    files = []
    for app, dt, hr, n in hours:
        limit = layout.JSON_FILE_EVENTS if app == "json" else layout.PARQUET_FILE_EVENTS
        bounds = [low]
        if n > limit:
            times = world.execute(
                "select ts from leanplum_events where app = ? and pdt = ? and phr = ? order by ts, seq",
                [app, dt, hr],
            ).fetchall()
            bounds += [times[k][0] for k in range(limit, len(times), limit)]
        bounds.append(high)
        for chunk in range(len(bounds) - 1):
            files.append((app, dt, hr, chunk, bounds[chunk], bounds[chunk + 1]))
    channel = _channel_case("channel")
    json_line, parquet_columns = (
        JSON_LINE.replace("{channel}", channel),
        PARQUET_COLUMNS.replace("{channel}", channel),
    )

    def job(app: str, dt, hr: int, chunk: int, lo: datetime, hi: datetime):
        fmt = "json" if app == "json" else "parquet"
        gz = gzip_json and fmt == "json"
        relpath = f"{app}/{layout.folder_for(dt)}/{layout.file_name(dt, hr * 100 + chunk, fmt, gz)}"
        arrives = datetime(dt.year, dt.month, dt.day) + timedelta(hours=hr + 1, minutes=7 + chunk)
        params = {"app": app, "dt": dt, "hr": hr, "lo": lo, "hi": hi}
        rows_sql = FILE_ROWS_WITH_DUPS if chunk == 0 else FILE_ROWS
        json_sql = f"select {json_line} from ({rows_sql}) order by ts, seq, copy"
        parquet_sql = f"select {parquet_columns} from ({rows_sql}) order by ts, seq, copy"

        def run(con) -> None:
            if fmt == "json":
                data = out.text_lines(con, json_sql, params)
                rows = data.count(b"\n")
                out.write_bytes(relpath, gzip_bytes(data) if gz else data,
                                Written(relpath, VENDOR, layout.EVENTS_TABLE, rows, arrives, "data", note))  # fmt: skip
            else:
                rows = out.copy_parquet(con, parquet_sql, params, relpath)
                out.record(Written(relpath, VENDOR, layout.PARQUET_TABLE, rows, arrives, "data", note))

        return run

    out.run_jobs(world.con, [job(*f) for f in files])
    if world.has("empty") and files:
        dt = files[0][1]
        relpath = f"json/{layout.folder_for(dt)}/{layout.file_name(dt, 9999, 'json')}"
        out.write_bytes(relpath, b"", Written(relpath, VENDOR, layout.EVENTS_TABLE, 0,
                                              datetime(dt.year, dt.month, dt.day, 23, 59), "data", "empty"))  # fmt: skip


def _channel_case(column: str) -> str:
    return (
        "case " + " ".join(f"when {column} = '{k}' then '{v}'" for k, v in layout.CHANNELS.items()) + " end"
    )
