"""The load core: files -> raw tables, by name, exactly once per file version, one transaction per batch.

A batch is many files of one raw table and one format, read by a single DuckDB statement (a UNION ALL BY
NAME of one reader per file, so each row knows its file and its row number). New headers become new columns
first; the insert matches columns by name; the ledger rows of the batch are written in the same
transaction. If the batch fails, its files are retried one by one so that one bad file is quarantined and
the others still load.

The parts, each a module (imported by its own path; this package imports nothing):
- run.py       `Loader`: a run over the feeds, recorded in `loader.loads`; `Progress` callbacks
- feedrun.py   `FeedRun`: one feed's load, step by step (list, gate, plan, localize, batches, tolerant pass)
- ledger.py    what is loaded already; the plan of a feed and its batches
- control.py   control-file gating (Simon): a data file waits for the control file that vouches for it
- localize.py  each file fetched (or read in place), its format decided, a CSV file inspected
- readers.py   one DuckDB reader per file, a file's header or JSON keys, the batch statement
- guards.py    content checks: binary or oversized content, required columns, column names
- emails.py    hashing clear-text e-mails on their way into raw (`hash_emails: true`)
- batch.py     the batch transaction: prepare, add columns, load whole or not at all
- tolerant.py  the tolerant second pass for CSV, record by record, with rejects
- raw.py       the seam where raw rows and their ledger rows are written (`RawTarget`, DuckDB's)
- model.py     the records: `PendingFile`, `Prepared`, `FeedResult`, `RunResult`
- errors.py    what can go wrong, and whether it is the file's fault or the machine's
- clock.py     the loader's clock (one function, so a replay can set the day) and run ids
- faults.py    `fault_point`, the crash tests' hook
"""
