"""One feed's load: list, gate, plan, fetch and check, then load in parallel batches with a tolerant pass.

A `FeedRun` lives for one feed of one run and holds that feed's state. Its steps:
1. list the transport, refuse unsafe names, record files no layout claims (listing.py);
2. for a control-gated layout, keep the data files a control file vouches for (control.py);
3. plan the versions the ledger does not hold (ledger.py) and hold back a loaded file come back empty;
4. localize: a local path for each (in place, or fetched), its format sniffed, its content checked
   (localize.py, guards.py), a CSV file inspected for its dialect and record count;
5. bind every batch, add new columns in one transaction, insert the batches side by side (batch.py);
   a batch that fails is split until the bad file is alone; a CSV file the strict reader refuses gets the
   tolerant pass (tolerant.py), one at a time after the others.
Each file ends loaded, quarantined, or left for the next run (changed while read), and counted in its
`FeedResult`.
"""

from __future__ import annotations

import tempfile
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from ..config import Feed
from ..csvinspect import Inspection
from ..listing import Listing, note_vendor_files, record_unrecognized, sort_listing
from ..transports import Transport, safe_relpath
from ..vendors import Layout, sniff
from .batch import Validator, apply_schema, load_batch, prepare_batch
from .control import Gate, gate_on_control_files
from .errors import (
    BatchValidationError,
    EnvironmentFailure,
    FileChanged,
    FileRejected,
    RecountMismatch,
    describe_error,
    environment_problem,
)
from .faults import fault_point
from .guards import content_problem, recounts
from .ledger import batches, plan_feed
from .localize import fetch_all, file_format, inspect_csv
from .model import FeedResult, PendingFile, Prepared
from .tolerant import prepare_tolerant, why_tolerant

if TYPE_CHECKING:
    from .run import Loader

CHANGED = "changed or disappeared while read; retried next run"


