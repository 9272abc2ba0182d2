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

_MIN_W, _H, _GAP_X, _GAP_Y = 60, 34, 44, 14
_CHAR_W = 7.3  # 12px monospace


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


def _label(node: str, kind: str, mapspecs: list[str], labels: dict[str, str] | None) -> str:
    name = node.split(":", 1)[1]
    if kind != "function":
        return name
    return (labels or {}).get(node) or (mapspecs[int(name)] if name.isdigit() else "function (no mapspec)")


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
    text = {node: _label(node, kind, mapspecs, labels) for node, kind in nodes.items()}
    n_columns = max(column.values(), default=0) + 1
    widths = [_MIN_W] * n_columns  # each column as wide as its longest label
    for node, c in column.items():
        widths[c] = max(widths[c], int(_CHAR_W * len(text[node])) + 16)
    lefts = [10 + sum(widths[:c]) + c * _GAP_X for c in range(n_columns)]
    rows: dict[int, int] = {}
    pos: dict[str, tuple[int, int]] = {}
    for node in sorted(nodes, key=lambda n: (column[n], n)):
        c = column[node]
        r = rows.get(c, 0)
        rows[c] = r + 1
        pos[node] = (lefts[c], 10 + r * (_H + _GAP_Y))
    width = lefts[-1] + widths[-1] + 10
    height = 20 + max(rows.values(), default=1) * (_H + _GAP_Y) - _GAP_Y
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for a, b in edges:
        (xa, ya), (xb, yb) = pos[a], pos[b]
        x1, y1, x2, y2 = xa + widths[column[a]], ya + _H // 2, xb, yb + _H // 2
        mid = (x1 + x2) // 2
        parts.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" />')
    for node, kind in nodes.items():
        x, y = pos[node]
        w = widths[column[node]]
        name = node.split(":", 1)[1]
        shape = f'rx="{_H // 2}"' if kind == "input" else 'rx="4"'
        data = f' data-output="{escape(name)}"' if kind == "output" else ""
        parts.append(
            f'<g class="node {kind}"{data}><rect x="{x}" y="{y}" width="{w}" height="{_H}" {shape} />'
            f'<text x="{x + w // 2}" y="{y + _H // 2 + 4}" text-anchor="middle">{escape(text[node])}</text>'
            f"<title>{escape(kind)}: {escape(text[node])}</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
