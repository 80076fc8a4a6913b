"""Ctrl-C and SIGTERM as the commands see them: an interrupted run exits 130 (Ctrl-C) or 143 (SIGTERM)."""

from __future__ import annotations

from ..errors import CommandError

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so a load records itself as interrupted."""


def on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


class Interrupted(CommandError):
    """A command stopped by Ctrl-C or SIGTERM: reported as a timestamped line, not as an error."""

    @classmethod
    def by(cls, exc: KeyboardInterrupt, message: str = "interrupted") -> Interrupted:
        return cls(message, EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED)
