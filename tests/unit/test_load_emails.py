"""E-mail hashing on the way into raw (loaders/load/emails.py), run on DuckDB in memory."""

from __future__ import annotations

import hashlib
import json

import duckdb

from loaders.load.emails import EMAIL_FIELDS, hash_columns, json_path_member, sha256_sql, with_email_hashing
from tests.unit.loadparts import feed


def sha(address: str) -> str:
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def run(query: str, params: dict[str, object]) -> list[tuple]:
    return duckdb.connect().execute(query, params).fetchall()


def test_json_path_member_quotes_and_escapes() -> None:
    assert json_path_member("email") == '"email"'
    assert json_path_member('a"b\\c') == '"a\\"b\\\\c"'


def test_sha256_sql_hashes_addresses_only() -> None:
    rows = (
        duckdb.connect()
        .execute(f"select {sha256_sql('v')} from (values (' Ann@Example.com '), ('12345'), (null)) t(v)")
        .fetchall()
    )
    assert rows == [(sha("ann@example.com"),), ("12345",), (None,)]


def test_a_plain_column_is_hashed_and_the_others_kept() -> None:
    params: dict[str, object] = {}
    query = hash_columns(
        "select * from (values ('A@b.co', 'x'), ('id-7', 'y')) t(Address, other)",
        params,
        [("Address", "VARCHAR"), ("other", "VARCHAR")],
        ["address"],  # matched without case
    )
    assert run(query, params) == [(sha("a@b.co"), "x"), ("id-7", "y")]


def test_a_json_member_is_hashed_inside_its_document() -> None:
    doc = json.dumps({"email": "Z@y.io", "name": "Zed", "form": {"email": "q@r.st"}})
    params: dict[str, object] = {}
    query = hash_columns(
        "select $doc::varchar as user",
        params,
        [("user", "VARCHAR")],
        ["user.email", "user.form.email"],
    )
    params["doc"] = doc
    (value,) = run(query, params)[0]
    assert json.loads(value) == {"email": sha("z@y.io"), "name": "Zed", "form": {"email": sha("q@r.st")}}


def test_a_map_key_is_hashed_only_in_a_text_map() -> None:
    params: dict[str, object] = {}
    query = hash_columns(
        "select map(['Email', 'plan'], ['m@n.op', 'gold']) as attrs",
        params,
        [("attrs", "MAP(VARCHAR, VARCHAR)")],
        ["attrs[email]"],
    )
    (value,) = run(query, params)[0]
    assert value == {"Email": sha("m@n.op"), "plan": "gold"}
    assert (
        hash_columns("select 1 as attrs", {}, [("attrs", "INTEGER")], ["attrs[email]"]) == "select 1 as attrs"
    )


def test_nothing_to_hash_leaves_the_query_as_it_is() -> None:
    assert hash_columns("select 1 as a", {}, [("a", "INTEGER")], ["email"]) == "select 1 as a"


def test_only_a_feed_that_asks_hashes_with_its_tables_known_columns_and_its_own() -> None:
    columns = [("address", "VARCHAR"), ("extra", "VARCHAR")]
    query = "select * from (values ('a@b.cd', 'e@f.gh')) t(address, extra)"
    assert with_email_hashing(query, {}, columns, feed(vendor="apsis"), "apsis__email_events") == query
    assert EMAIL_FIELDS["apsis__email_events"] == ("address",)
    params: dict[str, object] = {}
    asked = feed(vendor="apsis", hash_emails=True, email_columns=["extra"])
    hashed = with_email_hashing(query, params, columns, asked, "apsis__email_events")
    assert run(hashed, params) == [(sha("a@b.cd"), sha("e@f.gh"))]
