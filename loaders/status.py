"""`feeds status`: what the ledger knows, per feed; also kept as a snapshot file a running load updates.

DuckDB lets no other process open a file a writer holds, so while `feeds load` runs it keeps
`<warehouse>.status.json` up to date (the ledger's figures when it started, then each feed as it finishes);
`feeds status` answers from it when the warehouse is busy.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .warehouse import META_SCHEMA


def snapshot_path(db: Path) -> Path:
    return db.with_name(db.name + ".status.json")


def _ts(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def ledger_summary(
    con: duckdb.DuckDBPyConnection, feeds: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """Per feed (the configured ones, else every feed the ledger knows): files, rows, last load, problems."""
    stats = {
        r[0]: r[1:]
        for r in con.execute(
            f"""select feed,
                       count(*) filter (where status = 'loaded'),
                       coalesce(sum(rows) filter (where status = 'loaded'), 0),
                       max(loaded_at) filter (where status = 'loaded'),
                       count(*) filter (where status = 'quarantined'),
                       count(*) filter (where status = 'unrecognized')
                from {META_SCHEMA}.files group by feed"""
        ).fetchall()
    }
    waiting = {
        r[0]: r[1]
        for r in con.execute(
            f"select feed, count(*) from {META_SCHEMA}.state where key like 'waiting:%' group by feed"
        ).fetchall()
    }
    if feeds is None:
        known = sorted(set(stats) | set(waiting))
        found: dict[str, str | None] = dict.fromkeys(known)  # the ledger does not keep the vendor
        for feed, raw in con.execute(
            f"select feed, min(raw_table) from {META_SCHEMA}.files group by feed"
        ).fetchall():
            found[feed] = (raw or "").split("__")[0] or None
        feeds = found
    rows = []
    for name, vendor in feeds.items():
        loaded, nrows, last, quarantined, unrecognized = stats.get(name, (0, 0, None, 0, 0))
        rows.append(
            {
                "feed": name,
                "vendor": vendor,
                "files_loaded": loaded,
                "rows": int(nrows),
                "last_load_utc": _ts(last),
                "files_quarantined": quarantined,
                "files_waiting": waiting.get(name, 0),
                "files_unrecognized": unrecognized,
            }
        )
    problems = [
        {"feed": feed, "uri": uri, "status": status, "reason": why or ""}
        for feed, uri, status, why in con.execute(
            f"""select feed, uri, 'quarantined', error from {META_SCHEMA}.files where status = 'quarantined'
                union all
                select feed, substr(key, 9), 'waiting', value from {META_SCHEMA}.state
                where key like 'waiting:%'
                union all
                select feed, uri, 'unrecognized', 'unrecognized: ' || error from {META_SCHEMA}.files
                where status = 'unrecognized'
                order by 1, 2"""
        ).fetchall()
    ]
    drift = [
        {"raw_table": raw, "column": column, "first_uri": uri, "seen_at_utc": _ts(seen)}
        for raw, column, uri, seen in con.execute(
            f"""select raw_table, column_name, first_uri, seen_at from {META_SCHEMA}.schema_changes as s
                -- the columns a table was created with are not news; those added later are
                where seen_at > (select min(seen_at) from {META_SCHEMA}.schema_changes as f
                                 where f.raw_table = s.raw_table)
                order by seen_at desc limit 20"""
        ).fetchall()
    ]
    last_run = con.execute(
        f"""select load_id, started_at, finished_at, status, files_loaded, rows_loaded
            from {META_SCHEMA}.loads order by started_at desc limit 1"""
    ).fetchall()
    last = None
    if last_run:
        load_id, started, finished, status, files, nrows = last_run[0]
        last = {
            "load_id": load_id,
            "started_at_utc": _ts(started),
            "finished_at_utc": _ts(finished),
            "status": status,
            "files_loaded": files,
            "rows_loaded": nrows,
        }
    empty = [
        {"feed": feed, "reason": why}
        for feed, why in con.execute(
            f"select feed, value from {META_SCHEMA}.state where key = 'no_vendor_files' order by 1"
        ).fetchall()
    ]
    return {
        "feeds": rows,
        "problems": problems,
        "no_vendor_files": empty,
        "schema_drift": drift,
        "last_run": last,
        "running": None,
    }


def write_snapshot(db: Path, summary: dict[str, Any]) -> None:
    """Replace the snapshot atomically: a reader sees the old one or the new one, never half."""
    target = snapshot_path(db)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1)
    os.replace(tmp, target)


def read_snapshot(db: Path) -> dict[str, Any] | None:
    try:
        return json.loads(snapshot_path(db).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def render(summary: dict[str, Any], out: Console) -> None:
    table = Table(title="feeds")
    for col in (
        "feed",
        "vendor",
        "files loaded",
        "rows",
        "last load (UTC)",
        "quarantined",
        "waiting",
        "unrecognized",
    ):
        table.add_column(col, justify="left" if col in ("feed", "vendor", "last load (UTC)") else "right")
    for f in summary["feeds"]:
        table.add_row(
            f["feed"],
            f["vendor"] or "",
            str(f["files_loaded"]),
            f"{f['rows']:,}",
            f["last_load_utc"] or "never",
            str(f["files_quarantined"]),
            str(f["files_waiting"]),
            str(f["files_unrecognized"]),
        )
    out.print(table)
    if summary["problems"]:
        # plain lines, not a table: full paths stay greppable whatever the terminal width
        out.print("\n[bold]quarantined, waiting and unrecognized files[/]")
        for p in summary["problems"]:
            out.print(
                f"  {escape(p['feed'])}  {escape(p['uri'])}\n      {escape(p['reason'])}",
                highlight=False,
                soft_wrap=True,
            )
    for e in summary.get("no_vendor_files", []):
        out.print(
            f"[yellow]warning:[/] {escape(e['feed'])}: at the last load, {escape(e['reason'])}",
            highlight=False,
            soft_wrap=True,
        )
    if summary["schema_drift"]:
        t = Table(title="recent new columns (schema drift)")
        for col in ("raw table", "column", "first file", "seen at (UTC)"):
            t.add_column(col, overflow="fold")
        for d in summary["schema_drift"]:
            t.add_row(d["raw_table"], d["column"], d["first_uri"], d["seen_at_utc"])
        out.print(t)
