"""2-D pictures of an N-D output: element states (or values) over two chosen axes.

The other axes are either fixed at one index or aggregated ("all"); grids larger than
``max_cells`` per side are binned into blocks. An aggregated cell is ``failed`` if any of its
elements failed, else ``skipped`` if any was skipped, else ``done`` if all are done, ``partial``
if some are, else ``missing``. Values aggregate by their mean (NaN ignored).

>>> codes = np.array([[0, 1], [3, 0]], dtype=np.int8)
>>> pick = GridPick.choose(("i", "j"), {})
>>> state_grid(codes, pick)["codes"]
'0130'
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PARTIAL", "GridPick", "state_grid", "value_grid"]

PARTIAL = 4
MAX_CELLS = 400


@dataclass(frozen=True)
class GridPick:
    """Which axis runs down (``y``, None for 1-D), which across (``x``), and the index of every
    other axis (None: aggregate over it).

    >>> GridPick(("i", "j", "k"), "i", "j", (("k", 0),)).selection()
    (slice(None, None, None), slice(None, None, None), 0)
    """

    axes: tuple[str, ...]
    y: str | None
    x: str
    fixed: tuple[tuple[str, int | None], ...]

    @classmethod
    def choose(cls, axes: tuple[str, ...], query: dict[str, str], shape: tuple[int, ...] | None = None) -> GridPick:
        """Read the pick from query parameters ``x``, ``y`` (empty: a 1-D picture across ``x``) and
        ``fix.<axis>`` (an index or ``all``); defaults: the first two axes, others aggregated.
        Unknown axes raise ``ValueError``.

        >>> GridPick.choose(("i", "j", "k"), {"x": "k", "fix.j": "2"})
        GridPick(axes=('i', 'j', 'k'), y='i', x='k', fixed=(('j', 2),))
        """
        if not axes:
            msg = "the output has no external axes"
            raise ValueError(msg)
        for key in ("x", "y"):
            if query.get(key) and query[key] not in axes:
                msg = f"unknown axis `{query[key]}` for `{key}`; the output's axes are {', '.join(axes)}"
                raise ValueError(msg)
        x = query.get("x") or (axes[1] if len(axes) > 1 else axes[0])
        rest = [a for a in axes if a != x]
        if "y" in query and query["y"] in ("", "none"):
            y = None  # asked for a 1-D picture across x
        else:
            y = query.get("y") or (rest[0] if rest else None)
            if y == x:
                y = rest[0] if rest else None
        fixed: list[tuple[str, int | None]] = []
        for k, axis in enumerate(axes):
            if axis in (x, y):
                continue
            text = query.get(f"fix.{axis}", "all")
            if text in ("", "all"):
                fixed.append((axis, None))
                continue
            try:
                index = int(text)
            except ValueError:
                msg = f"`fix.{axis}={text}`: give an index or `all`"
                raise ValueError(msg) from None
            if shape is not None and not 0 <= index < shape[k]:
                msg = f"`fix.{axis}={index}` is outside the axis (size {shape[k]})"
                raise ValueError(msg)
            fixed.append((axis, index))
        return cls(tuple(axes), y, x, tuple(fixed))

    def selection(self) -> tuple[Any, ...]:
        """The index into the N-D array that fixes the chosen axes."""
        fixed = dict(self.fixed)
        return tuple(slice(None) if fixed.get(a) is None else fixed[a] for a in self.axes)

    def remaining(self) -> list[str]:
        """Axes left after the selection, in array order."""
        fixed = dict(self.fixed)
        return [a for a in self.axes if a not in fixed or fixed[a] is None]


def _to_yx(array: np.ndarray, pick: GridPick, reduce: Any) -> np.ndarray:
    """Select, reduce the aggregated axes with ``reduce(array, axis=...)``, order as (y, x)."""
    sub = array[pick.selection()]
    left = pick.remaining()
    keep = [pick.y, pick.x] if pick.y is not None else [pick.x]
    drop = tuple(k for k, a in enumerate(left) if a not in keep)
    if drop:
        sub = reduce(sub, axis=drop)
        left = [a for a in left if a in keep]
    order = [left.index(a) for a in keep]
    sub = np.transpose(sub, order)
    return sub if pick.y is not None else sub[np.newaxis, :]


def _blocks(plane: np.ndarray, max_cells: int, fill: Any, reduce: Any) -> tuple[np.ndarray, int, int]:
    ny, nx = plane.shape
    by, bx = -(-ny // max_cells) if ny > max_cells else 1, -(-nx // max_cells) if nx > max_cells else 1
    if by == 1 and bx == 1:
        return plane, 1, 1
    py, px = -(-ny // by) * by, -(-nx // bx) * bx
    padded = np.full((py, px), fill, dtype=plane.dtype)
    padded[:ny, :nx] = plane
    return reduce(padded.reshape(py // by, by, px // bx, bx), axis=(1, 3)), by, bx


def state_grid(codes: np.ndarray, pick: GridPick, max_cells: int = MAX_CELLS) -> dict[str, Any]:
    """The state picture: ``codes`` is a string of one digit per cell, row by row (y, then x).

    >>> codes = np.array([[0, 3], [0, 0], [1, 0]], dtype=np.int8)  # i = 3 rows, j = 2 columns
    >>> state_grid(codes, GridPick.choose(("i", "j"), {"x": "j", "y": ""}))["codes"]  # i aggregated
    '14'
    """
    planes = []
    for state in (0, 1, 2, 3):
        plane = _to_yx(codes == state, pick, np.any)
        plane, by, bx = _blocks(plane, max_cells, False, np.any)
        planes.append(plane)
    done, failed, skipped, missing = planes
    out: np.ndarray = np.full(done.shape, 3, dtype=np.int8)
    out[done & missing] = PARTIAL
    out[done & ~missing] = 0
    out[skipped] = 2
    out[failed] = 1
    ny, nx = int(out.shape[0]), int(out.shape[1])
    text = (out.reshape(-1) + ord("0")).astype(np.uint8).tobytes().decode("ascii")
    return {"y": pick.y, "x": pick.x, "ny": ny, "nx": nx, "by": by, "bx": bx, "codes": text, "fixed": dict(pick.fixed)}


def value_grid(values: np.ndarray, pick: GridPick, max_cells: int = MAX_CELLS) -> dict[str, Any]:
    """The value picture: ``values`` (float, NaN = none) per cell, row by row; null for NaN.

    >>> value_grid(np.array([[1.0, np.nan], [3.0, 4.0]]), GridPick.choose(("i", "j"), {}))["values"]
    [1.0, None, 3.0, 4.0]
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-NaN block
        plane = _to_yx(values, pick, np.nanmean)
        plane, by, bx = _blocks(plane, max_cells, np.nan, np.nanmean)
    finite = plane[np.isfinite(plane)]
    ny, nx = int(plane.shape[0]), int(plane.shape[1])
    cells = [None if not np.isfinite(v) else float(v) for v in plane.reshape(-1).tolist()]
    return {
        "y": pick.y, "x": pick.x, "ny": ny, "nx": nx, "by": by, "bx": bx, "values": cells,
        "vmin": float(finite.min()) if finite.size else None, "vmax": float(finite.max()) if finite.size else None,
        "fixed": dict(pick.fixed),
    }
