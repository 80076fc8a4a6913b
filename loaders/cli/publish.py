"""`feeds publish`: the marts copied to the serving DuckDB file and Parquet beside it, swapped in whole."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import EXIT_BUSY, CommandError
from .options import JsonOpt, WaitOpt, warehouse_for
from .output import out


def publish_command(
    to: Annotated[
        Path | None,
        typer.Option(
            "--to", help="Serving file (default: <warehouse>_marts.duckdb, or $ENGAGEMENT_MARTS_DUCKDB)."
        ),
    ] = None,
    schema: Annotated[
        list[str] | None,
        typer.Option(
            "--schema",
            help="Schema to publish (repeatable; default $ENGAGEMENT_SERVING_SCHEMAS or marts,health).",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="feeds.yml (for settings.duckdb).")
    ] = None,
    wait: WaitOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Copy the marts to the serving DuckDB file and Parquet beside it, swapped in whole (readers open that)."""
    from ..publish import PublishRefused, publish
    from ..warehouse import WarehouseLocked, WarehouseMissing

    path, _ = warehouse_for(config or Path("feeds.yml"), config is not None)
    try:
        done = publish(path, to, schema, wait)
    except (PublishRefused, WarehouseMissing) as exc:
        raise CommandError(str(exc)) from None
    except WarehouseLocked as exc:
        raise CommandError(
            str(exc).replace("nothing was loaded", "nothing was published"), EXIT_BUSY
        ) from None
    if as_json:
        document = {
            "publish_id": done.publish_id,
            "duckdb": str(done.path),
            "parquet": str(done.parquet),
            "tables": [{"schema": s, "table": t, "rows": n} for s, t, n in done.tables],
            "seconds": round(done.seconds, 3),
            "updated": done.updated,
            "rows_copied": done.rows_copied,
            "not_updated": done.not_updated,
        }
        print(json.dumps(document))
        return
    rows = sum(n for _, _, n in done.tables)
    how = (
        f"the last version brought up to date, {done.rows_copied:,} rows copied"
        if done.updated
        else f"a new file; {done.not_updated}"
        if done.not_updated
        else "a new file"
    )
    out.print(
        f"published {len(done.tables)} tables ({rows:,} rows) to {done.path} and {done.parquet}/"
        f" in {done.seconds:.1f}s (version {done.publish_id}: {how})",
        highlight=False,
        soft_wrap=True,
    )
