"""The ground truth agrees with the files (recounted here from the files alone, with DuckDB and the documented
dedupe keys), the same seed gives the same bytes, and another seed gives other data."""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from fixtures.destinations import parse_destination
from fixtures.run import export
from fixtures.truth import read_contacts, read_events
from loaders.vendors import encharge as encharge_layout
from loaders.vendors import leanplum as leanplum_layout

ARGS = {"seed": 11, "contacts": 300, "events": 8_000, "start": "2024-03-18", "days": 4}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("truth") / "out"
    export(parse_destination(f"file://{root}"), **ARGS)
    return root


def raw_rows(root: Path) -> dict[str, int]:
    with open(root / "truth" / "raw_rows.csv", newline="") as fh:
        return {r["raw_table"]: int(r["rows"]) for r in csv.DictReader(fh)}


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def nonempty(root: Path, pattern: str) -> list[str]:
    return sorted(str(p) for p in root.glob(pattern) if p.is_file() and p.stat().st_size > 0)


SAILTHRU_TIME = """coalesce(try_strptime(event_time, '%Y-%m-%dT%H:%M:%S.%gZ'),
    try_strptime(event_time, '%Y-%m-%d %H:%M:%S.%g'), try_strptime(event_time, '%Y-%m-%d %H:%M:%S'))"""


def recount(root: Path) -> tuple[Counter, set[str]]:
    """(vendor, event_type, date) -> distinct events, and the contact keys, from the files only."""
    con = duckdb.connect()
    events: Counter = Counter()
    contacts: set[str] = set()

    def add(vendor: str, sql: str, params: list | dict | None = None) -> None:
        con.execute(f"create or replace temp table t as {sql}", params or [])
        for et, day, n in con.execute("select event_type, day, count(*) from t group by all").fetchall():
            events[(vendor, et, day.isoformat())] += n
        contacts.update(r[0] for r in con.execute("select distinct contact_key from t").fetchall())

    st = root / "sailthru"
    parts = []
    for kind in ("campaign", "triggered"):
        for action, et in (("send", "sent"), ("open", "opened"), ("click", "clicked"), ("bounce", "bounced"),
                           ("unsubscribe", "unsubscribed")):  # fmt: skip
            files = nonempty(st, f"{kind}_{action}/**/*.csv")
            url = "url" if action == "click" else "null"
            parts.append(
                f"""select '{kind}_{action}' as tbl, '{et}' as event_type, {SAILTHRU_TIME} as ts,
                    coalesce(event_id, message_id || '|' || ts::varchar || '|' || coalesce({url}, '')) as k,
                    email_sha256 as contact_key
                from read_csv({files!r}, all_varchar = true, union_by_name = true)"""
            )
    add(
        "sailthru",
        f"select distinct tbl, k, event_type, ts::date as day, contact_key from ({' union all '.join(parts)})",
    )
    files = nonempty(st, "mobile_notifications/**/*.csv")
    add(
        "sailthru",
        f"""select distinct coalesce(event_id, device_id || '|' || ts::varchar || type || status),
            case status when 'success' then 'sent' when 'rejected' then 'dropped' else 'bounced' end as event_type,
            ts::date as day, 'sailthru:' || profile_id as contact_key
        from (select *, {SAILTHRU_TIME} as ts from read_csv({files!r}, all_varchar = true, union_by_name = true))""",
    )

    sm = root / "simon"
    texts, jsonl = nonempty(sm, "**/*.csv"), nonempty(sm, "**/*.jsonl")
    # a TSV file comes named .csv: its first line tells
    tsvs = [p for p in texts if b"\t" in Path(p).read_bytes().split(b"\n", 1)[0]]
    csvs = [p for p in texts if p not in tsvs]
    add(
        "simon",
        # the document: "for each contact, one entry for the data feed and one for each applicable flow action":
        # the entry (empty action) is the membership change, a row with an action a flow step
        f"""select distinct *, case when nullif(action, '') is not null then 'flow_step_performed'
            when operation = 'add' then 'segment_added' else 'segment_removed' end as event_type, strptime(timestamp, '%Y-%m-%d %H:%M:%S')::date as day,
            case when regexp_full_match(identifier, '[0-9a-f]{{64}}') then identifier
                 else sha256(lower(trim(identifier))) end as contact_key
        from (select * from read_csv({csvs!r}, all_varchar = true, union_by_name = true)
              union all by name select * from read_csv({tsvs!r}, all_varchar = true, union_by_name = true, delim = '\t')
              union all by name select * from read_json({jsonl!r}, format = 'newline_delimited', union_by_name = true))""",
    )

    ap = nonempty(root / "apsis", "*.csv.gz")
    add(
        "apsis",
        f"""select distinct correlation_id, type,
            -- "5000-5999 Informational (out of office, auto reply etc.)" is no bounce
            case when type = 'BOUNCED' and bounce_code::integer between 5000 and 5999 then 'auto_replied'
                else lower(case type when 'ABUSE' then 'spam_reported' when 'OPENED' then 'opened'
                when 'CLICKED' then 'clicked' else type end) end as event_type,
            -- event_time 0, or "dates in 1970 ... when the event source specified the event time as 0"
            epoch_ms(case when event_time::bigint < 31536000000 then server_time else event_time end::bigint)::date
                as day,
            sha256(lower(trim(address))) as contact_key
        from read_csv({ap!r}, all_varchar = true, union_by_name = true)""",
    )

    en = nonempty(root / "encharge", "**/*.ndjson")
    rows = con.execute(
        f"""select distinct json->>'event', epoch_ms((json->>'timestamp')::bigint)::date,
            sha256(lower(trim(json->'user'->>'email'))), json::varchar
        from read_json_objects({en!r}, format = 'newline_delimited')"""
    ).fetchall()
    for event, day, key, _ in rows:
        events[("encharge", encharge_layout.event_type_of(event), day.isoformat())] += 1
        contacts.add(key)

    # the document: `name` is formatted "based on channel and event type": map a message on its channel and
    # event_type, a campaign event on its event_type (both by the seed's headings; a sent message's type is the
    # example's `Send`), an A/B test impression by its heading
    canonical: dict[str, str] = {}
    for title, (et, channel) in leanplum_layout.CANONICAL.items():
        if channel:
            head = leanplum_layout.CHANNELS[channel]
            kind = title.split(" ", 2 if title.startswith(("Push", "App Inbox", "In-App")) else 1)[-1]
            canonical[f"{head}|{kind}"] = et
            if kind == "Sent":
                canonical[f"{head}|Send"] = et
        elif title.startswith("Campaign "):
            canonical["Campaign|" + title.removeprefix("Campaign ")] = et
        else:
            canonical[leanplum_layout.NAME_PREFIX + title] = et
    lj = nonempty(root / "leanplum" / "json", "**/*.json*")
    lp = nonempty(root / "leanplum" / "parquet", "**/*.parquet")
    rows = con.execute(
        f"""select distinct event_id, name, day, contact_key from (
            select json->>'event_id' as event_id,
                case when (json->'properties'->>'channel') is not null
                    then (json->'properties'->>'channel') || '|' || (json->'properties'->>'event_type')
                    when (json->'properties'->>'event_type') is not null
                    then 'Campaign|' || (json->'properties'->>'event_type') else json->>'name' end as name,
                strptime(json->'properties'->>'time', '%Y-%m-%d %H:%M:%S.%g')::date as day,
                'leanplum:' || (json->'properties'->>'user_id') as contact_key
            from read_json_objects({lj!r}, format = 'newline_delimited', compression = 'auto')
            union all
            select event_id, case when "Message".channel is not null
                    then "Message".channel || '|' || "Message".event_type
                    when "Campaign".event_type is not null then 'Campaign|' || "Campaign".event_type else name end,
                epoch_ms(time)::date,
                coalesce(sha256(lower(trim(user_attributes['email']))), 'leanplum:' || user_id)
            from read_parquet({lp!r}))"""
    ).fetchall()
    assert len({r[0] for r in rows}) == len(rows), "one event_id, one event"
    for _, name, day, key in rows:
        events[("leanplum", canonical[name], day.isoformat())] += 1
        contacts.add(key)
    return events, contacts


