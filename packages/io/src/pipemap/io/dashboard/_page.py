"""The dashboard page, rendered on the server (counts, graph and controls are in the HTML; the
script only refreshes them and draws the grid).

>>> import pipemap.io as pio
>>> from pipemap.io.dashboard._state import FolderState
>>> state = FolderState(pio.example_run_folder())
>>> html = render_page(state.refresh(), state)
>>> '<tr data-output="y"' in html, "<svg" in html
(True, True)
"""

from __future__ import annotations

import json
import time
from html import escape
from typing import Any

from ._graph import pipeline_svg
from ._state import FolderState

__all__ = ["render_page"]

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222}
header{display:flex;gap:1em;align-items:baseline;flex-wrap:wrap;border-bottom:1px solid #ddd;padding:.6em 0}
h1{font-size:1.3em;margin:0} h2{font-size:1.1em;margin:1.2em 0 .4em}
code{background:#f3f3f3;padding:0 .3em;border-radius:3px}
.pill{border-radius:1em;padding:0 .7em;background:#eee}.pill.live{background:#3c9a5f;color:#fff}
.banner{background:#fde2e1;border:1px solid #d62728;padding:.5em;margin:.6em 0}
.warn{background:#fff4d6;border:1px solid #e0a800;padding:.5em;margin:.6em 0}
table{border-collapse:collapse} td,th{padding:.2em .7em;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{width:160px;height:10px;background:#d9d9d9;display:flex;border-radius:2px;overflow:hidden}
.bar .ok{background:#3c9a5f}.bar .bad{background:#d62728}
#heatmap{display:block;image-rendering:pixelated;border:1px solid #ccc;margin-top:.5em} [hidden]{display:none!important}
.scroll{max-height:420px;overflow:auto;display:inline-block}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 .8em;vertical-align:middle}
tr.failure{cursor:pointer} tr.failure:hover{background:#f6f6f6} tr.skipped td{color:#8a6d00}
pre{background:#f7f7f7;padding:.6em;overflow:auto;max-width:1100px;margin:0}
svg.graph rect{fill:#fff;stroke:#888} svg.graph .input rect{fill:#eef5ff}
svg.graph .function rect{fill:#f4f4f4} svg.graph .output rect{fill:#eaf6ee}
svg.graph text{font:12px monospace} svg.graph .edge{fill:none;stroke:#999}
#lineplot .frame{fill:none;stroke:#ccc}#lineplot .line{fill:none;stroke:#3b528b;stroke-width:2}
#lineplot text{font:12px sans-serif}
"""

_LEGEND = [("done", "#3c9a5f"), ("failed", "#d62728"), ("skipped (input failed)", "#ff9f1c"), ("missing", "#d9d9d9"), ("partly done", "#9ecae1")]


def _cell(value: Any) -> str:
    return "n/a" if value is None else escape(str(value))


def _rate(rate: float | None) -> str:
    """As the script shows it: ``12/s``, ``0.25/s`` or ``-``."""
    return "-" if rate is None else (f"{rate:.0f}/s" if rate >= 10 else f"{rate:.2f}/s")


def _eta(seconds: float | None) -> str:
    """``42 s``, ``12 min``, ``2.5 h`` or ``-``."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _counts_table(snap: dict[str, Any]) -> str:
    show_reused = any("reused" in o for o in snap["outputs"])
    head = ["output", "kind", "shape", "storage", "done", "failed", "missing"] + (["reused"] if show_reused else [])
    head += ["total", "progress", "rate", "ETA", "note"]
    rows = ["<table id='counts'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for o in snap["outputs"]:
        shape = "(" + ", ".join(f"{a}={s}" for a, s in zip(o["axes"], o["shape"])) + ")" if o["kind"] == "mapped" else "-"
        cells = [f"<td>{escape(o['name'])}</td><td>{o['kind']}</td><td>{escape(shape)}</td><td>{escape(o['storage'] or '-')}</td>"]
        for key in ["done", "failed", "missing"] + (["reused"] if show_reused else []) + ["total"]:
            cells.append(f"<td class='num {key}'>{_cell(o.get(key))}</td>")
        total = o["total"] or 0
        ok = 100 * (o["done"] or 0) / total if total else 0
        bad = 100 * (o["failed"] or 0) / total if total else 0
        cells.append(f"<td><div class='bar'><div class='ok' style='width:{ok:.2f}%'></div><div class='bad' style='width:{bad:.2f}%'></div></div></td>")
        cells.append(f"<td class='num rate'>{_rate(o['rate'])}</td><td class='num eta'>{_eta(o['eta'])}</td>")
        cells.append(f"<td class='note'>{escape(o['note'])}</td>")
        rows.append(f"<tr data-output=\"{escape(o['name'])}\">{''.join(cells)}</tr>")
    rows.append("</tbody></table>")
    return "".join(rows)


def _grid_section(snap: dict[str, Any]) -> str:
    mapped = [o for o in snap["outputs"] if o["kind"] == "mapped" and o["axes"]]
    failing = [o for o in mapped if o["failed"]]
    mapped = failing[:1] + [o for o in mapped if o not in failing[:1]]  # the first output with failures first
    if not mapped:
        return "<p>No mapped outputs.</p>"
    options = "".join(f"<option value=\"{escape(o['name'])}\">{escape(o['name'])}</option>" for o in mapped)
    legend = "".join(f"<span style='background:{c}'></span>{escape(t)}" for t, c in _LEGEND)
    return (
        f"<div><label>output <select id='grid-output'>{options}</select></label> "
        "<label>show <select id='grid-mode'><option value='state'>element states</option>"
        "<option value='values'>values (numbers)</option></select></label> <span id='axis-controls'></span></div>"
        f"<div class='legend'>{legend}</div><canvas id='heatmap' width='0' height='0'></canvas>"
        "<svg id='lineplot' width='800' height='300' style='display:none'></svg><div id='grid-info'></div>"
    )


def _damaged(snap: dict[str, Any]) -> str:
    damaged = snap.get("damaged") or []
    return escape("damaged: " + "; ".join(damaged)) if damaged else ""


def render_page(snap: dict[str, Any], state: FolderState) -> str:
    """The full HTML page for snapshot ``snap`` of ``state``."""
    folder = escape(snap["run_folder"])
    head = (
        "<!doctype html><html><head><meta charset='utf-8'><title>pipemap: "
        f"{folder}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>pipemap dashboard</h1><code>{folder}</code>"
        f"<span id='running' class='pill'>{'running' if snap.get('running') else 'not running'}</span>"
        f"<span>started {escape(str(snap.get('started') or 'unknown'))}</span>"
        f"<span>{escape(str(snap.get('written_by', '')))}</span><span>updated <span id='updated'>{time.strftime('%H:%M:%S', time.localtime(snap['time']))}</span></span></header>"
        f"<div id='error' class='banner'{'' if snap['error'] else ' hidden'}>{escape(snap['error'])}</div>"
        f"<div id='damaged' class='warn'{'' if snap.get('damaged') else ' hidden'}>{_damaged(snap)}</div>"
    )
    if state.view is None:
        body = "<p>Waiting for a run folder here (the page reloads when one appears).</p>"
        script = "<script>setInterval(async()=>{const s=await (await fetch('api/state')).json(); if(!s.error) location.reload();}, 2000)</script>"
        return head + body + script + "</body></html>"
    view = state.view
    graph = pipeline_svg(view.mapspecs, view.input_names, view.output_names)
    body = (
        f"<h2>Outputs</h2>{_counts_table(snap)}"
        f"<h2>Grid</h2>{_grid_section(snap)}"
        "<h2>Failures</h2><p id='failures-empty'>No failed elements.</p>"
        "<div class='scroll'><table id='failures' hidden><thead><tr><th>element</th><th>function</th><th>inputs</th><th>exception</th>"
        "<th>message</th><th>attempts</th></tr></thead><tbody></tbody></table></div>"
        f"<h2>Pipeline</h2>{graph}"
    )
    initial = json.dumps(snap).replace("</", "<\\/")
    script = f"<script type='application/json' id='initial-state'>{initial}</script><script src='static/dashboard.js'></script>"
    return head + body + script + "</body></html>"
