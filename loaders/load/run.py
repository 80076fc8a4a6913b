"""A load run: every configured feed (or the ones named), one after the other, recorded in `loader.loads`.

`Loader.run` opens each feed's transport, hands the feed to a `FeedRun` (feedrun.py) and turns what the
machine did wrong (a full disk, a lost transaction) into one `EnvironmentFailure`. An interrupted run
(Ctrl-C, SIGTERM) is recorded with what it committed. `Progress` is how the CLI follows along.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

import duckdb

from ..config import Config, Feed
from ..lake.sink import open_sink
from ..transports import Transport, TransportError, open_transport
from ..vendors import get_layout
from ..warehouse import META_SCHEMA
from . import clock
from .errors import EnvironmentFailure, environment_problem
from .feedrun import FeedRun
from .model import FeedResult, RunResult
from .raw import DuckDBTarget, RawTarget


class Progress:
    """Callbacks for the CLI's progress bar; the default does nothing."""

    def start_feed(self, feed: str) -> None: ...

    def end_feed(self, result: FeedResult) -> None: ...

    def add_total(self, files: int, nbytes: int) -> None: ...

    def advance(self, files: int, nbytes: int, rows: int) -> None: ...


class Loader:
    """Loads the feeds of a configuration into the warehouse on `con`.

    `target` is where raw rows land: by default the warehouse's raw tables, or the Parquet lake when the
    configuration sets `settings.lake`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        config: Config,
        progress: Progress | None = None,
        retry_quarantined: bool = False,
        target: RawTarget | None = None,
    ) -> None:
        settings = config.settings
        self.con = con
        self.config = config
        self.progress = progress or Progress()
        self.retry_quarantined = retry_quarantined or settings.quarantine_retry
        self.workers = max(1, settings.parallel_batches or os.cpu_count() or 1)
        self.threads = max(1, settings.threads or os.cpu_count() or 1)
        self.target = target or DuckDBTarget(
            open_sink(settings.lake, settings.lake_endpoint_url, settings.lake_region)
        )
        self.target.prepare(con)

    def run(self, feed_names: Sequence[str] | None = None) -> RunResult:
        load_id = clock.new_load_id()
        feeds = [self.config.feed(n) for n in feed_names] if feed_names else list(self.config.feeds)
        started = clock.utcnow()
        results = []
        try:
            for feed in feeds:
                self.progress.start_feed(feed.name)
                try:
                    results.append(self.load_feed(feed, load_id))
                except (duckdb.Error, OSError) as exc:
                    problem = environment_problem(exc)
                    if problem is None:
                        raise
                    raise EnvironmentFailure(problem) from None
                self.progress.end_feed(results[-1])
        except EnvironmentFailure:
            raise
        except BaseException:  # Ctrl-C or SIGTERM: the run is recorded with what it committed
            self._record_interrupted(load_id, feeds, started)
            raise
        result = RunResult(load_id, results)
        problems = result.quarantined or result.rejected or result.unrecognized
        status = "failed" if result.failed else ("partial" if problems else "ok")
        self.con.execute(
            f"insert into {META_SCHEMA}.loads values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                started,
                clock.utcnow(),
                ",".join(f.name for f in feeds),
                status,
                sum(r.files_loaded for r in results),
                sum(r.files_quarantined for r in results),
                sum(r.rows for r in results),
            ],
        )
        return result

    def _record_interrupted(self, load_id: str, feeds: Sequence[Feed], started: datetime) -> None:
        self.con.execute(
            f"""insert into {META_SCHEMA}.loads
                select ?, ?, ?, ?, 'interrupted',
                       count(*) filter (where status = 'loaded'),
                       count(*) filter (where status = 'quarantined'),
                       coalesce(sum(rows) filter (where status = 'loaded'), 0)
                from {META_SCHEMA}.files where load_id = ?""",
            [load_id, started, clock.utcnow(), ",".join(f.name for f in feeds), load_id],
        )

    def load_feed(self, feed: Feed, load_id: str) -> FeedResult:
        result = FeedResult(feed.name)
        layout = get_layout(feed.vendor, feed.options)
        try:
            transport = self._transport(feed)
        except TransportError as exc:
            result.errors.append(str(exc))
            return result
        try:
            FeedRun(self, feed, layout, transport, load_id, result).run()
        except TransportError as exc:
            result.errors.append(str(exc))
        finally:
            # an API transport may finish some windows and fail later ones: those failures still count
            result.errors.extend(transport.errors)
            transport.close()
        return result

    def _transport(self, feed: Feed) -> Transport:
        if feed.scheme == "apsis" or feed.api is not None:
            from ..transports.apsis import ApsisTransport, loaded_windows

            return ApsisTransport(feed, loaded_windows(self.con, feed.name))
        return open_transport(feed)
