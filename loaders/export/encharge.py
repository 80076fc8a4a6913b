"""Encharge Activity Stream fixture: every event kind of the seed document, either written as the NDJSON our
receiver lands (`dt=<day>/encharge-events-<stamp>-<token>.ndjson`, rotated each hour or 50,000 events) or
POSTed to a receiver URL with at-least-once retries (`post_events`).

Email events follow a funnel per sent e-mail (delivered or bounce/blocked/dropped, then open, click, reply,
spam report); people get created, updated, tagged, unsubscribed, walk flow steps, visit pages, submit forms,
get SMS, and custom objects and associations change. With `dup` some events are delivered twice, as the
vendor's retries would (same JSON, a later file).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

from ..vendors import encharge as layout
from .files import Output, Written
from .world import World

VENDOR = "encharge"
FILE_EVENTS = 50_000
STEP_MS = 37 * 60_000
EMAILS = [(59969, "Welcome email", "48918", "Onboarding"), (59970, "Tips day 3", "48918", "Onboarding"),
          (61002, "Trial ending", "49120", "Trial conversion"), (61003, "Last chance", "49120", "Trial conversion"),
          (62510, "March newsletter", None, None), (62777, "Product update", None, None)]  # fmt: skip
# other kinds: (weight, event-name SQL, type, properties SQL); `x` is the row, `c` the contact
OTHER_KINDS = [
    (6, "'newUser'", "newUser", "json_object('source', 'form')"),
    (
        12,
        "'updatedUser'",
        "updatedUser",
        "json_object('changedFields', json_object('company', json_object('newValue', 'Encharge', 'oldValue', 'Acme')),"
        " 'source', 'manual')",
    ),
    (2, "'unsubscribedUser'", "unsubscribedUser", "json_object('reason', 'link')"),
    (10, "'added-tag-' || x.tag", "tag", "json_object('tag', x.tag)"),
    (4, "'removed-tag-' || x.tag", "tag", "json_object('tag', x.tag)"),
    (15, "'performed-step:' || x.step_id", "step", "json_object('stepId', x.step_id, 'flowId', x.flow_id)"),
    (
        2,
        "'errored-step:' || x.step_id",
        "step",
        "json_object('stepId', x.step_id, 'flowId', x.flow_id, 'error', 'Missing field: first name')",
    ),
    (25, "'page-visited'", "page", "json_object('url', x.page_url)"),
    (
        6,
        "'form-submitted'",
        "form",
        "json_object('url', x.page_url, 'form', json_object('email', c.email, 'plan', 'pro'))",
    ),
    (8, "'sms-sent'", "sms", "json_object('message', 'Your code is ' || (100000 + x.n % 900000)::varchar)"),
    (1, "'sms-failed'", "sms", "json_object('message', 'Your order shipped', 'reason', 'Invalid number')"),
    (
        3,
        "'newObject-company'",
        "object",
        "json_object('object', json_object('id', x.n % 5000, 'name', 'Company ' || (x.n % 5000)::varchar))",
    ),
    (
        3,
        "'updatedObject-invoice'",
        "object",
        "json_object('object', json_object('id', x.n % 9000), 'changedFields', json_object('status',"
        " json_object('newValue', 'paid', 'oldValue', 'open')))",
    ),
    (
        1,
        "'deletedObject-company'",
        "object",
        "json_object('id', x.n % 5000, 'externalId', 'ext-' || (x.n % 5000)::varchar)",
    ),
    (
        1,
        "'newAssociation-' || (120 + x.n % 4)::varchar",
        "association",
        "json_object('associationId', 120 + x.n % 4, 'fromId', x.n % 5000, 'fromObject', 'company', 'toId', x.n % 9000,"
        " 'toObject', 'invoice')",
    ),
    (
        1,
        "'deletedAssociation-' || (120 + x.n % 4)::varchar",
        "association",
        "json_object('associationId', 120 + x.n % 4, 'fromId', x.n % 5000, 'fromObject', 'company', 'toId', x.n % 9000,"
        " 'toObject', 'invoice')",
    ),
]


def generate(world: World) -> None:
    world.table_from(
        "en_emails",
        {
            "email_idx": list(range(len(EMAILS))),
            "email_id": [e[0] for e in EMAILS],
            "email_name": [e[1] for e in EMAILS],
            "flow_id": [e[2] for e in EMAILS],
            "flow_name": [e[3] for e in EMAILS],
        },
    )
    audience = world.audience(VENDOR)
    budget = world.budget(VENDOR)
    instances = max(1, round(budget * 0.6 / 1.75))
    others = max(1, budget - round(instances * 1.75))
    total_weight = sum(k[0] for k in OTHER_KINDS)
    bounds, acc = [], 0
    for weight, *_ in OTHER_KINDS:
        acc += weight
        bounds.append(acc / total_weight)
    kind_case = (
        "case "
        + " ".join(f"when x.r < {b!r} then {i}" for i, b in enumerate(bounds))
        + f" else {len(bounds) - 1} end"
    )
    name_case = "case x.kind " + " ".join(f"when {i} then {k[1]}" for i, k in enumerate(OTHER_KINDS)) + " end"
    type_case = (
        "case x.kind " + " ".join(f"when {i} then '{k[2]}'" for i, k in enumerate(OTHER_KINDS)) + " end"
    )
    props_case = (
        "case x.kind " + " ".join(f"when {i} then {k[3]}" for i, k in enumerate(OTHER_KINDS)) + " end"
    )
    world.execute(
        f"""
        create or replace table encharge_events as
        with sends as (
            select i, rint(i, 'en_email', {len(EMAILS)}) as email_idx, rint(i, 'en_who', {audience}) as k,
                rnd(i, 'r1') as r1, rnd(i, 'r2') as r2, rnd(i, 'r3') as r3,
                at_ms(rint(i, 'en_t0', {world.window_ms})) as t0
            from range({instances}) r(i)
        ),
        email_steps as (
            select s.*, e.*, unnest(st) as event, unnest(range(1, len(st) + 1)) as step
            from (select *, list_filter([
                    case when r1 < 0.03 then 'email-bounce' when r1 < 0.05 then 'email-blocked'
                         when r1 < 0.08 then 'email-dropped' else 'email-delivered' end,
                    case when r1 >= 0.08 and r2 < 0.50 then 'email-open' end,
                    case when r1 >= 0.08 and r2 < 0.15 then 'email-open' end,
                    case when r1 >= 0.08 and r2 < 0.20 then 'email-click' end,
                    case when r1 >= 0.08 and r2 < 0.50 and r3 < 0.03 then 'email-reply'
                         when r1 >= 0.08 and r3 > 0.996 then 'email-spamreport' end], lambda v: v is not null) as st
                  from sends) s join en_emails e using (email_idx)
        ),
        email_events as (
            select 2 * (i * 8 + step) as n, k, event, 'email' as type,
                case when step = 1 then t0
                     else t0 + to_milliseconds(((step - 1) * {STEP_MS} - rint(i * 8 + step, 'en_dt', 1800000))::bigint)
                end as ts,
                case when event = 'email-click' then
                        json_object('emailId', email_id, 'flowId', flow_id, 'flowName', flow_name, 'emailName', email_name,
                                    'url', 'https://www.example.com/e' || email_id::varchar || '/cta')
                     when event = 'email-dropped' then
                        json_object('emailId', email_id, 'flowId', flow_id, 'flowName', flow_name, 'emailName', email_name,
                                    'reason', 'unsubscribed')
                     else json_object('emailId', email_id, 'flowId', flow_id, 'flowName', flow_name, 'emailName', email_name)
                end as properties
            from email_steps
        ),
        other_base as (
            select i as n, rint(i, 'en_owho', {audience}) as k, rnd(i, 'en_kind') as r,
                ['trial', 'customer', 'vip', 'webinar-2024', 'churn-risk'][1 + rint(i, 'en_tag', 5)] as tag,
                (700 + rint(i, 'en_step', 40))::varchar as step_id, ['48918', '49120'][1 + rint(i, 'en_flow', 2)] as flow_id,
                'https://www.example.com/' || ['pricing', 'blog/launch', 'docs/start', 'signup'][1 + rint(i, 'en_page', 4)]
                    as page_url,
                at_ms(rint(i, 'en_ot', {world.window_ms})) as ts
            from range({others}) r(i)
        ),
        other_events as (
            select 2 * x.n + 1 as n, x.k, {name_case} as event, {type_case} as type, x.ts, {props_case} as properties
            from (select *, {kind_case} as kind from other_base x) x join contacts_{VENDOR} c on c.k = x.k
        ),
        all_events as (select * from email_events union all select * from other_events)
        select a.n as seq, a.n, a.event, a.type, a.ts, a.properties::varchar as properties,
            c.encharge_id as user_id, c.email, c.email_sha256 as contact_key,
            case
                {" ".join(f"when a.event = '{e}' then '{t}'" for e, (_, t) in layout.EVENTS.items())}
                {" ".join(f"when starts_with(a.event, '{p}') then '{t}'" for p, _, t in layout.PATTERNS)}
            end as event_type,
            epoch_ms(a.ts) + 200 + rint(a.n, 'en_recv', 2800) as received_ms
        from all_events a join contacts_{VENDOR} c on c.k = a.k
        -- one person does not do the same thing twice in one millisecond: the dedupe hash stays exact
        qualify row_number() over (partition by a.event, c.encharge_id, a.ts order by a.n) = 1
        """
    )
    world.execute(
        f"""create or replace table encharge_rows as
        select *, json_object('event', event, 'type', type, 'properties', properties::json,
            'user', json_object('id', user_id, 'email', email), 'timestamp', epoch_ms(ts))::varchar as line, 0 as copy
        from encharge_events
        union all
        select * replace (received_ms + 30000 + rint(seq, 'en_retry_ms', 270000) as received_ms),
            json_object('event', event, 'type', type, 'properties', properties::json,
            'user', json_object('id', user_id, 'email', email), 'timestamp', epoch_ms(ts))::varchar as line, 1 as copy
        from encharge_events where {world.has("dup")} and rnd(seq, 'en_dup') < 0.02
        order by received_ms, seq, copy"""
    )
    world.execute("create or replace view encharge_truth as select 'encharge' as vendor, event_type, ts as occurred_at, "
                  "contact_key from encharge_events")  # fmt: skip


def write(world: World, out: Output, vendor_uri: str) -> None:
    """A file per hour of receipt (or per 50,000 events), each selected from the deliveries by receipt time."""
    hours = world.execute(
        "select received_ms // 3600000 as h, count(*) from encharge_rows group by all order by all"
    ).fetchall()
    files = []
    for h, n in hours:
        lo, hi = h * 3_600_000, (h + 1) * 3_600_000
        bounds = [lo]
        if n > FILE_EVENTS:
            times = world.execute(
                "select received_ms from encharge_rows where received_ms >= ? and received_ms < ?"
                " order by received_ms, seq, copy",
                [lo, hi],
            ).fetchall()
            bounds += [times[k][0] for k in range(FILE_EVENTS, len(times), FILE_EVENTS)]
        bounds.append(hi)
        files += [(h, chunk, bounds[chunk], bounds[chunk + 1]) for chunk in range(len(bounds) - 1)]

    def job(h: int, chunk: int, lo: int, hi: int):
        def run(con) -> None:
            rows = con.execute(
                "select min(received_ms), count(*) from encharge_rows where received_ms >= ? and received_ms < ?",
                [lo, hi],
            ).fetchall()[0]
            if not rows[1]:
                return
            opened = _utc_naive(rows[0] // 1000 * 1000)
            token = f"{world.rng(f'encharge-file:{h}:{chunk}').getrandbits(32):08x}"
            rel = layout.landing_path(opened, token)
            data = out.text_lines(
                con,
                "select line || chr(10) from encharge_rows where received_ms >= ? and received_ms < ?"
                " order by received_ms, seq, copy",
                [lo, hi],
            )
            closed = _utc_naive(h * 3_600_000) + timedelta(hours=1)
            out.write_bytes(rel, data, Written(rel, VENDOR, layout.TABLE, rows[1], closed, "data"))

        return run

    out.run_jobs(world.con, [job(*f) for f in files])


def _utc_naive(ms: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


def event_payloads(world: World) -> list[dict]:
    """Every delivery (duplicates included) as the JSON object Encharge would POST, in receipt order."""
    world.ensure(VENDOR)
    rows = world.execute("select line from encharge_rows order by received_ms, seq, copy").fetchall()
    return [json.loads(r[0]) for r in rows]


def post_events(
    world: World,
    url: str,
    secret: str | None = None,
    *,
    batch: int = 100,
    attempts: int = 8,
    secret_header: str = "X-Webhook-Secret",
    timeout: float = 10.0,
) -> int:
    """POST the world's Encharge events to a receiver, `batch` per request (a JSON array), retrying each
    request until it gets a 2xx: at least once, so a lost answer may repeat a batch. Returns events acknowledged.
    `secret` is the shared secret's value (the caller reads it from wherever it is kept)."""
    import requests

    payloads = event_payloads(world)
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[secret_header] = secret
    acknowledged = 0
    with requests.Session() as session:
        for start in range(0, len(payloads), batch):
            body = json.dumps(payloads[start : start + batch], separators=(",", ":")).encode()
            for attempt in range(attempts):
                try:
                    reply = session.post(url, data=body, headers=headers, timeout=timeout)
                except requests.RequestException as exc:
                    error = f"{type(exc).__name__}: {exc}"
                else:
                    if 200 <= reply.status_code < 300:
                        acknowledged += len(payloads[start : start + batch])
                        break
                    if 400 <= reply.status_code < 500 and reply.status_code not in (408, 429):
                        raise RuntimeError(f"POST {url}: {reply.status_code} {reply.text[:200]} -- the receiver refused "
                                           "the events; check its secret and body limits")  # fmt: skip
                    error = f"HTTP {reply.status_code}"
                time.sleep(min(0.1 * 2**attempt, 5.0))
            else:
                raise RuntimeError(f"POST {url}: gave up after {attempts} attempts ({error})")
    return acknowledged
