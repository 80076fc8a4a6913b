"""The report's charts as plotly figure specifications (plain dicts, drawn by plotly.js in the page).

Feed x day figures are heatmaps (one row per feed, one column per day): they stay readable at hundreds of
days and dozens of feeds, where one line per feed would not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from .data import HealthData, TestResult

# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
OK, WARN, BAD, MUTED = "#009E73", "#E69F00", "#D55E00", "#9E9E9E"
STATUS_COLOURS = {"pass": OK, "success": OK, "warn": WARN, "fail": BAD, "error": BAD, "skipped": MUTED}


@dataclass
class Chart:
    key: str
    title: str
    note: str
    figure: dict[str, Any]


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "margin": {"l": 60, "r": 20, "t": 48, "b": 48},
        "height": 360,
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.18},
    }
    layout.update(extra)
    return layout


def _feed_height(feeds: int) -> int:
    return max(260, 110 + 22 * feeds)


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _day_axis(days: list[Any], title: str) -> dict[str, Any]:
    """A date axis that shows whole days, also for one day (plotly would zoom in to milliseconds)."""
    axis: dict[str, Any] = {"type": "date", "title": {"text": title}}
    if days:
        first, last = min(days), max(days)
        if isinstance(first, date) and not isinstance(first, datetime):
            axis["range"] = [_shift(first, -12), _shift(last, 12)]
        if len(set(days)) < 8:
            axis["dtick"] = 86400000
            axis["tickformat"] = "%b %d, %Y"
    return axis


def _shift(day: date, hours: int) -> str:
    return (datetime(day.year, day.month, day.day) + timedelta(hours=hours)).isoformat(sep=" ")


def _heatmap(
    daily: list[dict[str, Any]],
    value: str,
    title: str,
    unit: str,
    colorscale: Any,
    scale: float = 1.0,
    zmin: float | None = None,
) -> dict[str, Any]:
    feeds = sorted({r["feed"] for r in daily})
    days = sorted({r["activity_date"] for r in daily})
    col = {d: i for i, d in enumerate(days)}
    row = {f: i for i, f in enumerate(feeds)}
    z: list[list[float | None]] = [[None] * len(days) for _ in feeds]
    for r in daily:
        v = r[value]
        z[row[r["feed"]]][col[r["activity_date"]]] = None if v is None else float(v) * scale
    return {
        "data": [
            {
                "type": "heatmap",
                "x": [_day(d) for d in days],
                "y": feeds,
                "z": z,
                "colorscale": colorscale,
                "zmin": zmin,
                "hoverongaps": False,
                "colorbar": {"title": {"text": unit}},
                "hovertemplate": "%{y}<br>%{x}<br>%{z:,.4~g} " + unit + "<extra></extra>",
                "xgap": 1 if len(days) <= 120 else 0,
                "ygap": 1,
            }
        ],
        "layout": _layout(
            title,
            height=_feed_height(len(feeds)),
            xaxis=_day_axis(days, "day loaded (UTC)"),
            yaxis={"automargin": True, "autorange": "reversed"},
        ),
    }


def events_per_vendor(data: HealthData) -> Chart:
    by_vendor: dict[str, tuple[list[str], list[int]]] = defaultdict(lambda: ([], []))
    for r in data.vendor_events:
        xs, ys = by_vendor[r["source_vendor"]]
        xs.append(_day(r["occurred_date"]))
        ys.append(r["events"])
    traces = [
        {"type": "bar", "name": v, "x": xs, "y": ys, "marker": {"color": PALETTE[i % len(PALETTE)]},
         "hovertemplate": v + "<br>%{x}<br>%{y:,} events<extra></extra>"}
        for i, (v, (xs, ys)) in enumerate(sorted(by_vendor.items()))
    ]  # fmt: skip
    return Chart(
        "events_per_vendor",
        "Events per vendor per day",
        "Distinct events of fct_engagement_events by the UTC day they happened, stacked by vendor.",
        {
            "data": traces,
            "layout": _layout(
                "Events per vendor per day (distinct events, by event day)",
                barmode="stack",
                bargap=0.05,
                xaxis=_day_axis([r["occurred_date"] for r in data.vendor_events], "event day (UTC)"),
                yaxis={"title": {"text": "events"}},
            ),
        },  # fmt: skip
    )


def files_per_feed(data: HealthData) -> Chart:
    return Chart(
        "files_per_feed",
        "Files loaded per feed per day",
        "Each row a feed, each column a day; blank: nothing loaded that day.",
        _heatmap(
            [r for r in data.daily if r["files_loaded"]],
            "files_loaded",
            "Files loaded per feed per day",
            "files",
            "Blues",
        ),  # fmt: skip
    )


def rows_per_feed(data: HealthData) -> Chart:
    return Chart(
        "rows_per_feed",
        "Rows loaded per feed per day",
        "Rows put into raw tables; a day far from its neighbours is what the volume test looks for.",
        _heatmap(
            [r for r in data.daily if r["rows_loaded"]],
            "rows_loaded",
            "Rows loaded per feed per day",
            "rows",
            "Viridis",
        ),  # fmt: skip
    )


def freshness(data: HealthData) -> Chart:
    rows = [r for r in data.freshness if r["hours_since_last_file"] is not None]
    feeds = [r["feed"] for r in rows]
    hours = [round(float(r["hours_since_last_file"]), 2) for r in rows]
    limits = [round(float(r["silence_threshold_hours"]), 2) for r in rows]
    colours = [BAD if h > t else OK for h, t in zip(hours, limits, strict=True)]
    return Chart(
        "freshness",
        "Freshness per feed against its threshold",
        "Hours since the feed's newest file was loaded (bar; red when past the threshold) and the hours of "
        "silence its usual cadence allows (black mark).",
        {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "name": "hours since last file",
                    "y": feeds,
                    "x": hours,
                    "marker": {"color": colours},
                    "hovertemplate": "%{y}: %{x:,.1f} h since the last file<extra></extra>",
                },
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": "silence threshold",
                    "y": feeds,
                    "x": limits,
                    "marker": {
                        "symbol": "line-ns-open",
                        "size": 18,
                        "color": "#000000",
                        "line": {"width": 3},
                    },
                    "hovertemplate": "%{y}: silent after %{x:,.1f} h<extra></extra>",
                },
            ],  # fmt: skip
            "layout": _layout(
                "Freshness per feed: hours since the last file vs threshold",
                height=_feed_height(len(feeds)),
                xaxis={"title": {"text": "hours"}, "rangemode": "tozero"},
                yaxis={"automargin": True, "autorange": "reversed"},
            ),
        },
    )


def problems_over_time(data: HealthData) -> Chart:
    per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in data.problems:
        per_day[r["problem"]][_day(r["noticed_date"])] += r["files"]
    rejected: dict[str, int] = defaultdict(int)
    for r in data.reject_reasons:
        rejected[_day(r["activity_date"])] += r["rows_rejected"]
    colours = {"quarantined": BAD, "unrecognized": "#CC79A7", "waiting": WARN}
    traces = [
        {"type": "bar", "name": f"{p} files", "x": sorted(days), "y": [days[d] for d in sorted(days)],
         "marker": {"color": colours.get(p, MUTED)},
         "hovertemplate": "%{x}<br>%{y:,} " + p + " files<extra></extra>"}
        for p, days in sorted(per_day.items())
    ]  # fmt: skip
    if rejected:
        days = sorted(rejected)
        traces.append({"type": "scatter", "mode": "lines+markers", "name": "rejected rows", "x": days,
                       "y": [rejected[d] for d in days], "yaxis": "y2", "line": {"color": "#0072B2"},
                       "hovertemplate": "%{x}<br>%{y:,} rejected rows<extra></extra>"})  # fmt: skip
    return Chart(
        "problems_over_time",
        "Quarantined, unrecognized and waiting files, rejected rows",
        "Files per day that did not load as they are (bars) and rows rejected (line, right axis). Waiting "
        "files are the current set, on the day of the latest check.",
        {
            "data": traces,
            "layout": _layout(
                "Problem files and rejected rows per day",
                barmode="stack",
                xaxis={"type": "date", "title": {"text": "day recorded (UTC)"}},
                yaxis={"title": {"text": "files"}, "rangemode": "tozero"},
                yaxis2={
                    "title": {"text": "rejected rows"},
                    "overlaying": "y",
                    "side": "right",
                    "rangemode": "tozero",
                    "showgrid": False,
                },
            ),
        },  # fmt: skip
    )


def problem_reasons(data: HealthData, top: int = 15) -> Chart:
    files: dict[str, int] = defaultdict(int)
    for r in data.problems:
        files[f"{r['problem']}: {r['reason_kind']}"] += r["files"]
    rows: dict[str, int] = defaultdict(int)
    for r in data.reject_reasons:
        rows[f"rejected row: {r['reason_kind']}"] += r["rows_rejected"]
    ranked_files = sorted(files.items(), key=lambda kv: -kv[1])[:top]
    ranked_rows = sorted(rows.items(), key=lambda kv: -kv[1])[:top]

    def label(text: str) -> str:
        return text if len(text) <= 70 else text[:67] + "..."

    traces = []
    if ranked_files:
        traces.append({"type": "bar", "orientation": "h", "name": "files", "marker": {"color": BAD},
                       "y": [label(k) for k, _ in ranked_files], "x": [v for _, v in ranked_files],
                       "customdata": [k for k, _ in ranked_files],
                       "hovertemplate": "%{customdata}<br>%{x:,} files<extra></extra>"})  # fmt: skip
    if ranked_rows:
        traces.append({"type": "bar", "orientation": "h", "name": "rejected rows", "xaxis": "x2",
                       "marker": {"color": "#0072B2"}, "y": [label(k) for k, _ in ranked_rows],
                       "x": [v for _, v in ranked_rows], "customdata": [k for k, _ in ranked_rows],
                       "hovertemplate": "%{customdata}<br>%{x:,} rows<extra></extra>"})  # fmt: skip
    n = len(ranked_files) + len(ranked_rows)
    layout = _layout("Why files and rows did not load (top reasons)", height=max(260, 120 + 26 * n),
                     yaxis={"automargin": True, "autorange": "reversed"},
                     xaxis={"title": {"text": "files"}, "domain": [0, 0.48] if ranked_rows else [0, 1]},
                     barmode="group")  # fmt: skip
    if ranked_rows:
        layout["xaxis2"] = {"title": {"text": "rows"}, "domain": [0.52, 1] if ranked_files else [0, 1]}
    return Chart(
        "problem_reasons",
        "Quarantine and reject reasons",
        "The loader's reasons with file names and numbers folded out, so one problem in many files is one bar.",
        {"data": traces, "layout": layout},
    )


def schema_drift(data: HealthData) -> Chart:
    traces = []
    for initial, name, colour in (
        (True, "columns of a new table", MUTED),
        (False, "new vendor columns", BAD),
    ):
        rows = [r for r in data.schema_changes if bool(r["is_initial"]) == initial]
        if not rows:
            continue
        traces.append({
            "type": "scatter", "mode": "markers", "name": name,
            "x": [r["seen_at"].isoformat(sep=" ") for r in rows], "y": [r["raw_table"] for r in rows],
            "marker": {"color": colour, "size": [min(30, 7 + 2 * r["columns"]) for r in rows],
                       "line": {"width": 1, "color": "#ffffff"}},
            "customdata": [[r["columns"], r["column_names"][:300], r["feed"] or ""] for r in rows],
            "hovertemplate": "%{y} (%{customdata[2]})<br>%{x}<br>%{customdata[0]} column(s): "
                             "%{customdata[1]}<extra></extra>",
        })  # fmt: skip
    tables = len({r["raw_table"] for r in data.schema_changes})
    return Chart(
        "schema_drift",
        "Schema drift over time",
        "Columns raw tables gained, by when: grey with the table's first load, red later (the vendor changed "
        "its feed; the test no_new_vendor_columns warns on recent ones). Marker size: columns at once.",
        {
            "data": traces,
            "layout": _layout(
                "Columns added to raw tables over time",
                height=_feed_height(tables),
                xaxis={"type": "date", "title": {"text": "seen (UTC)"}},
                yaxis={"automargin": True},
            ),
        },  # fmt: skip
    )


def duplicate_rate(data: HealthData) -> Chart:
    return Chart(
        "duplicate_rate",
        "Duplicate rate per feed per day",
        "Share of event rows loaded that day that brought no new event to fct_engagement_events (re-sent "
        "files, retried events, overlapping windows).",
        _heatmap(
            [r for r in data.daily if r["raw_event_rows"]],
            "duplicate_rate",
            "Duplicate rate per feed per day (% of event rows)",
            "%",
            [[0, "#f7fbff"], [0.2, "#fdd49e"], [1, "#b30000"]],
            scale=100.0,
            zmin=0.0,
        ),  # fmt: skip
    )


def late_arrival(data: HealthData) -> Chart:
    bands: dict[int, str] = {}
    totals: dict[str, int] = defaultdict(int)
    counts: dict[tuple[str, int], int] = {}
    for r in data.late:
        bands[r["lateness_band_order"]] = r["lateness_band"]
        totals[r["feed"]] += r["events"]
        counts[(r["feed"], r["lateness_band_order"])] = r["events"]
    feeds = sorted(totals)
    ramp = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027", "#7f0000"]
    traces = []
    for order in sorted(bands):
        share = [100.0 * counts.get((f, order), 0) / totals[f] for f in feeds]
        traces.append({"type": "bar", "orientation": "h", "name": bands[order], "y": feeds, "x": share,
                       "marker": {"color": ramp[(order - 1) % len(ramp)]},
                       "customdata": [counts.get((f, order), 0) for f in feeds],
                       "hovertemplate": "%{y}: %{x:.1f}% (%{customdata:,} events) " + bands[order]
                                        + " late<extra></extra>"})  # fmt: skip
    return Chart(
        "late_arrival",
        "Late arrival distribution",
        "Load time minus event time of each distinct event's first copy, as a share of the feed's events; "
        "per-day percentiles are in health.feed_health_daily (late_hours_p50/p90/p99).",
        {
            "data": traces,
            "layout": _layout(
                "How late events arrive, per feed (% of events)",
                barmode="stack",
                height=_feed_height(len(feeds)),
                xaxis={"title": {"text": "% of events"}, "range": [0, 100]},
                yaxis={"automargin": True, "autorange": "reversed"},
            ),
        },  # fmt: skip
    )


def load_runs(data: HealthData) -> Chart:
    outcomes = sorted({r["outcome"] for r in data.runs})
    colours = {"ok": OK, "partial": WARN, "failed": BAD, "unfinished": "#CC79A7", "interrupted": "#CC79A7"}
    traces = []
    for outcome in outcomes:
        rows = [r for r in data.runs if r["outcome"] == outcome]
        traces.append({
            "type": "scatter", "mode": "markers", "name": outcome,
            "x": [r["started_at"].isoformat(sep=" ") for r in rows],
            "y": [None if r["duration_seconds"] is None else round(float(r["duration_seconds"]), 3) for r in rows],
            "marker": {"color": colours.get(outcome, MUTED), "size": 9},
            "customdata": [[r["rows_loaded"], r["files_loaded"], round(float(r["rows_per_second"] or 0))]
                           for r in rows],
            "hovertemplate": "%{x}<br>%{y:,.1f} s, %{customdata[1]:,} files, %{customdata[0]:,} rows, "
                             "%{customdata[2]:,} rows/s<extra>" + outcome + "</extra>",
        })  # fmt: skip
    return Chart(
        "load_runs",
        "Load runs",
        "Each `feeds load` run: its duration and outcome (hover for files, rows and rows per second).",
        {
            "data": traces,
            "layout": _layout(
                "Load runs: duration and outcome",
                xaxis={"type": "date", "title": {"text": "started (UTC)"}},
                yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"},
            ),
        },  # fmt: skip
    )


def tests_chart(tests: list[TestResult]) -> Chart:
    order = ["error", "fail", "warn", "skipped", "pass", "success"]
    counts: dict[str, int] = defaultdict(int)
    for t in tests:
        counts[t.status] += 1
    statuses = [s for s in order if counts.get(s)] + sorted(s for s in counts if s not in order)
    return Chart(
        "tests",
        "dbt tests of the last run",
        "Tests by outcome in dbt's run_results.json; the ones that did not pass are listed below.",
        {
            "data": [
                {
                    "type": "bar",
                    "x": statuses,
                    "y": [counts[s] for s in statuses],
                    "marker": {"color": [STATUS_COLOURS.get(s, MUTED) for s in statuses]},
                    "text": [counts[s] for s in statuses],
                    "textposition": "auto",
                    "hovertemplate": "%{x}: %{y} tests<extra></extra>",
                }
            ],  # fmt: skip
            "layout": _layout("dbt tests by outcome", height=300, yaxis={"title": {"text": "tests"}}),
        },
    )


def all_charts(data: HealthData) -> list[Chart]:
    charts = [
        events_per_vendor(data),
        files_per_feed(data),
        rows_per_feed(data),
        freshness(data),
        problems_over_time(data),
        problem_reasons(data),
        schema_drift(data),
        duplicate_rate(data),
        late_arrival(data),
        load_runs(data),
    ]
    if data.tests:
        charts.append(tests_chart(data.tests))
    return charts


def has_data(chart: Chart) -> bool:
    for trace in chart.figure["data"]:
        for axis in ("x", "y", "z"):
            if trace.get(axis):
                return True
    return False


def span(days: list[date]) -> str:
    if not days:
        return "no days"
    first, last = min(days), max(days)
    return f"{first.isoformat()} to {last.isoformat()} ({(last - first + timedelta(days=1)).days} days)"
