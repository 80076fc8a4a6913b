"""Simon Data flow feeds fixture: four flows, each with its own format (CSV, TSV, JSONL), identity hashing
and custom-context columns, exported four times a day per operation under `flows/<yyyy>/<mm>/<dd>/` (with
`unpadded`: `flows/2024/3/18/`). A TSV file is named `.csv` with control `file_type` `csv`: the document names
only the `.csv` and `.jsonl` extensions and the file types `csv` and `jsonl`.

Each export run writes one data file per flow and operation with a row per contact for the feed (action
NULL) plus one per applicable flow action, all stamped with the time of export, and its control file with
the true row count. With `dup` some files are re-sent (new name, same rows); with `control_late` some
control files arrive half an hour after their data; with `multi_control` one flow's day is vouched for
by a single control file listing all its data files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

from ..vendors import simon as layout
from .files import Output, Written
from .world import World

VENDOR = "simon"
CLIENT = "acme"
FEED_PATH = "flows"
RUN_HOURS = (2, 8, 14, 20)


@dataclass(frozen=True)
class Flow:
    idx: int
    flow_id: str
    name: str
    segment: str
    ext: str  # csv | tsv | jsonl
    hashed: bool
    actions: tuple[str, ...]
    variants: tuple[str, ...]
    contexts: tuple[str, ...]
    drift_context: str | None = None  # a custom context added mid-stream
    extra: dict = field(default_factory=dict)


FLOWS = [
    Flow(0, "4101", "Welcome journey", "New subscribers", "csv", False, ("Send Email", "Add to Facebook Audience"),
         ("control", "treatment"), ("first_name", "plan"), "loyalty_tier"),
    Flow(1, "4102", "Churn risk", "Churn risk high", "tsv", False, ("Send SMS",), (), ("favorite_category",)),
    Flow(2, "4103", "VIP upsell", "VIP customers", "jsonl", True, ("Send Email", "Send Push"), ("A", "B", "C"),
         ("coupon_code", "plan")),
    Flow(3, "4104", "Lapsed buyers", "No purchase 90d", "csv", True, ("Add to Google Audience",), (), ()),
]  # fmt: skip
CONTEXT_SQL = {
    "first_name": "c.first_name",
    "plan": "case when rnd(c.contact, 'sm_plan') < 0.7 then 'free' else 'pro' end",
    "favorite_category": "['shoes', 'outerwear', 'home', 'beauty'][1 + rint(c.contact, 'sm_cat', 4)]",
    "coupon_code": "'SAVE-' || upper(hex8(c.contact, 'sm_coupon'))",
    "loyalty_tier": "['bronze', 'silver', 'gold'][1 + rint(c.contact, 'sm_tier', 3)]",
}


def _run_at(world: World, flow: Flow, run: int) -> datetime:
    day = world.start + timedelta(days=run // len(RUN_HOURS))
    rng = world.rng(f"simon-run:{flow.idx}:{run}")
    return datetime(
        day.year, day.month, day.day, RUN_HOURS[run % len(RUN_HOURS)], flow.idx * 7, rng.randrange(60)
    )


def generate(world: World) -> None:
    runs = world.days * len(RUN_HOURS)
    world.table_from(
        "sm_runs",
        {
            "flow_idx": [f.idx for f in FLOWS for r in range(runs)],
            "run": [r for f in FLOWS for r in range(runs)],
            "export_at": [_run_at(world, f, r) for f in FLOWS for r in range(runs)],
        },
    )
    world.table_from(
        "sm_flows",
        {
            "flow_idx": [f.idx for f in FLOWS],
            "flow_id": [f.flow_id for f in FLOWS],
            "flow_name": [f.name for f in FLOWS],
            "segment_name": [f.segment for f in FLOWS],
            "hashed": [f.hashed for f in FLOWS],
            "actions": [list(f.actions) for f in FLOWS],
            "variants": [list(f.variants) for f in FLOWS],
        },
    )
    audience = world.audience(VENDOR)
    entries = max(1, round(world.budget(VENDOR) / 2.05))
    contexts = sorted(
        {c for f in FLOWS for c in f.contexts} | {f.drift_context for f in FLOWS if f.drift_context}
    )
    context_cols = ", ".join(f"{CONTEXT_SQL[c]} as {c}" for c in contexts)
    world.execute(
        f"""
        create or replace table simon_events as
        with entries as (
            select i, rint(i, 'sm_flow', {len(FLOWS)}) as flow_idx, rint(i, 'sm_run', {runs}) as run,
                case when rnd(i, 'sm_op') < 0.75 then 'add' else 'remove' end as operation,
                rint(i, 'sm_who', {audience}) as k
            from range({entries}) r(i)
            -- one entry per contact, flow, run and operation: a file lists a contact once per action
            qualify row_number() over (partition by flow_idx, run, operation, k order by i) = 1
        ),
        expanded as (
            select e.*, f.flow_id, f.flow_name, f.segment_name, f.hashed, f.variants,
                unnest(list_prepend(null::varchar, list_filter(f.actions,
                    lambda a, j: rnd(e.i * 8 + j, 'sm_action') < 0.7))) as action
            from entries e join sm_flows f using (flow_idx)
        )
        select row_number() over (order by x.flow_idx, x.run, x.operation, x.i, x.action nulls first) - 1 as seq,
            x.flow_idx, x.run, x.operation, x.flow_id, x.flow_name, x.segment_name, x.action, x.hashed,
            case when x.hashed then c.email_sha256 else c.email end as identifier,
            r.export_at as ts,
            case when len(x.variants) > 0 then x.variants[1 + rint(c.contact * 31 + x.flow_idx, 'sm_variant',
                len(x.variants))] end as variant,
            {context_cols},
            case x.operation when 'add' then 'segment_added' else 'segment_removed' end as event_type,
            c.email_sha256 as contact_key
        from expanded x join contacts_{VENDOR} c on c.k = x.k
        join sm_runs r on r.flow_idx = x.flow_idx and r.run = x.run
        """
    )
    world.execute("create or replace view simon_truth as select 'simon' as vendor, event_type, ts as occurred_at, "
                  "contact_key from simon_events")  # fmt: skip


def _columns(world: World, flow: Flow, export_at: datetime) -> list[str]:
    cols = list(layout.COLUMNS) + list(flow.contexts)
    drift_from = world.start + timedelta(days=world.days // 2)
    if flow.drift_context and world.has("drift") and export_at.date() >= drift_from:
        cols.append(flow.drift_context)
    return cols


def _select(columns: list[str]) -> str:
    return ", ".join(
        f"strftime(ts, '{layout.TIMESTAMP_FORMAT}') as timestamp" if c == "timestamp" else f'"{c}"'
        for c in columns
    )


def _vendor_location(vendor_uri: str) -> tuple[str, str]:
    """(bucket, path) as Simon's feed configuration would name them for this destination."""
    parsed = urlparse(vendor_uri)
    base = parsed.path.strip("/")
    return parsed.netloc or "localhost", f"{base}/{FEED_PATH}".strip("/")


