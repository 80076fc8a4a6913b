"""Where the commands write: results on stdout, messages and progress on stderr, with UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

console = Console(stderr=True)
out = Console()


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
