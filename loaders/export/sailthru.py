"""Sailthru Connect fixture: the ten email event tables, mobile_notifications and the four lookups.

Sends go to the world's contacts for campaign blasts and triggered (template / lifecycle flow) mail; opens,
clicks (with a link of their message), bounces (reason_log carrying a 5.x.x, 4.x.x or no SMTP class) and
unsubscribes follow their send. Per `<table>/dt=` folder the exporter picks one event_time shape (old folders:
`seconds` or `millis`; from 2024-03-20: `millis` or `iso`), so a catch-up part in the same folder repeats its
rows byte for byte. Files are `part-<8 hex>.csv`, at most PART_ROWS rows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ..vendors import sailthru as layout
from .files import Output, Written
from .world import World, sql_list

VENDOR = "sailthru"
PART_ROWS = 250_000
STEP_MS = 37 * 60_000
EMAIL_SHARE = 0.88  # the rest of Sailthru's budget is mobile_notifications
BROWSERS = ["Chrome", "Safari", "Firefox", "Apple Mail", "Outlook", "Gmail Image Proxy"]
USER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Mobile",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
]
ENGAGEMENT = ["new", "engaged", "active", "passive", "disengaged", "dormant"]
HARD_REASONS = [
    "550 5.1.1 <recipient>: Recipient address rejected: User unknown in virtual mailbox table",
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    "554 5.7.1 Service unavailable; Client host blocked using Spamhaus",
]
SOFT_REASONS = [
    "452 4.2.2 The email account that you tried to reach is over quota",
    "421 4.7.0 Try again later, closing connection",
]
OTHER_REASONS = ["Connection timed out", "Mailbox unavailable"]
MOBILE_TITLES = ["Your order shipped", "Flash sale ends tonight", "New message", "We miss you", "Price drop"]


def generate(world: World) -> None:
    rng = world.rng("sailthru")
    days = world.days
    labels = [("5d" + f"{rng.getrandbits(88):022x}", name) for name in
              ["Newsletter", "Promotions", "Lifecycle", "Transactional", "Seasonal"]]  # fmt: skip
    flows = [(f"{rng.getrandbits(96):024x}", name, 1 + rng.randrange(6)) for name in
             ["Welcome series", "Browse abandonment", "Post purchase"]]  # fmt: skip
    templates = []
    for i, name in enumerate(["Welcome 1", "Welcome 2", "Browse reminder", "Receipt", "Shipping update",
                              "Password reset", "Review request", "Weekly template"]):  # fmt: skip
        flow = flows[i % 3][0] if i < 6 and i != 3 and i != 5 else None
        templates.append((10_000 + rng.randrange(90_000), name, flow, "true" if i in (3, 5) else "false"))
    msgs: dict[str, list] = {k: [] for k in ("msg_idx", "kind", "campaign_id", "list_id", "list_name",
                                             "template_id", "flow_id", "is_basic", "subject", "name",
                                             "send_at_ms", "links", "label_ids", "create_ms")}  # fmt: skip
    n_campaigns = max(4, 2 * days)
    lists = [(f"{rng.getrandbits(96):024x}", n) for n in ["Main list", "VIP", "Newsletter", "Engaged 90d"]]
    subjects = ["Spring picks for you", "Last chance: 20% off", "New arrivals", "Your weekly digest",
                "Back in stock", "Members only preview", "Free shipping weekend", "Thanks for being here"]  # fmt: skip
    for j in range(n_campaigns + len(templates)):
        triggered = j >= n_campaigns
        slug = f"{'t' if triggered else 'c'}{j}"
        n_links = 2 + rng.randrange(3)
        links = [f"https://shop.example.com/{slug}/item-{k + 1}?utm_source=sailthru&utm_id={j}" for k in
                 range(n_links)]  # fmt: skip
        msgs["msg_idx"].append(j)
        msgs["kind"].append("triggered" if triggered else "campaign")
        msgs["links"].append(links)
        msgs["label_ids"].append("[" + ", ".join(lab[0] for lab in rng.sample(labels, 2)) + "]")
        if triggered:
            t = templates[j - n_campaigns]
            msgs["campaign_id"].append(None)
            msgs["list_id"].append(None)
            msgs["list_name"].append(None)
            msgs["template_id"].append(str(t[0]))
            msgs["flow_id"].append(t[2])
            msgs["is_basic"].append(t[3])
            msgs["subject"].append(f"{t[1]}: hello from Example Shop")
            msgs["name"].append(t[1])
            msgs["send_at_ms"].append(None)
            msgs["create_ms"].append(-86_400_000 * (30 + rng.randrange(300)))
        else:
            lst = lists[j % len(lists)]
            send_at = (j % days) * 86_400_000 + (8 + rng.randrange(10)) * 3_600_000 + rng.randrange(3_600_000)
            msgs["campaign_id"].append(str(30_000_000 + rng.randrange(10_000_000)))
            msgs["list_id"].append(lst[0])
            msgs["list_name"].append(lst[1])
            msgs["template_id"].append(str(templates[7][0]))
            msgs["flow_id"].append(None)
            msgs["is_basic"].append(None)
            msgs["subject"].append(subjects[j % len(subjects)])
            msgs["name"].append(f"{subjects[j % len(subjects)]} ({j})")
            msgs["send_at_ms"].append(send_at)
            msgs["create_ms"].append(send_at - 86_400_000 * (1 + rng.randrange(5)))
    world.table_from("st_messages", msgs)
    world.table_from("st_labels", {"label_id": [x[0] for x in labels], "name": [x[1] for x in labels]})
    world.table_from("st_flows", {"flow_id": [f[0] for f in flows], "name": [f[1] for f in flows],
                                  "version": [f[2] for f in flows]})  # fmt: skip
    world.table_from("st_templates", {"template_id": [str(t[0]) for t in templates], "name": [t[1] for t in templates],
                                      "is_basic": [t[3] for t in templates],
                                      "label_ids": msgs["label_ids"][n_campaigns:]})  # fmt: skip
    audience = world.audience(VENDOR)
    email_budget = round(world.budget(VENDOR) * EMAIL_SHARE)
    sends = max(1, round(email_budget / 1.97))
    n_msgs = len(msgs["msg_idx"])
    world.execute(
        f"""
        create or replace table st_sends as
        with base as (
            select i,
                case when rnd(i, 'st_kind') < 0.65 then rint(i, 'st_campaign', {n_campaigns})
                     else {n_campaigns} + rint(i, 'st_template', {n_msgs - n_campaigns}) end as msg_idx,
                rint(i, 'st_who', {audience}) as k,
                rnd(i, 'r1') as r1, rnd(i, 'r2') as r2, rnd(i, 'r3') as r3
            from range({sends}) r(i)
        )
        select b.*, m.kind, m.campaign_id, m.list_id, m.list_name, m.template_id, m.flow_id, m.is_basic,
            m.subject, m.links,
            case when m.kind = 'campaign' then at_ms(m.send_at_ms + rint(i, 'st_spread', 2 * 3600000))
                 else at_ms(rint(i, 'st_t0', {world.window_ms})) end as send_ts,
            hex16(i, 'st_message_id') || hex8(i, 'st_message_id2') as message_id,
            list_filter(['send',
                case when r1 < 0.03 then 'bounce' end,
                case when r1 >= 0.03 and r2 < 0.45 then 'open' end,
                case when r1 >= 0.03 and r2 < 0.20 then 'open' end,
                case when r1 >= 0.03 and r2 < 0.16 then 'click' end,
                case when r1 >= 0.03 and r2 < 0.07 then 'open' end,
                case when r1 >= 0.03 and r2 < 0.05 then 'click' end,
                case when r1 >= 0.03 and r2 < 0.45 and r3 < 0.03 then 'unsubscribe' end], lambda x: x is not null)
                as steps
        from base b join st_messages m using (msg_idx)
        order by i
        """
    )
    since = layout.EVENT_ID_SINCE.isoformat()
    world.execute(
        f"""
        create or replace table sailthru_events as
        with steps as (
            select s.*, unnest(steps) as action, unnest(range(1, len(steps) + 1)) as step from st_sends s
        ),
        timed as (
            select *, i * 8 + step as ek,
                case when step = 1 then send_ts
                     else send_ts + to_milliseconds(((step - 1) * {STEP_MS} - rint(i * 8 + step, 'st_dt', 30 * 60000))::bigint)
                end as ts
            from steps
        )
        select
            t.ek as seq,
            t.kind || '_' || t.action as tbl,
            case t.kind || '_' || t.action {" ".join(f"when '{t}' then {i}" for i, t in enumerate(layout.EMAIL_EVENT_TABLES))}
            end::smallint as tcode,
            t.ts, t.send_ts, c.signup_at, t.action, t.message_id, t.campaign_id, t.list_id, t.list_name,
            t.template_id, t.flow_id, t.is_basic, t.subject,
            '{layout.CLIENT_ID}' as client_id, c.email_md5, c.email_sha256, c.profile_id,
            {sql_list(ENGAGEMENT)}[1 + rint(c.contact, 'st_engagement', {len(ENGAGEMENT)})] as engagement,
            case when t.ts >= timestamp '{since}' then uuid7_of(t.ts, t.ek, 'st_event_id') end as event_id,
            case when t.action = 'open' then len(list_filter(t.steps[1:t.step], lambda x: x = 'open'))::varchar
                end as count,
            case when t.action in ('open', 'click') then
                {sql_list(BROWSERS)}[1 + rint(t.ek, 'st_browser', {len(BROWSERS)})] end as browser,
            case when t.action in ('open', 'click') then '198.51.100.' || (1 + rint(t.ek, 'st_ip', 254))::varchar
                end as ip,
            case when t.action in ('open', 'click') then 'ipv4' end as ip_type,
            case when t.action in ('open', 'click') then
                {sql_list(USER_AGENTS)}[1 + rint(t.ek, 'st_ua', {len(USER_AGENTS)})] end as user_agent,
            case when t.action = 'open' then (rnd(t.ek, 'st_real') < 0.85)::varchar end as is_real_open,
            case when t.action = 'click' then (rnd(t.ek, 'st_real') < 0.92)::varchar end as is_real_click,
            case when t.action = 'click' then (1 + rint(t.ek, 'st_link', len(t.links)))::varchar end as index,
            case when t.action = 'click' then t.links[1 + rint(t.ek, 'st_link', len(t.links))] end as url,
            case when t.action = 'click' then '1' end as url_count,
            case when t.action in ('bounce', 'unsubscribe') then
                case when t.kind = 'campaign' then 'blast' else 'transactional' end end as message_type,
            case when t.action = 'bounce' then
                case when rnd(t.ek, 'st_bclass') < 0.6
                        then {sql_list(HARD_REASONS)}[1 + rint(t.ek, 'st_reason', {len(HARD_REASONS)})]
                     when rnd(t.ek, 'st_bclass') < 0.9
                        then {sql_list(SOFT_REASONS)}[1 + rint(t.ek, 'st_reason', {len(SOFT_REASONS)})]
                     else {sql_list(OTHER_REASONS)}[1 + rint(t.ek, 'st_reason', {len(OTHER_REASONS)})] end
            end as reason_log,
            c.country as geo_country,
            case t.action when 'send' then 'sent' when 'open' then 'opened' when 'click' then 'clicked'
                when 'bounce' then 'bounced' else 'unsubscribed' end as event_type,
            c.email_sha256 as contact_key
        from timed t join contacts_{VENDOR} c on c.k = t.k
        order by tcode, ts, seq  -- clustered as the files are cut: a file's query reads only its row groups
        """
    )
    mobile = max(1, world.budget(VENDOR) - email_budget)
    world.execute(
        f"""
        create or replace table sailthru_mobile as
        with base as (
            select i, rint(i, 'sm_who', {audience}) as k, at_ms(rint(i, 'sm_t', {world.window_ms})) as ts,
                case when rnd(i, 'sm_type') < 0.8 then 'notification' else 'transactional_notification' end as type,
                case when rnd(i, 'sm_status') < 0.9 then 'success' when rnd(i, 'sm_status') < 0.96 then 'rejected'
                     else 'uninstalled' end as status
            from range({mobile}) r(i)
        ),
        unique_events as (
            -- no two events of one device share (second, type, status): the old rows' fallback key holds
            select b.*, c.device_id, c.profile_id, c.platform, c.contact
            from base b join contacts_{VENDOR} c using (k)
            qualify row_number() over (partition by c.device_id, date_trunc('second', b.ts), b.type, b.status
                                       order by b.i) = 1
        )
        select i as seq, ts,
            '{layout.CLIENT_ID}' as client_id,
            case when platform = 'ios' then 'app-ios-' else 'app-android-' end || hex8(0, 'sm_app') as app_id,
            case when ts >= timestamp '{since}' then uuid7_of(ts, i, 'sm_event_id') end as event_id,
            type, status, platform, profile_id, device_id, 'cust-' || contact::varchar as user_id,
            {sql_list(MOBILE_TITLES)}[1 + rint(i, 'sm_title', {len(MOBILE_TITLES)})] as title,
            case status when 'success' then 'sent' when 'rejected' then 'dropped' else 'bounced' end as event_type,
            'sailthru:' || profile_id as contact_key,
            ts::date + case when {world.has("late")} and rnd(i, 'sm_late') < 0.10 then 1
                            when {world.has("late")} and rnd(i, 'sm_late') < 0.15 then 2 else 0 end as dt
        from unique_events
        order by dt, ts, seq
        """
    )
    world.execute(
        """create or replace view sailthru_truth as
        select 'sailthru' as vendor, event_type, ts as occurred_at, contact_key from sailthru_events
        union all select 'sailthru', event_type, ts, contact_key from sailthru_mobile"""
    )


def _shape_for(world: World, table: str, day: date) -> str:
    r = world.rng(f"shape:{table}:{day}").random()
    if day < layout.EVENT_ID_SINCE:
        return "seconds" if r < 0.6 else "millis"
    return "millis" if r < 0.5 else "iso"


def _columns_for(world: World, table: str, day: date) -> list[str]:
    columns = list(layout.MOBILE_COLUMNS if table == layout.MOBILE_TABLE else layout.EVENT_COLUMNS[table])
    if day < layout.EVENT_ID_SINCE:
        columns.remove("event_id")  # older exports lack the column altogether
    drift_from = world.start + timedelta(days=world.days // 2)
    if world.has("drift") and table in layout.DRIFT_COLUMNS and day >= drift_from:
        columns.append(layout.DRIFT_COLUMNS[table])
    return columns


def _select(columns: list[str], shape: str) -> str:
    fmt = layout.TIME_SHAPES[shape]
    exprs = []
    for col in columns:
        if col == "event_time":
            exprs.append(f"strftime(ts, '{fmt}') as event_time")
        elif col == "send_time":
            exprs.append(f"strftime(send_ts, '{fmt}') as send_time")
        elif col == "signup_time":
            exprs.append(f"strftime(signup_at, '{fmt}') as signup_time")
        else:
            exprs.append(f'"{col}"')
    return ", ".join(exprs)


STRAY_MARKER = "_SUCCESS"
IGNORE = [STRAY_MARKER]  # the generated feeds.yml's `ignore:` for this feed when the `stray` quirk is on


def write(world: World, out: Output, vendor_uri: str) -> None:
    """One job per file; each selects its rows from the events table by (table, day), so no sorted copy of all
    rows is ever built. A folder with more than PART_ROWS rows is split by a hash of the event, as Spark's part
    files are; with `dup` some folders get a catch-up part repeating ~10% of their rows."""
    dup, late, empty = world.has("dup"), world.has("late"), world.has("empty")
    jobs = []
    folders = world.execute(
        "select tcode, ts::date as dt, count(*) from sailthru_events group by all order by all"
    ).fetchall()
    mobile = world.execute("select dt, count(*) from sailthru_mobile group by all order by all").fetchall()
    for tcode, dt, n in [*folders, *((-1, dt, n) for dt, n in mobile)]:
        tbl = layout.MOBILE_TABLE if tcode == -1 else layout.EMAIL_EVENT_TABLES[tcode]
        parts = -(-n // PART_ROWS)
        for part in range(parts):
            jobs.append(_part_job(world, out, tbl, tcode, dt, part, parts, late))
        if dup and world.rng(f"catchup:{tbl}:{dt}").random() < 0.4:
            jobs.append(_part_job(world, out, tbl, tcode, dt, -1, parts, late))
    out.run_jobs(world.con, jobs)
    if world.has("stray"):
        for (
            tcode,
            dt,
            _,
        ) in folders:  # Spark's success marker in each event folder: no rows, no layout claims it
            rel = layout.event_path(layout.EMAIL_EVENT_TABLES[tcode], dt, STRAY_MARKER)
            out.write_bytes(
                rel, b"", Written(rel, VENDOR, None, 0, _arrival(dt, 0), "stray", "success marker")
            )
    if empty:
        tables = sorted({layout.EMAIL_EVENT_TABLES[f[0]] for f in folders})
        first, last = world.start, world.dates()[-1]
        for tbl in tables:
            rel = layout.event_path(tbl, first, layout.part_file_name(_token(world, tbl, first, "header")))
            columns = _columns_for(world, tbl, first)
            rows = out.copy_csv(world.con, f"select {_select(columns, 'seconds')} from sailthru_events where false",
                                None, rel)  # fmt: skip
            out.record(
                Written(rel, VENDOR, layout.raw_table(tbl), rows, _arrival(first, 0), "data", "header-only")
            )
            rel = layout.event_path(tbl, last, layout.part_file_name(_token(world, tbl, last, "empty")))
            out.write_bytes(
                rel, b"", Written(rel, VENDOR, layout.raw_table(tbl), 0, _arrival(last, 0), "data", "empty")
            )
    _write_lookups(world, out)


def _token(world: World, tbl: str, dt: date, what: object) -> str:
    return f"{world.rng(f'token:{tbl}:{dt}:{what}').getrandbits(32):08x}"


def _arrival(dt: date, part: int) -> datetime:
    return datetime(dt.year, dt.month, dt.day) + timedelta(days=1, hours=1, minutes=part)


def _part_job(world: World, out: Output, tbl: str, tcode: int, dt: date, part: int, parts: int, late: bool):
    dup_file = part == -1
    columns = _columns_for(world, tbl, dt)
    shape = _shape_for(world, tbl, dt)
    rel = layout.event_path(tbl, dt, layout.part_file_name(_token(world, tbl, dt, part)))
    rng = world.rng(f"file:{rel}")
    notes = []
    if world.has("drift") and rng.random() < 0.25:
        rng.shuffle(columns)
        notes.append("reordered")
    crlf = world.has("crlf") and rng.random() < 0.2
    bom = world.has("bom") and rng.random() < 0.15
    notes += ["crlf"] * crlf + ["bom"] * bom
    arrives = _arrival(dt, max(part, 0))
    if dup_file:
        notes.append("catch-up duplicate")
        arrives += timedelta(days=3 if late else 0, hours=12)
    elif tbl == layout.MOBILE_TABLE and late:
        arrives += timedelta(hours=1)
    if tcode == -1:
        where, params = "dt = ?", [dt]
    else:
        day = datetime(dt.year, dt.month, dt.day)
        where, params = "tcode = ? and ts >= ? and ts < ?", [tcode, day, day + timedelta(days=1)]
    if dup_file:
        where += " and rnd(seq, 'st_dup') < 0.1"
    elif parts > 1:
        where += " and rint(seq, 'st_part', ?) = ?"
        params += [parts, part]
    source = "sailthru_mobile" if tcode == -1 else "sailthru_events"

    def run(con) -> None:
        rows = out.copy_csv(
            con, f"select {_select(columns, shape)} from {source} where {where} order by ts, seq", params, rel,
            crlf=crlf, bom=bom,
        )  # fmt: skip
        out.record(Written(rel, VENDOR, layout.raw_table(tbl), rows, arrives, "data", ",".join(notes)))

    return run


def _write_lookups(world: World, out: Output) -> None:
    """Full snapshots of every lookup table, once a day at hr=06 and again at hr=18 on the last day."""
    campaign_sql = """
        select campaign_id, client_id, strftime(at_ms(create_ms), '%Y-%m-%d %H:%M:%S') as create_time, name,
            subject, 'Example Shop' as from_name, 'news@shop.example.com' as from_email, list_name,
            strftime(at_ms(send_at_ms), '%Y-%m-%d %H:%M:%S') as schedule_time,
            strftime(at_ms(send_at_ms), '%Y-%m-%d %H:%M:%S') as start_time, template_id, label_ids
        from (select *, '{client}' as client_id from st_messages where kind = 'campaign')
        where at_ms(create_ms) <= ?::timestamp order by campaign_id
    """.replace("{client}", layout.CLIENT_ID)
    template_sql = f"""
        select template_id, '{layout.CLIENT_ID}' as client_id, name, name || ' subject' as subject,
            strftime(at_ms(-86400000::bigint * 400), '%Y-%m-%d %H:%M:%S') as create_time,
            strftime(least(?::timestamp, at_ms(0)) - interval 1 day, '%Y-%m-%d %H:%M:%S') as modify_time,
            is_basic, label_ids
        from st_templates order by template_id
    """
    label_sql = f"select label_id, name, '{layout.CLIENT_ID}' as client_id from st_labels where ?::timestamp is not null order by label_id"
    flow_sql = f"""
        select flow_id, '{layout.CLIENT_ID}' as client_id, name, version::varchar as version,
            strftime(at_ms(-86400000::bigint * 200), '%Y-%m-%d %H:%M:%S') as create_time,
            strftime(least(?::timestamp, at_ms(0)) - interval 2 days, '%Y-%m-%d %H:%M:%S') as modify_time
        from st_flows order by flow_id
    """
    queries = {"campaign": campaign_sql, "template": template_sql, "label": label_sql,
               "lifecycle_optimizer_flow": flow_sql}  # fmt: skip
    dates = world.dates()
    for day in dates:
        for hour in (6, 18) if day == dates[-1] else (6,):
            snapshot = datetime(day.year, day.month, day.day, hour)
            for table, sql in queries.items():
                slash = not (world.has("seed_path") and table in ("label", "lifecycle_optimizer_flow")
                             and day.toordinal() % 2 == 1)  # fmt: skip
                rel = layout.lookup_path(table, day, hour, layout.part_file_name(_token(world, table, day, hour)),
                                         slash=slash)  # fmt: skip
                rows = out.copy_csv(world.con, sql, [snapshot], rel)
                out.record(Written(rel, VENDOR, layout.raw_table(table), rows, snapshot + timedelta(minutes=10),
                                   "lookup", "" if slash else "seed path form"))  # fmt: skip