def write(world: World, out: Output, vendor_uri: str) -> None:
    bucket, path = _vendor_location(vendor_uri)
    dup, late_controls, multi = world.has("dup"), world.has("control_late"), world.has("multi_control")
    padded = not world.has("unpadded")
    world.execute(
        "create or replace table sm_rows as select * from simon_events order by flow_idx, run, operation, seq"
    )
    groups = world.execute(
        "select flow_idx, run, operation, count(*) from sm_rows group by all order by all"
    ).fetchall()
    counts = {(f, r, op): n for f, r, op, n in groups}
    runs = world.days * len(RUN_HOURS)
    pending_multi: dict[tuple[int, date], list[tuple[str, layout.ControlEntry, datetime]]] = {}
    for flow in FLOWS:
        for run in range(runs):
            export_at = _run_at(world, flow, run)
            for operation in layout.OPERATIONS:
                n = counts.get((flow.idx, run, operation), 0)
                if n == 0:
                    continue
                rng = world.rng(f"simon-file:{flow.idx}:{run}:{operation}")
                sends = [export_at]
                if dup and rng.random() < 0.1:
                    sends.append(export_at + timedelta(hours=1, minutes=rng.randrange(50)))  # re-sent
                for copy, sent_at in enumerate(sends):
                    random_part = f"{rng.getrandbits(40):010x}"
                    name = layout.data_file_name(
                        CLIENT, flow.flow_id, operation, random_part, sent_at, _extension(flow)
                    )
                    folder = layout.folder_for(FEED_PATH, sent_at.date(), padded)
                    rel = f"{folder}/{name}"
                    columns = _columns(world, flow, export_at)
                    notes = (["re-sent"] if copy else []) + (["tsv-as-csv"] if flow.ext == "tsv" else [])
                    if flow.ext != "jsonl" and world.has("drift") and rng.random() < 0.2:
                        rng.shuffle(columns)
                        notes.append("reordered")
                    where = "flow_idx = ? and run = ? and operation = ?"
                    params = [flow.idx, run, operation]
                    if flow.ext == "jsonl":
                        data = out.text_lines(
                            world.con,
                            f"select to_json(struct_pack({_json_fields(columns)}))::varchar || chr(10) from sm_rows"
                            f" where {where} order by seq",
                            params,
                        )
                        out.write_bytes(rel, data, Written(rel, VENDOR, layout.TABLE, n, sent_at, "data"))
                        rows = n
                    else:
                        crlf = world.has("crlf") and flow.ext == "csv" and rng.random() < 0.3
                        bom = world.has("bom") and flow.ext == "csv" and rng.random() < 0.15
                        notes += ["crlf"] * crlf + ["bom"] * bom
                        rows = out.copy_csv(world.con, f"select {_select(columns)} from sm_rows where {where} order by seq",
                                            params, rel, delimiter="\t" if flow.ext == "tsv" else ",", crlf=crlf,
                                            bom=bom)  # fmt: skip
                        out.record(Written(rel, VENDOR, layout.TABLE, rows, sent_at, "data", ",".join(notes)))
                    entry = layout.ControlEntry(
                        file=name,
                        url=f"{vendor_uri.rstrip('/')}/{rel}",
                        bucket=bucket,
                        path=path,
                        rows=rows,
                        flow_id=flow.flow_id,
                        flow_name=flow.name,
                        file_type=_extension(flow),
                    )
                    control_at = sent_at + timedelta(seconds=1)
                    if late_controls and rng.random() < 0.25:
                        control_at = sent_at + timedelta(minutes=30)
                    if multi and flow.idx == len(FLOWS) - 1:
                        pending_multi.setdefault((flow.idx, sent_at.date()), []).append(
                            (rel, entry, control_at)
                        )
                        continue
                    _write_control(out, folder, [entry], control_at)
    if world.has("empty"):
        for flow in FLOWS:  # a run that found nobody: header only (CSV/TSV) or 0 bytes (JSONL), rows 0
            at = datetime(world.start.year, world.start.month, world.start.day, 23, 30 + flow.idx)
            name = layout.data_file_name(CLIENT, flow.flow_id, "remove", f"{world.rng(f'e{flow.idx}').getrandbits(40):010x}",
                                         at, _extension(flow))  # fmt: skip
            folder = layout.folder_for(FEED_PATH, at.date(), padded)
            rel = f"{folder}/{name}"
            if flow.ext == "jsonl":
                out.write_bytes(rel, b"", Written(rel, VENDOR, layout.TABLE, 0, at, "data", "empty"))
            else:
                out.copy_csv(world.con, f"select {_select(_columns(world, flow, at))} from sm_rows where false", None,
                             rel, delimiter="\t" if flow.ext == "tsv" else ",")  # fmt: skip
                out.record(Written(rel, VENDOR, layout.TABLE, 0, at, "data", "header-only"))
            entry = layout.ControlEntry(name, f"{vendor_uri.rstrip('/')}/{rel}", bucket, path, 0, flow.flow_id,
                                        flow.name, _extension(flow))  # fmt: skip
            _write_control(out, folder, [entry], at + timedelta(seconds=1))
    for _key, items in sorted(pending_multi.items()):
        # one control file for the whole day of this flow, named after its first data file, sent last
        folder = items[0][0].rsplit("/", 1)[0]
        _write_control(
            out, folder, [e for _, e, _ in items], max(at for _, _, at in items) + timedelta(minutes=5)
        )
    world.execute("drop table sm_rows")


def _extension(flow: Flow) -> str:
    """The file's extension, which is also the control file's `file_type` [doc]: TSV travels as `csv`."""
    return layout.EXTENSION_OF_FORMAT[flow.ext]


def _json_fields(columns: list[str]) -> str:
    out = []
    for c in columns:
        expr = f"strftime(ts, '{layout.TIMESTAMP_FORMAT}')" if c == "timestamp" else f'"{c}"'
        out.append(f'"{c}" := {expr}')
    return ", ".join(out)


def _write_control(out: Output, folder: str, entries: list[layout.ControlEntry], at: datetime) -> None:
    name = layout.control_file_name(entries[0].file)
    rel = f"{folder}/{name}"
    data = (json.dumps(layout.control_document(entries), indent=2) + "\n").encode()
    note = f"lists {len(entries)} data files" if len(entries) > 1 else ""
    out.write_bytes(rel, data, Written(rel, VENDOR, None, sum(e.rows for e in entries), at, "control", note))
