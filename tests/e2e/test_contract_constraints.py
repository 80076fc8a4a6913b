"""The marts' required columns and accepted values are contract constraints (not_null, check): DuckDB enforces
them when dbt writes the table, and the model-level `contract_constraints` test reads only what a table does not
enforce (here: a table built before its constraints were declared, which `--full-refresh` rebuilds). Seeds have
no contract, so their test always reads them. The health marts' keys are primary keys."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests import mart_fixture as fx
from tests.e2e.test_mart_build import BIN, REPO, dbt, load

pytestmark = pytest.mark.slow


def _declared(manifest: dict, constraint: str) -> dict[str, set[str]]:
    """Table name -> the columns its contract gives `constraint`, for the marts and the health marts."""
    declared: dict[str, set[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["schema"] not in ("marts", "health"):
            continue
        columns = {
            name
            for name, col in node["columns"].items()
            if any(c["type"] == constraint for c in col["constraints"])
        }
        if columns:
            declared[node["alias"]] = columns
    return declared


def test_duckdb_enforces_the_declared_constraints_and_the_test_reads_what_it_does_not(tmp_path: Path) -> None:
    feeds = fx.write_feeds_yml(tmp_path / "feeds")
    for day in fx.DAYS:
        fx.write_day(tmp_path / "feeds", day)
    warehouse = tmp_path / "wh.duckdb"
    load(feeds, warehouse)
    dbt(["build", "--exclude", "resource_type:unit_test"], warehouse, tmp_path)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    not_null = _declared(manifest, "not_null")
    primary = _declared(manifest, "primary_key")
    assert {"fct_engagement_events", "agg_engagement_daily", "dim_contacts"} <= not_null.keys()
    assert {"feed_health_daily", "feed_load_runs", "feed_freshness"} <= primary.keys()
    checked = _declared(manifest, "check")
    assert {"fct_engagement_events", "dim_contacts", "feed_load_runs"} <= checked.keys()

    with duckdb.connect(str(warehouse)) as con:
        required = {
            (table, column)
            for table, column in con.execute(
                "select table_name, column_name from duckdb_columns()"
                " where schema_name in ('marts', 'health') and not is_nullable"
            ).fetchall()
        }
        keys = {
            (table, column)
            for table, columns in con.execute(
                "select table_name, constraint_column_names from duckdb_constraints()"
                " where schema_name = 'health' and constraint_type = 'PRIMARY KEY'"
            ).fetchall()
            for column in columns
        }
        assert {(t, c) for t, cs in not_null.items() for c in cs} <= required
        assert {(t, c) for t, cs in primary.items() for c in cs} == keys
        checks = {
            (table, column)
            for table, columns in con.execute(
                "select table_name, constraint_column_names from duckdb_constraints()"
                " where schema_name in ('marts', 'health') and constraint_type = 'CHECK'"
            ).fetchall()
            for column in columns
        }
        assert {(t, c) for t, cs in checked.items() for c in cs} == checks
        # DuckDB refuses a NULL where the contract requires a value
        with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
            con.execute("update marts.dim_contacts set vendors = null")
        # ... and a value its accepted values do not list
        with pytest.raises(duckdb.ConstraintException, match="CHECK"):
            con.execute("update marts.dim_contacts set subscription_state = 'maybe'")
        # ... and an e-mail that is not a lower-case SHA-256 hex: a clear-text address, upper-case hex, a letter past f
        for email in ("ann@example.com", "AB" * 32, "0g" * 32):
            with pytest.raises(duckdb.ConstraintException, match="CHECK"):
                con.execute(
                    "update marts.fct_engagement_events set email_sha256 = ?"
                    " where engagement_event_id = (select min(engagement_event_id) from marts.fct_engagement_events"
                    " where email_sha256 is not null)",
                    [email],
                )
        # a table built before the constraints were declared: same rows, no constraint, a NULL and an unlisted value
        con.execute("create table marts.dim_contacts_before as select * from marts.dim_contacts")
        con.execute("drop table marts.dim_contacts")
        con.execute("alter table marts.dim_contacts_before rename to dim_contacts")
        con.execute(
            "update marts.dim_contacts set vendors = null"
            " where contact_key = (select min(contact_key) from marts.dim_contacts)"
        )
        con.execute(
            "update marts.dim_contacts set subscription_state = 'maybe'"
            " where contact_key = (select max(contact_key) from marts.dim_contacts)"
        )
        # seeds carry no contract: their constraints are never enforced, always read by the test
        con.execute(
            "update seeds.engagement_event_types set event_category = 'misc' where event_type = 'opened'"
        )
        # a bounce-code range int_apsis__events would list as 99,000 codes
        con.execute("update seeds.apsis_bounce_codes set code_to = 99999 where code_from = 1000")

    env = {**os.environ, "ENGAGEMENT_DUCKDB": str(warehouse), "DBT_PROFILES_DIR": str(REPO)}
    result = subprocess.run(
        [str(BIN / "dbt"), "test", "--select", "test_name:contract_constraints",
         "--project-dir", str(REPO), "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    status = {
        r["unique_id"].split(".")[2]: (r["status"], r["failures"])
        for r in results
        if r["unique_id"].startswith("test.")
    }
    assert status.pop("contract_constraints_dim_contacts_") == ("fail", 2)
    assert status.pop("contract_constraints_engagement_event_types_") == ("fail", 1)
    assert status.pop("contract_constraints_apsis_bounce_codes_") == ("fail", 1)
    # the other marts enforce their constraints: their tests read nothing and pass; the other seeds pass
    assert status and all(s == ("pass", 0) for s in status.values()), status
    nodes = json.loads((tmp_path / "target" / "manifest.json").read_text())["nodes"].values()
    seeds = {
        n["name"]
        for n in nodes
        if n["name"].startswith("contract_constraints_") and n["attached_node"].startswith("seed.")
    }
    compiled = {
        n["name"]: n["compiled_code"] for n in nodes if n["name"] in status and n["name"] not in seeds
    }
    failing = {
        n["name"]: n["compiled_code"]
        for n in nodes
        if n["name"].startswith("contract_constraints_") and n["name"] not in status
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(failing["contract_constraints_engagement_event_types_"]).fetchall() == [
            (
                "event_category",
                "check event_category in ('delivery', 'engagement', 'suppression', 'journey', 'profile', 'web')",
                1,
            )
        ]
        # a failing row names the column and the constraint and counts the rows breaking it; only the
        # unenforced table is read
        assert sorted(con.execute(failing["contract_constraints_dim_contacts_"]).fetchall()) == [
            (
                "subscription_state",
                "check subscription_state in ('unsubscribed', 'undeliverable', 'subscribed')",
                1,
            ),
            ("vendors", "not_null", 1),
        ]
        assert con.execute(failing["contract_constraints_apsis_bounce_codes_"]).fetchall() == [
            ("code_to", "check code_to between code_from and code_from + 9999", 1)
        ]
    assert len(seeds) == 4 and compiled.keys() == status.keys() - seeds
    assert all("where 1 = 0" in sql and " from counted" not in sql for sql in compiled.values())
    # --full-refresh rebuilds the table with its constraints: the bad rows are gone with the old table
    dbt(["build", "--full-refresh", "--select", "dim_contacts"], warehouse, tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert ("dim_contacts", "vendors") in {
            tuple(r)
            for r in con.execute(
                "select table_name, column_name from duckdb_columns() where schema_name = 'marts' and not is_nullable"
            ).fetchall()
        }