def test_truth_agrees_with_the_files(exported: Path) -> None:
    events, contacts = recount(exported)
    truth = read_events(exported)
    assert {k for k, v in events.items() if v} == set(truth)
    for key, n in truth.items():
        assert events[key] == n, f"{key}: files hold {events[key]} distinct events, truth says {n}"
    assert sorted(contacts) == read_contacts(exported)
    vendors = {k[0] for k in truth}
    assert vendors == {"sailthru", "simon", "apsis", "encharge", "leanplum"}


def test_duplicates_are_really_there(exported: Path) -> None:
    """With quirks on, the files hold more rows than distinct events: the dedupe has work to do."""
    raw = raw_rows(exported)
    truth = read_events(exported)
    per_vendor = Counter()
    for (vendor, _, _), n in truth.items():
        per_vendor[vendor] += n
    assert raw["apsis__email_events"] > per_vendor["apsis"]
    assert raw["encharge__events"] > per_vendor["encharge"]
    assert raw["leanplum__events"] + raw["leanplum__events_parquet"] > per_vendor["leanplum"]
    assert raw["simon__flow_events"] > per_vendor["simon"]


def test_same_seed_same_bytes_other_seed_other_data(exported: Path, tmp_path: Path) -> None:
    # control files name the destination, so the second run writes to the same path; the first ran in one
    # process, the second in two worker processes (as exports from 200 k events do): the same bytes
    first = digest(exported)
    moved = tmp_path / "first"
    shutil.move(str(exported), moved)
    try:
        export(parse_destination(f"file://{exported}"), **ARGS, workers=2)
        assert digest(exported) == first
    finally:
        shutil.rmtree(exported, ignore_errors=True)
        shutil.move(str(moved), exported)
    other = tmp_path / "other"
    export(parse_destination(f"file://{other}"), **{**ARGS, "seed": 12})
    assert read_events(other) != read_events(exported)
    assert read_contacts(other) != read_contacts(exported)


def test_quirks_switch_off(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    export(parse_destination(f"file://{clean}"), **{**ARGS, "events": 3_000}, quirks=[])
    text = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
    data = [p.read_bytes() for p in clean.rglob("*") if p.suffix in text and "truth" not in p.parts]
    assert data
    assert not any(b.startswith(b"\xef\xbb\xbf") or b"\r\n" in b or b == b"" for b in data)
    raw = raw_rows(clean)
    truth = read_events(clean)
    assert raw["encharge__events"] == sum(n for (v, _, _), n in truth.items() if v == "encharge")
    assert raw["apsis__email_events"] == sum(n for (v, _, _), n in truth.items() if v == "apsis")
    assert not list(clean.glob("leanplum/json/**/*-09999.json"))
