"""The options several commands share, and what they resolve to: the feeds.yml read, the warehouse chosen."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..config import DEFAULT_DUCKDB, Config, ConfigError, load_config
from ..errors import CommandError

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="feeds.yml to read.")]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait", metavar="SECONDS", help="Wait up to SECONDS for another process to release the warehouse."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")]


def read_config(config: Path) -> Config:
    try:
        return load_config(config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def warehouse_for(config: Path, explicit: bool) -> tuple[Path, dict[str, str] | None]:
    """The warehouse and the configured feeds; without a feeds.yml, $ENGAGEMENT_DUCKDB and the ledger's feeds."""
    if explicit or config.exists():
        cfg = read_config(config)
        return cfg.duckdb_path, {f.name: f.vendor for f in cfg.feeds}
    return Path(os.environ.get("ENGAGEMENT_DUCKDB") or DEFAULT_DUCKDB), None
