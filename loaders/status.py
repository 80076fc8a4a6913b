"""`feeds status`: what the ledger knows, per feed."""

from __future__ import annotations

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import Config
from .warehouse import META_SCHEMA


def feed_status(con: duckdb.DuckDBPyConnection, cfg: Config, out: Console) -> None:
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
    for feed in cfg.feeds:
        loaded, rows, last, quarantined, unrecognized = stats.get(feed.name, (0, 0, None, 0, 0))
        table.add_row(
            feed.name,
            feed.vendor,
            str(loaded),
            f"{rows:,}",
            last.strftime("%Y-%m-%d %H:%M:%S") if last else "never",
            str(quarantined),
            str(waiting.get(feed.name, 0)),
            str(unrecognized),
        )
    out.print(table)

    problems = con.execute(
        f"""select feed, uri, error from {META_SCHEMA}.files where status = 'quarantined'
            union all
            select feed, substr(key, 9), value from {META_SCHEMA}.state where key like 'waiting:%'
            union all
            select feed, uri, 'unrecognized: ' || error from {META_SCHEMA}.files where status = 'unrecognized'
            order by 1, 2"""
    ).fetchall()
    empty = con.execute(
        f"select feed, value from {META_SCHEMA}.state where key = 'no_vendor_files' order by 1"
    ).fetchall()
    for feed_name, why in empty:
        out.print(
            f"[yellow]warning:[/] {feed_name}: at the last load, {why}", highlight=False, soft_wrap=True
        )
    if problems:
        # plain lines, not a table: full paths stay greppable whatever the terminal width
        out.print("\n[bold]quarantined, waiting and unrecognized files[/]")
        for feed, uri, why in problems:
            out.print(
                f"  {escape(feed)}  {escape(uri)}\n      {escape(why or '')}", highlight=False, soft_wrap=True
            )

    drift = con.execute(
        f"""select raw_table, column_name, first_uri, seen_at from {META_SCHEMA}.schema_changes as s
            -- the columns a table was created with are not news; those added later are
            where seen_at > (select min(seen_at) from {META_SCHEMA}.schema_changes as f
                             where f.raw_table = s.raw_table)
            order by seen_at desc limit 20"""
    ).fetchall()
    if drift:
        t = Table(title="recent new columns (schema drift)")
        for col in ("raw table", "column", "first file", "seen at (UTC)"):
            t.add_column(col, overflow="fold")
        for raw, column, uri, seen in drift:
            t.add_row(raw, column, uri, seen.strftime("%Y-%m-%d %H:%M:%S"))
        out.print(t)
