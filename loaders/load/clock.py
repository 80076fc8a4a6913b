"""The loader's clock and run ids.

Every ledger timestamp the load core writes comes from `utcnow` here, called as `clock.utcnow()`, so a
replay can set the day by patching this one function (tests/health_replay.py does).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC, without a zone (the ledger's timestamps are naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_load_id() -> str:
    """A run's id: its start time, sortable, and a random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
