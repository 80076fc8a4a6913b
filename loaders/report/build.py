"""Assemble the report: one HTML file holding its data, its charts and plotly.js itself (nothing is
fetched when it is opened: it works from disk, offline, with no server)."""

from __future__ import annotations

import html
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .charts import Chart, all_charts, has_data, span
from .data import HealthData, ReportError, read_health, read_run_results

GENERATOR = "feeds report"


@dataclass
class Written:
    path: Path
    charts: int
    empty: list[str]  # charts left out for want of data, by title
    bytes: int


def _json(value: Any) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives as itself."""

    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat(sep=" ")
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, Decimal):
            return float(o)
        raise TypeError(f"cannot put {type(o).__name__} in the report")

    text = json.dumps(value, default=default, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plotly_js() -> tuple[str, str]:
    import plotly
    from plotly.offline import get_plotlyjs

    return get_plotlyjs(), plotly.__version__


def _tiles(data: HealthData) -> list[tuple[str, str, str]]:
    """(label, value, tone) for the summary row; tone is ok, warn or bad."""
    files = sum(r["files_loaded"] for r in data.daily)
    rows = sum(r["rows_loaded"] for r in data.daily)
    quarantined = sum(r["files_quarantined"] for r in data.daily)
    waiting = sum(r["files_waiting"] for r in data.daily)
    rejected = sum(r["rows_rejected"] for r in data.daily)
    silent = [
        r["feed"]
        for r in data.freshness
        if r["hours_since_last_file"] is not None
        and r["hours_since_last_file"] > r["silence_threshold_hours"]
    ]
    tiles = [
        ("feeds", f"{len(data.freshness):,}", "ok"),
        ("files loaded", f"{files:,}", "ok"),
        ("rows loaded", f"{rows:,}", "ok"),
        ("files quarantined", f"{quarantined:,}", "bad" if quarantined else "ok"),
        ("files waiting", f"{waiting:,}", "warn" if waiting else "ok"),
        ("rows rejected", f"{rejected:,}", "warn" if rejected else "ok"),
        ("silent feeds", f"{len(silent):,}", "bad" if silent else "ok"),
    ]
    if data.tests is not None:
        failing = [t for t in data.tests if t.status in ("fail", "error")]
        warning = [t for t in data.tests if t.status == "warn"]
        tone = "bad" if failing else ("warn" if warning else "ok")
        tiles.append(("tests failing / warning", f"{len(failing)} / {len(warning)}", tone))
    return tiles


def _tests_table(data: HealthData) -> str:
    if data.tests is None:
        return f"<p class='note'>No dbt test results: {html.escape(data.tests_source)}</p>"
    bad = [t for t in data.tests if t.status not in ("pass", "success", "skipped")]
    if not bad:
        return f"<p class='note'>All {len(data.tests)} tests of the last dbt run passed.</p>"
    rank = {"error": 0, "fail": 1, "warn": 2}
    rows = "".join(
        f"<tr class='{html.escape(t.status)}'><td>{html.escape(t.status)}</td><td>{html.escape(t.name)}</td>"
        f"<td class='num'>{'' if t.failures is None else f'{t.failures:,}'}</td>"
        f"<td>{html.escape(t.message[:300])}</td></tr>"
        for t in sorted(bad, key=lambda t: (rank.get(t.status, 3), t.name))
    )
    return (
        "<table><thead><tr><th>status</th><th>test</th><th>failing rows</th><th>message</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _page(data: HealthData, charts: list[Chart], empty: list[Chart], source: str) -> str:
    js, version = _plotly_js()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    days = sorted({r["activity_date"] for r in data.daily})
    tiles = "".join(
        f"<div class='tile {tone}'><div class='value'>{html.escape(value)}</div>"
        f"<div class='label'>{html.escape(label)}</div></div>"
        for label, value, tone in _tiles(data)
    )
    sections = "".join(
        f"<section><h2>{html.escape(c.title)}</h2><p class='note'>{html.escape(c.note)}</p>"
        f"<div class='chart' id='chart-{c.key}' data-chart='{c.key}'></div></section>"
        for c in charts
    )
    if empty:
        sections += (
            "<section><h2>Nothing to draw</h2><p class='note'>"
            + html.escape("; ".join(f"{c.title}: no data in the health mart" for c in empty))
            + "</p></section>"
        )
    figures = _json({c.key: c.figure for c in charts})
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{GENERATOR}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feed health report</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328;
       background: #f6f8fa; }}
header {{ background: #ffffff; border-bottom: 1px solid #d0d7de; padding: 16px 24px; }}
h1 {{ font-size: 22px; margin: 0 0 4px 0; }}
h2 {{ font-size: 16px; margin: 0 0 2px 0; }}
main {{ padding: 16px 24px; max-width: 1400px; margin: 0 auto; }}
.meta, .note {{ color: #57606a; font-size: 13px; margin: 2px 0 8px 0; }}
.tiles {{ display: flex; flex-wrap: wrap; gap: 10px; margin-top: 12px; }}
.tile {{ background: #ffffff; border: 1px solid #d0d7de; border-left: 6px solid #009E73; border-radius: 6px;
         padding: 8px 14px; min-width: 130px; }}
.tile.warn {{ border-left-color: #E69F00; }} .tile.bad {{ border-left-color: #D55E00; }}
.tile .value {{ font-size: 20px; font-weight: 600; }} .tile .label {{ font-size: 12px; color: #57606a; }}
section {{ background: #ffffff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 16px;
           margin-bottom: 16px; }}
table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }}
td.num {{ text-align: right; }} tr.fail td:first-child, tr.error td:first-child {{ color: #D55E00; font-weight: 600; }}
tr.warn td:first-child {{ color: #b07800; font-weight: 600; }}
</style>
<script>/* plotly.js {html.escape(version)} (MIT), inlined: the page fetches nothing */
{js}
</script>
</head>
<body>
<header>
<h1>Feed health report</h1>
<div class="meta">Generated {generated} from {html.escape(source)}; loads from {html.escape(span(days))}.
All times UTC.</div>
<div class="tiles">{tiles}</div>
</header>
<main>
{sections}
<section><h2>Tests that did not pass</h2>{_tests_table(data)}</section>
</main>
<script>
(function () {{
  var figures = {figures};
  var config = {{displaylogo: false, responsive: true,
                modeBarButtonsToRemove: ["sendDataToCloud"]}};
  window.reportCharts = Object.keys(figures);
  window.reportReady = Promise.all(window.reportCharts.map(function (key) {{
    var figure = figures[key];
    return Plotly.newPlot("chart-" + key, figure.data, figure.layout, config);
  }}));
}})();
</script>
</body>
</html>
"""


def write_report(db: Path, out: Path, run_results: Path | None = None, force: bool = False) -> Written:
    """Read the health mart of `db` (and dbt's run results when given and present), write `out`."""
    if out.exists() and not force:
        head = out.read_bytes()[:4096]
        if f'<meta name="generator" content="{GENERATOR}">'.encode() not in head:
            raise ReportError(
                f"{out}: exists and is not a report this command wrote; pick another --out "
                "(or pass --force to replace it)"
            )
    data = read_health(db)
    if run_results is not None:
        if run_results.exists():
            data.tests = read_run_results(run_results)
            data.tests_source = str(run_results)
        else:
            data.tests_source = f"{run_results} does not exist (run `dbt build` to make it)"
    else:
        data.tests_source = "no --run-results given"
    charts = all_charts(data)
    drawn = [c for c in charts if has_data(c)]
    empty = [c for c in charts if not has_data(c)]
    page = _page(data, drawn, empty, db.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    # write beside, then rename: a reader never sees half a report
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Written(out, len(drawn), [c.title for c in empty], len(page.encode()))


__all__ = ["ReportError", "Written", "write_report"]
