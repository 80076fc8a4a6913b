"""One coherent world behind every vendor's fixture feed.

One population of contacts (e-mail addresses and the ids each vendor knows them by), one calendar, one seed.
Each vendor sees a deterministic subset of the contacts, so a person seen by two vendors has the same e-mail
hash everywhere. Events are generated per vendor on first use (`world.ensure(vendor)`), vectorized inside
an in-memory DuckDB: randomness is `hash(key, salt, seed)`, never `random()`, so the same seed and arguments
give the same rows on any number of threads, and every output is written in an explicit order.

`--events` is the size of the whole world, shared out across the five vendors by `SHARES`; exporting fewer
vendors writes only their shares (so a vendor's data does not depend on which others are exported).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    import pyarrow as pa

VENDORS = ("sailthru", "simon", "apsis", "encharge", "leanplum")
SHARES = {"sailthru": 0.35, "leanplum": 0.25, "apsis": 0.15, "encharge": 0.15, "simon": 0.10}

# Quirks of real feeds, all on by default; `--quirks` picks a subset.
QUIRKS = {
    "dup": "duplicate deliveries: Sailthru catch-up parts, Simon re-sent files, APSIS retried correlation_ids "
    "and overlapping windows, Encharge webhook retries, Leanplum repeated event_ids",
    "spill": "Leanplum events near midnight filed in the neighbouring day's dt= folder",
    "late": "late files: Sailthru mobile rows up to 48 h late in a later dt= folder, catch-up parts arriving days later",
    "drift": "a new column appearing mid-stream, and columns reordered in some files",
    "empty": "empty (0 byte) and header-only files",
    "crlf": "CRLF line ends in some text files",
    "bom": "a UTF-8 byte order mark at the start of some text files",
    "control_late": "Simon control files arriving after their data file",
    "multi_control": "one Simon control file listing several data files",
    "seed_path": "Sailthru lookups in the seed's `hr=<hh>client_id=<id>/` folder form (no slash)",
    "time0": "APSIS rows with event_time 0 (fall back to server_time)",
    "email_case": "APSIS addresses with upper case letters and surrounding spaces",
    "unpadded": "Simon day folders without zero padding (`flows/2024/3/18/`), as `/path/year/month/day` allows",
    "stray": "files no layout claims: Spark `_SUCCESS` markers in Sailthru's event folders (the generated "
    "feeds.yml's Sailthru feed lists them under `ignore:`)",
}
ALL_QUIRKS = frozenset(QUIRKS)

FIRST_NAMES = ["anna", "ben", "carla", "dev", "elin", "farah", "goran", "hana", "ivan", "jade", "kofi", "lena",
               "mateo", "nora", "omar", "pia", "quinn", "rosa", "sven", "tara", "umar", "vera", "wei", "yara"]  # fmt: skip
LAST_NAMES = ["berg", "chen", "diaz", "eklund", "fischer", "garcia", "holm", "ivanova", "jensen", "khan",
              "larsen", "moreau", "nakamura", "okafor", "persson", "rossi", "silva", "tanaka", "weber"]  # fmt: skip
DOMAINS = ["example.com", "example.org", "mail.example.net", "inbox.example.se", "corp.example.io"]
COUNTRIES = ["SE", "NO", "DK", "FI", "DE", "GB", "US", "FR", "NL", "ES"]
CITIES = ["Stockholm", "Oslo", "Copenhagen", "Helsinki", "Berlin", "London", "Boston", "Paris", "Utrecht"]


def sql_list(values: Iterable[Any]) -> str:
    """A SQL list literal of trusted, generated constants (never vendor input)."""
    out = []
    for v in values:
        if isinstance(v, str):
            out.append("'" + v.replace("'", "''") + "'")
        else:
            out.append(str(v))
    return "[" + ", ".join(out) + "]"


def as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


@dataclass
class World:
    seed: int
    n_contacts: int
    n_events: int
    start: date
    days: int
    quirks: frozenset[str] = ALL_QUIRKS
    threads: int | None = None
    con: duckdb.DuckDBPyConnection = field(init=False, repr=False)
    _built: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.days < 1 or self.n_contacts < 1 or self.n_events < 0:
            raise ValueError("days and contacts must be at least 1, events at least 0")
        self.start = as_date(self.start)
        self.con = duckdb.connect(config={"preserve_insertion_order": True})
        if self.threads:
            self.con.execute(f"set threads = {int(self.threads)}")
        seed = int(self.seed)
        start_ms = int(self.start_at.timestamp() * 1000)
        self.con.execute(
            f"""
            create macro rnd(k, salt) as ((hash(k, salt, {seed}::bigint) >> 11)::double / 9007199254740992.0);
            create macro rint(k, salt, n) as ((hash(k, salt, {seed}::bigint) % greatest(n, 1)::ubigint)::bigint);
            create macro hex16(k, salt) as lpad(lower(to_hex(hash(k, salt, {seed}::bigint))), 16, '0');
            create macro hex8(k, salt) as substr(hex16(k, salt), 9, 8);
            create macro uuid_of(k, salt) as (
                substr(hex16(k, salt), 1, 8) || '-' || substr(hex16(k, salt), 9, 4) || '-4'
                || substr(hex16(k, salt), 14, 3) || '-' || substr('89ab', 1 + rint(k, salt || 'v', 4)::int, 1)
                || substr(hex16(k, salt || 'b'), 2, 3) || '-' || substr(hex16(k, salt || 'b'), 5, 12));
            create macro uuid7_of(ts, k, salt) as (
                lpad(lower(to_hex(epoch_ms(ts))), 12, '0')[1:8] || '-'
                || lpad(lower(to_hex(epoch_ms(ts))), 12, '0')[9:12] || '-7'
                || substr(hex16(k, salt), 1, 3) || '-' || substr('89ab', 1 + rint(k, salt || 'v', 4)::int, 1)
                || substr(hex16(k, salt), 4, 3) || '-' || substr(hex16(k, salt || 'b'), 1, 12));
            create macro at_ms(offset_ms) as epoch_ms({start_ms}::bigint + (offset_ms)::bigint);
            """
        )
        self._build_contacts()

    # ------------------------------------------------------------ calendar

    @property
    def start_at(self) -> datetime:
        return datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)

    @property
    def end_at(self) -> datetime:
        return self.start_at + timedelta(days=self.days)

    @property
    def window_ms(self) -> int:
        return self.days * 86_400_000

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def budget(self, vendor: str) -> int:
        return round(self.n_events * SHARES[vendor])

    def has(self, quirk: str) -> bool:
        return quirk in self.quirks

    def rng(self, salt: str) -> random.Random:
        """A seeded Python RNG for the few small entity lists (campaigns, flows, apps)."""
        return random.Random(f"{self.seed}:{salt}")

    # ------------------------------------------------------------ SQL helpers

    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def arrow(self, sql: str, params: Any = None) -> pa.Table:
        return self.con.sql(sql, params=params).to_arrow_table()

    def table_from(self, name: str, columns: dict[str, list[Any]]) -> None:
        """Create a small table from Python lists (entity lists; events are generated in SQL)."""
        import pyarrow as pa  # only the export side writes Arrow; `feeds load` starts without it

        data = pa.table(columns)  # noqa: F841 -- read by DuckDB's replacement scan below
        self.con.execute(f"create or replace table {name} as select * from data")

    def ensure(self, vendor: str) -> None:
        """Generate a vendor's events once; later calls reuse them."""
        if vendor in self._built:
            return
        import importlib

        if vendor not in VENDORS:
            raise KeyError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
        importlib.import_module(f"{__package__}.{vendor}").generate(self)
        self._built.add(vendor)

    def close(self) -> None:
        self.con.close()

    # ------------------------------------------------------------ contacts

    def _build_contacts(self) -> None:
        """Every person of the world, with the id each vendor knows them by and which vendors see them."""
        n = int(self.n_contacts)
        self.con.execute(
            f"""
            create table contacts as
            select
                i as contact,
                {sql_list(FIRST_NAMES)}[1 + rint(i, 'first', {len(FIRST_NAMES)})] as first_name,
                {sql_list(LAST_NAMES)}[1 + rint(i, 'last', {len(LAST_NAMES)})] as last_name,
                first_name || '.' || last_name || i::varchar || '@'
                    || {sql_list(DOMAINS)}[1 + rint(i, 'domain', {len(DOMAINS)})] as email,
                sha256(email) as email_sha256,
                md5(email) as email_md5,
                hex16(i, 'profile') || hex8(i, 'profile2') as profile_id,
                uuid_of(i, 'encharge') as encharge_id,
                'lp' || lpad(lower(to_hex(hash(i, 'lpuser', {int(self.seed)}::bigint) % 1000000000000)), 10, '0')
                    as leanplum_user_id,
                upper(uuid_of(i, 'device')) as device_id,
                case when rnd(i, 'platform') < 0.55 then 'ios' else 'android' end as platform,
                {sql_list(COUNTRIES)}[1 + rint(i, 'country', {len(COUNTRIES)})] as country,
                {sql_list(CITIES)}[1 + rint(i, 'city', {len(CITIES)})] as city,
                case when rnd(i, 'gender') < 0.48 then 'female' when rnd(i, 'gender') < 0.95 then 'male'
                     else 'other' end as gender,
                at_ms(-(1 + rint(i, 'signup', 1000)) * 86400000 - rint(i, 'signup_ms', 86400000))
                    as signup_at,
                rnd(i, 'in_sailthru') < 0.75 as in_sailthru,
                rnd(i, 'in_simon') < 0.5 as in_simon,
                rnd(i, 'in_apsis') < 0.5 as in_apsis,
                rnd(i, 'in_encharge') < 0.45 as in_encharge,
                rnd(i, 'in_leanplum') < 0.6 as in_leanplum,
                -- Leanplum: half the users are in the JSON app, half in the Parquet app; of the latter most
                -- carry their e-mail as a user attribute
                case when rnd(i, 'lp_app') < 0.5 then 'json' else 'parquet' end as leanplum_app,
                rnd(i, 'lp_email') < 0.7 as leanplum_email_known
            from range({n}) r(i)
            order by i
            """
        )
        for vendor in VENDORS:
            # k: 0..n-1 within the vendor's audience, so events pick a contact with rint(key, salt, n)
            self.con.execute(
                f"""create table contacts_{vendor} as
                select row_number() over (order by contact) - 1 as k, * from contacts
                where in_{vendor} or contact = 0 order by contact"""
            )

    def audience(self, vendor: str) -> int:
        return self.con.execute(f"select count(*) from contacts_{vendor}").fetchall()[0][0]


def build_world(
    seed: int,
    contacts: int,
    events: int,
    start: date | datetime | str,
    days: int,
    quirks: Iterable[str] | None = None,
    threads: int | None = None,
) -> World:
    """The world for one seed and size; vendors' events are generated lazily on first use."""
    chosen = ALL_QUIRKS if quirks is None else frozenset(quirks)
    unknown = chosen - ALL_QUIRKS
    if unknown:
        raise ValueError(f"unknown quirk(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(QUIRKS))}")
    return World(int(seed), int(contacts), int(events), as_date(start), int(days), chosen, threads)
