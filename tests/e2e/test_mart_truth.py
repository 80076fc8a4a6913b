"""The mart against the export side's ground truth (`fixtures/truth.py`), quirks on.

(b) distinct events per vendor x event_type x date, and distinct contacts, equal `truth/events.csv` and
`truth/contacts.csv` exactly; (c) replaying the export's files in the order the vendors would deliver them
(`truth/files.csv` arrives_at: late files, catch-up duplicates, Simon control files after their data), with
one load and one incremental dbt run per delivery day, ends with every mart equal to a full refresh.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from fixtures.destinations import parse_destination
from fixtures.run import export
from tests.e2e.test_mart_build import INCREMENTAL, _snapshot, dbt, load, rows

pytestmark = pytest.mark.slow


def _export(root: Path) -> Path:
    export(parse_destination(root.as_uri()), events=4000, contacts=300, days=4, seed=7)
    return root


def _truth(root: Path) -> tuple[dict[tuple[str, str, str], int], set[str]]:
    with open(root / "truth/events.csv", newline="") as fh:
        events = {
            (r["vendor"], r["event_type"], r["event_date"]): int(r["events"]) for r in csv.DictReader(fh)
        }
    with open(root / "truth/contacts.csv", newline="") as fh:
        contacts = {r["contact_key"] for r in csv.DictReader(fh)}
    return events, contacts


def _mart_counts(warehouse: Path) -> tuple[dict[tuple[str, str, str], int], set[str]]:
    events = {
        (v, t, str(d)): n
        for v, t, d, n in rows(
            warehouse,
            "select source_vendor, event_type, occurred_date, count(distinct engagement_event_id)"
            " from marts.fct_engagement_events group by all",
        )
    }
    contacts = {r[0] for r in rows(warehouse, "select distinct contact_key from marts.fct_engagement_events")}
    return events, contacts


def test_mart_equals_the_export_ground_truth(tmp_path: Path) -> None:
    root = _export(tmp_path / "export")
    warehouse = tmp_path / "wh.duckdb"
    load(root / "feeds.yml", warehouse)
    dbt(["build"], warehouse, tmp_path)
    truth_events, truth_contacts = _truth(root)
    events, contacts = _mart_counts(warehouse)
    missing = {k: v for k, v in truth_events.items() if events.get(k) != v}
    extra = {k: v for k, v in events.items() if k not in truth_events}
    assert not missing and not extra, f"differs from truth: {missing=} {extra=}"
    assert contacts == truth_contacts
    assert {r[0] for r in rows(warehouse, "select contact_key from marts.dim_contacts")} == truth_contacts
    _rates_within_unit_interval_at_every_grain(warehouse)
    # Sailthru's last hourly campaign export is partial: every campaign keeps its name
    with open(root / "truth/campaigns.csv", newline="") as fh:
        named = {(r["campaign_id"], r["campaign_name"]) for r in csv.DictReader(fh)}
    assert named
    got = set(rows(warehouse, "select campaign_id, campaign_name from marts.dim_campaigns"
                              " where source_vendor = 'sailthru' and campaign_kind = 'campaign'"))  # fmt: skip
    assert named <= got, f"missing or renamed: {sorted(named - got)[:5]}"


RATES = ["delivery_rate", "bounce_rate", "open_rate", "click_through_rate", "click_to_open_rate",
         "unsubscribe_rate", "complaint_rate"]  # fmt: skip
# The grains an analyst asks for, down to the table's row (one campaign of one vendor and channel on one day).
GRAINS = {
    "row": "occurred_date, source_vendor, channel, campaign_id",
    "day": "occurred_date",
    "vendor": "source_vendor",
    "channel": "channel",
    "campaign": "source_vendor, campaign_id",
    "day x vendor": "occurred_date, source_vendor",
    "total": "",
}


def _rates_within_unit_interval_at_every_grain(warehouse: Path) -> None:
    """Summing a rate's numerator and denominator over any grain an analyst can ask for gives a rate in [0, 1]
    (it was 1.10 delivery and 4.4 open rate per day when vendors' figures were mixed and a day's opens were divided
    by that day's deliveries)."""
    checked = 0
    for grain, columns in GRAINS.items():
        group = f"group by {columns}" if columns else ""
        for rate in RATES:
            found = rows(
                warehouse,
                f"""select sum({rate}_numerator)::double / nullif(sum({rate}_denominator), 0) as r,
                    sum({rate}_numerator) as n, sum({rate}_denominator) as d
                from marts.agg_engagement_daily {group}""",
            )
            for r, n, d in found:
                if d:  # no denominator is no rate (NULL), e.g. opens on the day after the last send
                    assert 0 <= r <= 1, f"{rate} by {grain}: {n} / {d}"
                    checked += 1
    assert checked > 50
    # the old mixing would have been caught: Encharge reports deliveries but no sends
    assert rows(
        warehouse,
        "select sum(delivery_rate_denominator), sum(deliveries) from marts.agg_engagement_daily"
        " where source_vendor = 'encharge' and channel = 'email'",
    )[0] == (0, rows(warehouse, "select sum(deliveries) from marts.agg_engagement_daily"
                                " where source_vendor = 'encharge' and channel = 'email'")[0][0])  # fmt: skip


def test_replayed_deliveries_with_incremental_runs_equal_a_full_refresh(tmp_path: Path) -> None:
    source = _export(tmp_path / "export")
    landing = tmp_path / "landing"
    config = yaml.safe_load((source / "feeds.yml").read_text())
    for feed in config["feeds"]:
        feed["uri"] = feed["uri"].replace(source.as_uri(), landing.as_uri())
        Path(feed["uri"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    feeds_yml = tmp_path / "feeds.yml"
    feeds_yml.write_text(yaml.safe_dump(config))

    with open(source / "truth/files.csv", newline="") as fh:
        deliveries: dict[str, list[str]] = {}
        for r in csv.DictReader(fh):
            deliveries.setdefault(r["arrives_at"][:10], []).append(r["relpath"])
    days = sorted(deliveries)
    assert len(days) >= 4, days

    warehouse = tmp_path / "wh.duckdb"
    for i, day in enumerate(days):
        for relpath in deliveries[day]:
            target = landing / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relpath, target)
        load(feeds_yml, warehouse)
        if i == 0:
            dbt(["build", "--full-refresh", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
        else:
            dbt(["run"], warehouse, tmp_path)
    run_sql = (
        (tmp_path / "target/run/engagement/models/marts/events/fct_engagement_events.sql").read_text().lower()
    )
    assert "merge into" in run_sql  # the last run was incremental

    incremental = _snapshot(warehouse)
    assert _mart_counts(warehouse) == _truth(source)
    # the rejects are incremental too: compared as a list (no row twice)
    rejects_sql = "select * from marts.fct_engagement_event_rejects order by all"
    incremental_rejects = rows(warehouse, rejects_sql)
    dbt(["build", "--full-refresh", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
    full = _snapshot(warehouse)
    assert rows(warehouse, rejects_sql) == incremental_rejects
    for table in INCREMENTAL:
        assert incremental[table] == full[table], f"{table}: incremental differs from a full refresh"
