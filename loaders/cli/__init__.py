"""`feeds`: one entry point, a command per module. Exit codes: 0 all loaded, 1 some files quarantined, rows
rejected or files unrecognized, 2 configuration or connection, 74 the environment (disk full, I/O error,
corrupt or read-only warehouse), 75 the warehouse is busy (another process writes it: try again, or pass
--wait), 130/143 interrupted (Ctrl-C / SIGTERM; the run is recorded in loader.loads as interrupted).

Commands raise `CommandError` (`loaders/errors.py`); `run_app` (`app.py`) turns it into `error:` lines and the
exit code, in one place. Nothing else under `loaders/` imports this package: the CLI imports the product."""

from __future__ import annotations

from .app import app, main, run_app

__all__ = ["app", "main", "run_app"]
