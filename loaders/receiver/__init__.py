"""The Encharge Activity Stream receiver: `feeds receive` (an HTTP endpoint that lands NDJSON files)."""

from __future__ import annotations

from .command import receive_command

__all__ = ["receive_command"]