class FeedRun:
    def __init__(
        self,
        loader: Loader,
        feed: Feed,
        layout: Layout,
        transport: Transport,
        load_id: str,
        result: FeedResult,
    ) -> None:
        self.con = loader.con
        self.settings = loader.config.settings
        self.progress = loader.progress
        self.target = loader.target
        self.workers = loader.workers
        self.threads = loader.threads
        self.retry_quarantined = loader.retry_quarantined
        self.feed = feed
        self.layout = layout
        self.transport = transport
        self.load_id = load_id
        self.result = result
        self._lock = threading.Lock()
        # what the feed's control files say (control-gated layouts only)
        self.gate: Gate | None = None
        # CSV files the strict pass refused, for the tolerant pass after the parallel inserts: it may add
        # columns, and ALTER TABLE must not race the other batches' inserts
        self._deferred: list[tuple[PendingFile, str]] = []

    def run(self) -> None:
        feed, result = self.feed, self.result
        listed = []
        for remote in self.transport.list():
            try:
                safe_relpath(remote.relpath)
            except ValueError as exc:
                result.errors.append(f"{feed.name}: skipped {exc}")
                continue
            listed.append(remote)
        for problem in self.transport.problems:
            result.files_unreadable += 1
            result.notes.append(problem)
        fault_point("after_list")
        listing = sort_listing(listed, self.layout, feed.ignore)
        self._report_listing(listing)
        listed = listing.claimed
        if self.layout.control_gated:
            self.gate = gate_on_control_files(self.con, self.transport, feed.name, self.layout, listed)
            result.errors.extend(self.gate.errors)
            result.files_waiting = len(self.gate.waiting)
            listed = self.gate.ready
        pending, result.files_seen = plan_feed(self.con, feed, self.layout, listed, self.retry_quarantined)
        pending = self._hold_emptied(pending)
        if self.gate is not None:
            for p in pending:
                p.lineage = self.gate.lineage.get(p.remote.uri, {})
        if not pending:
            return
        self.progress.add_total(len(pending), sum(p.remote.size for p in pending))
        with tempfile.TemporaryDirectory(prefix="feeds-") as tmp:
            self._localize(pending, Path(tmp))
            fault_point("after_localize")
            ready = [p for p in pending if p.local is not None]
            strict = []
            for p in ready:
                if p.inspection is not None and not p.inspection.strict_ok:
                    self._deferred.append((p, why_tolerant(p)))  # DuckDB's strict reader would not fit it
                else:
                    strict.append(p)
            self._load_batches(
                batches(strict, feed.max_batch_bytes, feed.max_batch_files, self.workers), Path(tmp)
            )

    # ------------------------------------------------------------ listing and planning

    def _report_listing(self, listing: Listing) -> None:
        """Files no layout claims go to the ledger and the summary (exit 1); ignored ones are counted; a feed
        whose listing holds no file of its vendor says so."""
        feed, result = self.feed, self.result
        record_unrecognized(self.con, feed.name, listing.unrecognized, self.load_id)
        result.files_unrecognized = len(listing.unrecognized)
        result.files_ignored = len(listing.ignored)
        result.unrecognized = [f"{r.uri}: {why}" for r, why in listing.unrecognized]
        message = None
        if not listing.claimed and feed.scheme != "apsis" and feed.api is None:
            found = len(listing.unrecognized) + len(listing.ignored)
            message = f"no {feed.vendor} file under {feed.uri}: " + (
                f"{found} files listed, none in the {feed.vendor} layout ({len(listing.unrecognized)} "
                f"unrecognized, {len(listing.ignored)} ignored)"
                if found
                else "the listing is empty; check the feed's uri"
            )
            result.warnings.append(message)
        note_vendor_files(self.con, feed.name, message)

    def _hold_emptied(self, pending: list[PendingFile]) -> list[PendingFile]:
        """A loaded file that comes back empty is suspicious (a failed re-upload, a truncation): it is
        quarantined and its rows stay, rather than an empty version replacing them."""
        kept = []
        for f in pending:
            if f.replaces and f.remote.size == 0 and not self.retry_quarantined:
                self._quarantine(
                    f,
                    f"{f.remote.uri}: was loaded, now 0 bytes: suspicious, so its loaded rows are kept; if the "
                    "file is really empty now, re-send it with its header, or run with --retry-quarantined",
                )
                continue
            kept.append(f)
        return kept

    # ------------------------------------------------------------ localize and check

    def _localize(self, pending: list[PendingFile], tmp: Path) -> None:
        """Give every pending file a local path (in place, or downloaded), its format and its checks; a
        file that fails one is quarantined, or left for the next run when it changed meanwhile."""
        for exc in fetch_all(self.transport, pending, tmp):
            self.result.errors.append(str(exc))
        for f in pending:
            if f.local is None or f.remote.size == 0:
                f.fmt = f.route.fmt
                continue
            try:
                sniffed = sniff(f.local)
            except (OSError, EOFError, zlib.error) as exc:  # a broken deflate stream past the magic bytes
                if isinstance(exc, FileNotFoundError) or self._has_changed(f):
                    self._changed(
                        f, f"{f.remote.uri}: disappeared while it was read; retried on the next run"
                    )
                    continue
                self._quarantine(f, f"{f.remote.uri}: cannot decompress: {exc}; re-send it")
                continue
            f.gzip = sniffed.gzip
            f.fmt = file_format(f, sniffed)
            if f.fmt is None:
                self._quarantine(f, f"{f.remote.uri}: cannot tell the file format from its content")
                continue
            table = self.layout.table_for(f.route, f.fmt)
            if table != f.route.table:
                f.route = replace(f.route, table=table)
            f.required = self.layout.required_columns(table)
            limit = f.feed.max_decompressed_bytes or self.settings.max_decompressed_bytes
            problem = content_problem(f, limit)
            if problem is not None:
                self._quarantine(f, f"{f.remote.uri}: {problem}")
        csvs = [f for f in pending if f.local is not None and f.remote.size > 0 and f.fmt in ("csv", "tsv")]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            # the C counter and zlib let go of the GIL: files are inspected side by side
            found = list(pool.map(lambda f: inspect_csv(f, self.settings), csvs))
        for f, outcome in zip(csvs, found, strict=True):
            if isinstance(outcome, Inspection):
                f.inspection = outcome
            elif isinstance(outcome, FileChanged):
                self._changed(f, str(outcome))
            else:
                self._quarantine(f, f"{f.remote.uri}: {outcome}")

    def _has_changed(self, f: PendingFile) -> bool:
        """Whether a file read in place is no longer the version listed (changed, grown, gone)."""
        if f.local is None or f.local.name.endswith(".part"):
            return False  # a fetched copy is the version it was fetched as
        return self.transport.current_version(f.remote) != f.remote.version

    # ------------------------------------------------------------ outcomes

    def _changed(self, f: PendingFile, message: str) -> None:
        """A file that vanished or changed during the read: no ledger entry, so the next run takes it."""
        f.local = None
        with self._lock:
            self.result.files_changed += 1
            self.result.notes.append(message)

    def _quarantine(self, f: PendingFile, error: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.target.quarantine(con or self.con, f, self.load_id, error)
        f.local = None
        with self._lock:
            self.result.files_quarantined += 1
            self.result.notes.append(error)
            self.progress.advance(1, f.remote.size, 0)

    def _loaded(self, files: Sequence[PendingFile], rows: int) -> None:
        nbytes = sum(f.remote.size for f in files)
        with self._lock:
            self.result.files_loaded += len(files)
            self.result.rows += rows
            self.result.bytes += nbytes
            self.progress.advance(len(files), nbytes, rows)

    # ------------------------------------------------------------ batches

    def _load_batches(self, cut: list[list[PendingFile]], tmp: Path) -> None:
        """Bind every batch, add the new columns in one transaction, then insert batches in parallel.

        Each insert runs in its own transaction on its own cursor; a file-ordered scan (for row numbers)
        uses one core, so parallel batches are what keeps the loader near DuckDB's bare reading speed.
        """
        # Batches running side by side share the cores: DuckDB's threads are split between them, or each
        # statement would start a thread per core and they would crowd each other (measured: 15% slower).
        shared = len(cut) > 1 and self.workers > 1
        self.con.execute(f"set threads = {max(1, self.threads // self.workers) if shared else self.threads}")
        try:
            self._run_batches(cut)
        finally:
            self.con.execute(f"set threads = {self.threads}")
        for f, first_error in self._deferred:  # one file at a time, with every thread
            self._load_tolerant(f, first_error, tmp)
        self._deferred = []

    def _run_batches(self, cut: list[list[PendingFile]]) -> None:
        def prepare(batch: list[PendingFile]) -> list[Prepared]:
            cur = self.con.cursor()
            try:
                return self._prepare_or_split(cur, batch)
            finally:
                cur.close()

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            prepared = [p for group in pool.map(prepare, cut) for p in group]
        apply_schema(self.con, self.target, prepared, self.load_id)
        fault_point("after_schema")

        def insert(batch: Prepared) -> None:
            cur = self.con.cursor()
            try:
                self._insert_or_split(cur, batch)
            finally:
                cur.close()
                deferred = {id(d) for d, _ in self._deferred}
                for f in batch.files:
                    if f.local is not None and f.local.name.endswith(".part") and id(f) not in deferred:
                        f.local.unlink(missing_ok=True)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            try:
                list(pool.map(insert, prepared))
            except BaseException:
                pool.shutdown(
                    wait=True, cancel_futures=True
                )  # interrupted: finish the batches begun, no more
                raise

    def _prepare_or_split(self, cur: duckdb.DuckDBPyConnection, batch: list[PendingFile]) -> list[Prepared]:
        try:
            return [prepare_batch(cur, batch, self.load_id)]
        except (duckdb.Error, FileRejected) as exc:
            if len(batch) == 1:
                self._failed(cur, batch[0], exc)
                return []
            return [p for f in batch for p in self._prepare_or_split(cur, [f])]

    def _retry(self, cur: duckdb.DuckDBPyConnection, files: list[PendingFile]) -> None:
        """Prepare and insert these files again (split as they fail), without the ones that failed."""
        for again in self._prepare_or_split(cur, files):
            self._insert_or_split(cur, again)

    def _insert_or_split(self, cur: duckdb.DuckDBPyConnection, batch: Prepared) -> None:
        try:
            counts = load_batch(cur, self.target, batch, self.load_id, self._validator(batch.files))
        except FileChanged:
            good = []
            for f in batch.files:
                if self._has_changed(f):
                    self._changed(f, f"{f.remote.uri}: {CHANGED}")
                else:
                    good.append(f)
            if good:
                self._retry(cur, good)
            return
        except RecountMismatch as exc:
            good = [f for f in batch.files if f.remote.uri not in exc.bad]
            with self._lock:
                for f in batch.files:
                    if f.remote.uri in exc.bad:
                        self._deferred.append((f, f"{f.remote.uri}: {exc.bad[f.remote.uri]}"))
            if good:
                self._retry(cur, good)
            return
        except duckdb.Error as exc:
            problem = environment_problem(exc)
            if problem:
                raise EnvironmentFailure(problem) from None
            if len(batch.files) == 1:
                self._failed(cur, batch.files[0], exc)
                return
            for f in batch.files:  # isolate the bad file(s); the good ones still load
                self._retry(cur, [f])
            return
        except BatchValidationError as exc:
            good = [f for f in batch.files if f.remote.uri not in exc.bad]
            for f in batch.files:
                if f.remote.uri in exc.bad:
                    self._quarantine(f, f"{f.remote.uri}: {exc.bad[f.remote.uri]}", cur)
            if good:
                self._retry(cur, good)
            return
        self._loaded(batch.files, sum(counts.values()))

    def _failed(self, cur: duckdb.DuckDBPyConnection, f: PendingFile, exc: Exception) -> None:
        """One file the strict pass cannot read: a CSV gets the tolerant pass, anything else is quarantined."""
        problem = environment_problem(exc)
        if problem:
            raise EnvironmentFailure(problem) from None
        if self._has_changed(f):
            self._changed(f, f"{f.remote.uri}: {CHANGED}")
            return
        message = str(exc) if isinstance(exc, FileRejected) else describe_error(f, exc)
        if f.fmt in ("csv", "tsv") and not isinstance(exc, FileRejected):
            with self._lock:
                self._deferred.append((f, message))
            return
        self._quarantine(f, message, cur)

    def _load_tolerant(self, f: PendingFile, first_error: str, tmp: Path) -> None:
        """Good rows to raw, bad rows to loader.rejects with line and reason, in one transaction; if even
        that cannot read the file, quarantine it with the strict pass's reason."""
        cur = self.con.cursor()
        temps: list[str] = []
        try:
            try:
                prepared, temps = prepare_tolerant(cur, f, self.load_id, self.settings.max_line_bytes, tmp)
                apply_schema(cur, self.target, [prepared], self.load_id)
                validate = self._validator([f], len(prepared.rejects))
                counts = load_batch(cur, self.target, prepared, self.load_id, validate)
            except FileChanged as exc:
                self._changed(f, str(exc))
                return
            except (duckdb.Error, FileRejected, OSError) as exc:
                problem = environment_problem(exc)
                if problem:
                    raise EnvironmentFailure(problem) from None
                if self._has_changed(f):
                    self._changed(f, f"{f.remote.uri}: {CHANGED}")
                    return
                second = str(exc).split("\n")[0]
                if f.local is not None:
                    second = second.replace(f"file://{f.local}", f.remote.uri).replace(
                        str(f.local), f.remote.uri
                    )
                self._quarantine(f, f"{first_error} (tolerant pass: {second})", cur)
                return
            except BatchValidationError as exc:
                self._quarantine(f, f"{f.remote.uri}: {exc.bad[f.remote.uri]}", cur)
                return
            rows = counts[f.remote.uri]
            with self._lock:
                self.result.rows_rejected += len(prepared.rejects)
                if prepared.rejects:
                    lines = ", ".join(str(line) for line, _, _ in prepared.rejects[:5])
                    more = "" if len(prepared.rejects) <= 5 else ", ..."
                    self.result.rejects.append(
                        f"{f.remote.uri}: {len(prepared.rejects)} rows rejected (lines {lines}{more}: "
                        f"{prepared.rejects[0][1]}), {rows} loaded; see loader.rejects, fix and re-send"
                    )
            self._loaded([f], rows)
        finally:
            for name in temps:
                Path(name).unlink(missing_ok=True)
            cur.close()
            if f.local is not None and f.local.name.endswith(".part"):
                f.local.unlink(missing_ok=True)

    def _validator(self, files: Sequence[PendingFile], rejected: int | None = None) -> Validator:
        """Checked inside the batch's transaction, before its commit: each file is still the version read
        (else FileChanged), its rows loaded (+ rejected, for the tolerant pass) equal its independent record
        count, and a control file's rows. A strict batch that miscounts raises RecountMismatch (its files get
        the tolerant pass); a tolerant one is quarantined with both counts."""
        by_uri = {f.remote.uri: f for f in files}

        def validate(counts: dict[str, int]) -> dict[str, str]:
            changed = [f for f in files if self._has_changed(f)]
            if changed:
                raise FileChanged("; ".join(f"{f.remote.uri}: {CHANGED}" for f in changed))
            bad = self.gate.check_rows(counts) if self.gate is not None else {}
            return {**bad, **recounts(by_uri, counts, bad, rejected)}

        return validate
