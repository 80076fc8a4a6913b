"""The dbt project on a real warehouse: every vendor's quirks through `feeds load` and `dbt build`.

(a) the full build (models, data tests, unit tests) is green and the mart holds exactly the distinct events
and contacts worked out by hand in `tests/mart_fixture.py`; (c) loading day by day with incremental builds
in between (late files, duplicate files) gives every mart exactly what a full refresh gives.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export
from tests import mart_fixture as fx

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MARTS = [
    "fct_engagement_events",
    "agg_engagement_daily",
    "dim_contacts",
    "dim_campaigns",
    "fct_segment_membership",
]
# the marts, the incremental tables beside them and a health table summed from one: the equality tests
# compare them with a full refresh
INCREMENTAL = [
    *(f"marts.{m}" for m in MARTS),
    "intermediate.int_feed_event_days",
    "health.vendor_events_daily",
]

pytestmark = pytest.mark.slow


def dbt(args: list[str], warehouse: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """dbt as a user runs it, with its own target/log folders so parallel runs never share state."""
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "DBT_PROFILES_DIR": str(REPO)}
    cmd = [str(BIN / "dbt"), *args, "--project-dir", str(REPO), "--profiles-dir", str(REPO),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs")]  # fmt: skip
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    )
    return result


def load(feeds_yml: Path, warehouse: Path) -> None:
    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse)}
    result = subprocess.run([str(BIN / "feeds"), "load", "--config", str(feeds_yml)], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"feeds load failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_all_vendors_build_and_match_the_hand_worked_answer(tmp_path: Path) -> None:
    feeds = fx.write_feeds_yml(tmp_path / "feeds")
    for day in fx.DAYS:
        fx.write_day(tmp_path / "feeds", day)
    warehouse = tmp_path / "wh.duckdb"
    load(feeds, warehouse)
    out = dbt(["build"], warehouse, tmp_path).stdout
    assert "PASS stg_sailthru__campaign_open::sailthru_event_time_shapes_to_utc" in out.replace("  ", " ")

    got = {
        (v, t, str(d)): n
        for v, t, d, n in rows(
            warehouse,
            "select source_vendor, event_type, occurred_date, count(distinct engagement_event_id)"
            " from marts.fct_engagement_events group by all",
        )
    }
    assert got == fx.EXPECTED_EVENTS
    # the health mart's events per vendor and day of the event: the hand-worked events summed over event types
    per_day: dict[tuple[str, str], int] = {}
    for (vendor, _, day), n in fx.EXPECTED_EVENTS.items():
        per_day[(vendor, day)] = per_day.get((vendor, day), 0) + n
    daily = rows(warehouse, "select source_vendor, occurred_date, events from health.vendor_events_daily")
    assert {(v, str(d)): n for v, d, n in daily} == per_day and len(daily) == len(per_day)
    contacts = {r[0] for r in rows(warehouse, "select distinct contact_key from marts.fct_engagement_events")}
    assert contacts == fx.EXPECTED_CONTACTS
    dim = {r[0] for r in rows(warehouse, "select contact_key from marts.dim_contacts")}
    assert dim == fx.EXPECTED_CONTACTS

    # the latest lookup snapshot names the campaign; Sailthru's machine open is flagged and not counted
    assert rows(warehouse, "select campaign_name from marts.dim_campaigns where campaign_id = 'c100'") == [
        ("Spring",)
    ]
    agg = rows(
        warehouse,
        "select opens, unique_opens, machine_opens from marts.agg_engagement_daily"
        " where source_vendor = 'sailthru' and occurred_date = date '2024-05-02' and channel = 'email'",
    )
    assert agg == [(1, 1, 1)]
    bounces = dict(rows(warehouse, "select source_event_id, bounce_type from marts.fct_engagement_events"
                                   " where event_type = 'bounced'"))  # fmt: skip
    assert bounces == {"a3": "hard", "B1": "hard", "M2": "hard"}
    # APSIS 5xxx is an auto reply in no bounce figure; a 1970 event_time falls back to server_time
    assert rows(warehouse, "select event_type, bounce_type, bounce_code from marts.fct_engagement_events"
                           " where source_event_id = 'a4'") == [("auto_replied", None, "5001")]  # fmt: skip
    assert (
        rows(warehouse, "select occurred_at from marts.fct_engagement_events where source_event_id = 'a6'")[
            0
        ][0].isoformat()
        == "2024-05-01T14:00:00"
    )
    assert rows(
        warehouse, "select sum(bounces) from marts.agg_engagement_daily where source_vendor = 'apsis'"
    ) == [(1,)]
    # Leanplum: Exit is a single-conversion, Forced Exit the only exit, a formatted name mapped by its fields
    lp = dict(rows(warehouse, "select source_event_id, event_type || ':' || coalesce(properties->>'event_detail', '')"
                              " from marts.fct_engagement_events where source_vendor = 'leanplum'"))  # fmt: skip
    assert lp["L5"] == "sent:" and lp["L6"] == "campaign_converted:single_conversion"
    assert lp["L7"] == "campaign_exited:forced_exit"
    # Encharge unsubscribedUser is an e-mail unsubscribe
    assert rows(warehouse, "select channel from marts.fct_engagement_events where source_vendor = 'encharge'"
                           " and event_type = 'unsubscribed'") == [("email",)]  # fmt: skip
    # rows that cannot be placed are beside the fact, with file and line; the build above passed
    rejects = rows(warehouse, "select reject_reason, source_vendor, source_uri, source_row"
                              " from marts.fct_engagement_event_rejects")  # fmt: skip
    assert {(r, v): 1 for r, v, _, _ in rejects} == fx.EXPECTED_REJECTS and len(rejects) == 2
    assert all(uri and line for _, _, uri, line in rejects)
    assert any(uri.endswith(fx.LEANPLUM_DAY_2) for _, _, uri, _ in rejects)  # a quote in the file's name
    assert "WARN 2 no_rows_fct_engagement_event_rejects" in " ".join(out.split())
    # Simon: memberships from the entry rows only; the action row is a flow step named by its action
    steps = rows(warehouse, "select source_event_name, flow_name from marts.fct_engagement_events"
                            " where event_type = 'flow_step_performed' and source_vendor = 'simon'")  # fmt: skip
    assert steps == [("Send Email", "Welcome")]
    # the control file's flow_ID reaches flow_id through the loader's lineage column `_control_flow_id`
    lineage = rows(warehouse, "select count(*) from information_schema.columns where table_schema = 'raw'"
                              " and table_name = 'simon__flow_events' and column_name = '_control_flow_id'")  # fmt: skip
    flow_ids = {r[0] for r in rows(warehouse, "select flow_id from marts.fct_engagement_events"
                                              " where source_vendor = 'simon'")}  # fmt: skip
    assert flow_ids == ({"7"} if lineage == [(1,)] else {None})
    # Ben's remove came without an add: an interval of unknown start
    assert rows(
        warehouse, "select has_unknown_start, is_current from marts.fct_segment_membership order by 1"
    ) == [(False, True), (True, False)]
    # unmapped vendor columns travel in properties: APSIS attributes and tags, Simon custom contexts
    props = rows(
        warehouse, "select properties from marts.fct_engagement_events where source_event_id = 'a2'"
    )[0][0]
    assert '"vip (version_id: 77)":"TAG"' in props and '"gender (version_id: 491874)":"f"' in props

    # no clear-text email anywhere past staging
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where table_schema in ('intermediate', 'marts') and data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            for email in fx.CLEAR_TEXT_EMAILS:
                hits = con.execute(
                    f'select count(*) from "{schema}"."{table}" where lower("{column}") like ?',
                    [f"%{email}%"],
                ).fetchall()[0][0]
                assert hits == 0, f"{schema}.{table}.{column} holds a clear-text email"


def test_a_vendor_switched_on_before_its_first_load_builds_empty(tmp_path: Path) -> None:
    """APSIS is switched on (the default) but its feed has never loaded: no raw table. The build, its unit
    tests included, passes; nothing is skipped; APSIS's models are empty and the other vendors fill the mart."""
    root = tmp_path / "feeds"
    feeds = fx.write_feeds_yml(root)
    for day in fx.DAYS:
        fx.write_day(root, day)
    config = yaml.safe_load(feeds.read_text())
    config["feeds"] = [f for f in config["feeds"] if f["vendor"] != "apsis"]
    feeds.write_text(yaml.safe_dump(config))
    warehouse = tmp_path / "wh.duckdb"
    load(feeds, warehouse)
    assert rows(
        warehouse, "select count(*) from information_schema.tables where table_name like 'apsis%'"
    ) == [(0,)]
    out = " ".join(dbt(["build"], warehouse, tmp_path).stdout.split())
    assert "ERROR=0" in out and "SKIP=0" in out
    for test in ("apsis_event_time_zero_falls_back_to_server_time", "apsis_1970_event_time_falls_back_to_server_time",
                 "apsis_informational_bounce_is_an_auto_reply"):  # fmt: skip
        assert re.search(rf"PASS stg_apsis__email_events::{test} |PASS int_apsis__events::{test} ", out), test
    assert rows(warehouse, "select count(*) from staging.stg_apsis__email_events") == [(0,)]
    vendors = {
        r[0] for r in rows(warehouse, "select distinct source_vendor from marts.fct_engagement_events")
    }
    assert vendors == {"sailthru", "simon", "encharge", "leanplum"}


