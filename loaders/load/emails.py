"""E-mail hashing (`hash_emails: true`): clear-text addresses become their sha256 on their way into raw.

The batch statement is wrapped in a `select * replace (...)` that hashes the known e-mail columns of its
raw table (and the feed's own `email_columns`): a column, a member of a JSON text column, or a key of a
Parquet map. A value that is not an address (an id, or a hash already) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Feed
from ..warehouse import quote_ident

# Columns known to carry a clear-text e-mail, per raw table: `column`, `column.json_key` (JSON text) or
# `column[map_key]` (a Parquet map). Sailthru sends hashes only; Leanplum's JSON has no e-mail member.
EMAIL_FIELDS: dict[str, tuple[str, ...]] = {
    "apsis__email_events": ("address",),
    "simon__flow_events": ("identifier",),
    "encharge__events": ("user.email", "properties.form.email"),  # form-submitted carries the form's fields
    "leanplum__events_parquet": ("user_attributes[email]",),
}


def sha256_sql(expr: str) -> str:
    """The mart's email_sha256 of an expression: sha256 of the trimmed, lower-cased address, when it is one."""
    return f"case when trim({expr}) like '%_@_%' then sha256(lower(trim({expr}))) else {expr} end"


def with_email_hashing(
    query: str, params: dict[str, object], columns: Sequence[tuple[str, str]], feed: Feed, table: str
) -> str:
    """Wrap the batch query so clear-text e-mails are hashed on their way into raw (when the feed asks)."""
    if not feed.hash_emails:
        return query
    return hash_columns(query, params, columns, (*EMAIL_FIELDS.get(table, ()), *feed.email_columns))


def hash_columns(
    query: str, params: dict[str, object], columns: Sequence[tuple[str, str]], specs: Sequence[str]
) -> str:
    """`query` with the e-mails named by `specs` (`column`, `column.json.key`, `column[map_key]`) hashed;
    `columns` are the query's (name, DuckDB type); specs naming no column of it are skipped."""
    present = {name.lower(): (name, ctype) for name, ctype in columns}
    replaced: dict[str, str] = {}
    for i, spec in enumerate(specs):
        if spec.endswith("]") and "[" in spec:
            column, _, map_key = spec[:-1].partition("[")
            if column.lower() not in present or not present[column.lower()][1].startswith(
                "MAP(VARCHAR, VARCHAR)"
            ):
                continue
            name = present[column.lower()][0]
            params[f"hash_key{i}"] = map_key.lower()
            current = replaced.get(name, quote_ident(name))
            replaced[name] = (
                f"map_from_entries(list_transform(map_entries({current}), lambda e: struct_pack(key := e.key,"
                f" value := case when lower(e.key) = $hash_key{i} and trim(e.value) like '%_@_%'"
                " then sha256(lower(trim(e.value))) else e.value end)))"
            )
            continue
        column, _, key = spec.partition(".")
        if column.lower() not in present:
            continue
        name, ctype = present[column.lower()]
        current = replaced.get(name, f"{quote_ident(name)}::varchar")
        if not key:
            replaced[name] = sha256_sql(f"({current})")
            continue
        members = key.split(".")
        params[f"hash_path{i}"] = "$." + ".".join(json_path_member(m) for m in members)
        member = f"json_extract_string(({current}), $hash_path{i})"
        patch = f"sha256(lower(trim({member})))"
        for depth, m in reversed(list(enumerate(members))):
            params[f"hash_key{i}_{depth}"] = m
            patch = f"json_object($hash_key{i}_{depth}, {patch})"
        replaced[name] = (
            f"case when trim({member}) like '%_@_%' then json_merge_patch(({current}), {patch})::varchar"
            f" else ({current}) end"
        )
    if not replaced:
        return query
    replace = ", ".join(f"{expr} as {quote_ident(name)}" for name, expr in replaced.items())
    return f"select * replace ({replace}) from ({query})"


def json_path_member(key: str) -> str:
    """A JSON path member, quoted: `a"b` -> `"a\\"b"`."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
