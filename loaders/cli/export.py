"""`feeds export` (hidden): fixture feeds moved out of the installed loader; this names where they went."""

from __future__ import annotations

from ..errors import CommandError


def export_command() -> None:
    """Moved: fixture feeds are written by `python -m fixtures export` from a checkout."""
    raise CommandError(
        "fixture feeds are not part of the installed loader: from a checkout of the repository, run"
        " `python -m fixtures export --to URI ...` (install its dependencies with pip install -e '.[fixtures]')"
    )