def _snapshot(warehouse: Path) -> dict[str, set[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: set(con.execute(f"select * from {t}").fetchall()) for t in INCREMENTAL}


def test_incremental_runs_equal_a_full_refresh(tmp_path: Path) -> None:
    root = tmp_path / "feeds"
    feeds = fx.write_feeds_yml(root)
    warehouse = tmp_path / "wh.duckdb"

    fx.write_day(root, 1)
    load(feeds, warehouse)
    dbt(["build", "--full-refresh", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
    for day in (2, 3):
        fx.write_day(root, day)
        load(feeds, warehouse)
        dbt(["run"], warehouse, tmp_path)
    # late and duplicate files: yesterday's Leanplum file again under a new name, and a late APSIS window
    spilled = root / "leanplum/dt=2024-05-03/leanplum-events-20240503-00009.json"
    spilled.parent.mkdir(parents=True)
    shutil.copy(root / fx.LEANPLUM_DAY_2, spilled)
    load(feeds, warehouse)
    dbt(["run"], warehouse, tmp_path)
    run_sql = (tmp_path / "target/run/engagement/models/marts/events/fct_engagement_events.sql").read_text()
    assert "merge into" in run_sql.lower()  # the last run really was incremental

    incremental = _snapshot(warehouse)
    # the rejects are incremental too (rows loaded on days 2 and 3): the same rows, none twice after the
    # lookback re-read them
    rejects_sql = "select * from marts.fct_engagement_event_rejects order by all"
    incremental_rejects = rows(warehouse, rejects_sql)
    dbt(["build", "--full-refresh", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
    full = _snapshot(warehouse)
    assert len(incremental_rejects) == 3 and rows(warehouse, rejects_sql) == incremental_rejects
    for table in INCREMENTAL:
        assert incremental[table] == full[table], f"{table}: incremental differs from a full refresh"
    counts = {
        (v, t, str(d)): n
        for v, t, d, n in rows(
            warehouse,
            "select source_vendor, event_type, occurred_date, count(*) from marts.fct_engagement_events group by all",
        )
    }
    assert counts == fx.EXPECTED_EVENTS


def _feeds_yml(root: Path, suffix: str) -> Path:
    """The export's feeds.yml with feed names made unique, so several exports load into one warehouse."""
    config = yaml.safe_load((root / "feeds.yml").read_text())
    for feed in config["feeds"]:
        feed["name"] = f"{feed['name']}_{suffix}"
    path = root / f"feeds.{suffix}.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _mart_rows(warehouse: Path) -> dict[str, Counter[tuple]]:
    """Every mart as a multiset of rows: a row kept twice by a wrong delete+insert is a difference."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {t: Counter(con.execute(f"select * from {t}").fetchall()) for t in INCREMENTAL}


# The base world, then late exports of the same seed and contacts on days the base already has: their events
# land on old days, open and click old messages (cohort rows of earlier days), send old messages again (moving
# a message's cohort day), and touch existing contacts, campaigns and Simon segments.
LATE_EXPORTS = [
    {"seed": 7, "events": 22_000, "start": "2024-03-18", "days": 4},
    {"seed": 7, "events": 24_000, "start": "2024-03-18", "days": 4},
]


def test_incremental_runs_on_late_exports_equal_a_full_refresh(tmp_path: Path) -> None:
    """Marts built incrementally batch by batch equal a full refresh, when late batches change old rows.

    The lookback is 0 (the batches are loaded seconds apart, where a lookback of hours would re-read them all), so
    each incremental run rebuilds only what its own batch touches: a wrong affected set (a missed cohort day, a
    missed contact or segment) leaves a stale row that the full refresh does not have."""
    warehouse = tmp_path / "wh.duckdb"
    no_lookback = ["--vars", "{engagement__lookback_hours: 0, publish_marts: false}"]
    build = ["build", "--exclude", "resource_type:unit_test", *no_lookback]
    base = export(parse_destination((tmp_path / "base").as_uri()), seed=7, contacts=400, events=20_000,
                  start="2024-03-18", days=4)  # fmt: skip
    load(_feeds_yml(base.root, "base"), warehouse)
    dbt([*build, "--full-refresh"], warehouse, tmp_path)
    for number, late in enumerate(LATE_EXPORTS):
        result = export(parse_destination((tmp_path / f"late{number}").as_uri()), contacts=400, **late)
        # one feed name for both late exports: the second one's batches land on a feed day the first one has
        load(_feeds_yml(result.root, "late"), warehouse)
        dbt(build, warehouse, tmp_path)
    for mart in ("agg_engagement_daily", "dim_contacts", "dim_campaigns", "fct_segment_membership"):
        run_sql = (tmp_path / f"target/run/engagement/models/marts/{mart}.sql").read_text().lower()
        assert "delete from" in run_sql, f"{mart}: the last run was not incremental"
    days_sql = tmp_path / "target/run/engagement/models/health/intermediate/int_feed_event_days.sql"
    assert "delete from" in days_sql.read_text().lower(), (
        "int_feed_event_days: the last run was not incremental"
    )

    incremental = _mart_rows(warehouse)
    dbt([*build, "--full-refresh"], warehouse, tmp_path)
    full = _mart_rows(warehouse)
    for table in INCREMENTAL:
        assert incremental[table] == full[table], (
            f"{table}: incremental differs from a full refresh; only incremental: "
            f"{list((incremental[table] - full[table]).elements())[:3]}, only full: "
            f"{list((full[table] - incremental[table]).elements())[:3]}"
        )
