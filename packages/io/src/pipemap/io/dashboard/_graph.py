"""The pipeline as an SVG graph, from the run record alone: inputs, one box per mapspec
(a mapped function), outputs; single outputs the record has no mapspec for get their own box
(the record does not say what they read).

Nodes are placed in columns by their longest path from an input.

>>> svg = pipeline_svg(["x[i] -> y[i]", "y[i], w[j] -> z[i, j]"], ["x", "w"], ["y", "z", "t"])
>>> svg.count('class="node output'), "y[i], w[j] -&gt; z[i, j]" in svg
(3, True)
"""

from __future__ import annotations

from html import escape

from pipemap.mapspec import MapSpec

__all__ = ["pipeline_order", "pipeline_svg"]

_W, _H, _GAP_X, _GAP_Y = 190, 34, 70, 18


def _graph(mapspecs: list[str], inputs: list[str], outputs: list[str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Nodes ``{id: kind}`` and edges between ids (``in:x``, ``fn:<k>``, ``out:y``)."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    produced: set[str] = set()
    output_set = set(outputs)
    for k, text in enumerate(mapspecs):
        try:
            spec = MapSpec.from_string(text)
        except Exception:  # noqa: BLE001, S112 - a damaged record is reported elsewhere
            continue
        fn = f"fn:{k}"
        nodes[fn] = "function"
        for array in spec.inputs:
            source = f"out:{array.name}" if array.name in output_set else f"in:{array.name}"
            nodes.setdefault(source, "output" if array.name in output_set else "input")
            edges.append((source, fn))
        for array in spec.outputs:
            nodes[f"out:{array.name}"] = "output"
            produced.add(array.name)
            edges.append((fn, f"out:{array.name}"))
    for name in inputs:
        if name not in output_set:
            nodes.setdefault(f"in:{name}", "input")
    for k, name in enumerate(sorted(output_set - produced)):
        fn = f"fn:single{k}"
        nodes[fn] = "function"
        nodes[f"out:{name}"] = "output"
        edges.append((fn, f"out:{name}"))
    return nodes, edges


def _columns(nodes: dict[str, str], edges: list[tuple[str, str]]) -> dict[str, int]:
    column = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest path (the graph is a DAG; bounded passes)
        moved = False
        for a, b in edges:
            if column[b] < column[a] + 1:
                column[b] = column[a] + 1
                moved = True
        if not moved:
            break
    last = max((c for n, c in column.items() if not n.startswith("fn:single")), default=0)
    for a, b in edges:  # functions without a mapspec (inputs unknown) go after everything else
        if a.startswith("fn:single"):
            column[a], column[b] = last + 1, last + 2
    return column


def pipeline_order(mapspecs: list[str], outputs: list[str]) -> list[str]:
    """``outputs`` in pipeline order (by column, then name; outputs without a mapspec last).

    >>> pipeline_order(["y[i] -> z[i]", "x[i] -> y[i]"], ["t", "z", "y"])
    ['y', 'z', 't']
    """
    nodes, edges = _graph(mapspecs, [], outputs)
    column = _columns(nodes, edges)
    mapped = {b for a, b in edges if a[3:].isdigit()}  # produced by a mapspec; the others last
    return sorted(outputs, key=lambda name: (column[f"out:{name}"] if f"out:{name}" in mapped else len(nodes), name))


def pipeline_svg(mapspecs: list[str], inputs: list[str], outputs: list[str], labels: dict[str, str] | None = None) -> str:
    """The SVG markup; ``labels`` maps ``fn:<k>`` ids to function labels (default: the mapspec)."""
    nodes, edges = _graph(mapspecs, inputs, outputs)
    column = _columns(nodes, edges)
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for node in sorted(nodes, key=lambda n: (column[n], n)):
        c = column[node]
        r = rows.get(c, 0)
        rows[c] = r + 1
        pos[node] = (10 + c * (_W + _GAP_X), 10 + r * (_H + _GAP_Y))
    width = 20 + (max(column.values(), default=0) + 1) * (_W + _GAP_X) - _GAP_X
    height = 20 + max(rows.values(), default=1) * (_H + _GAP_Y) - _GAP_Y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, y1, x2, y2 = xa + _W, ya + _H // 2, xb, yb + _H // 2
        mid = (x1 + x2) // 2
        parts.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" />')
    for node, kind in nodes.items():
        x, y = pos[node]
        name = node.split(":", 1)[1]
        if kind == "function":
            text = (labels or {}).get(node) or (mapspecs[int(name)] if name.isdigit() else "function (inputs not recorded)")
        else:
            text = name
        shape = f'rx="{_H // 2}"' if kind == "input" else 'rx="4"'
        data = f' data-output="{escape(name)}"' if kind == "output" else ""
        parts.append(
            f'<g class="node {kind}"{data}><rect x="{x}" y="{y}" width="{_W}" height="{_H}" {shape} />'
            f'<text x="{x + _W // 2}" y="{y + _H // 2 + 4}" text-anchor="middle">{escape(text)}</text>'
            f"<title>{escape(kind)}: {escape(text)}</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
