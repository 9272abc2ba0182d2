"""``plot_status``: the dashboard's state heatmap as a matplotlib figure (extra ``plot``).

Green done, red failed, orange skipped (an input failed), grey missing, light blue partly done
(a cell that aggregates several elements). Reads the run folder like the dashboard (done masks
and ``failures.json``; nothing is unpickled except the failed elements' records, to tell skipped
ones apart).

>>> import pipemap.io as pio
>>> fig = pio.plot_status(pio.example_run_folder(missing=[1]), output="z")
>>> [a.get_title() for a in fig.axes]
['z: 4 done, 0 failed, 2 missing']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._folder import OutputNotFoundError, RunFolderError

__all__ = ["STATE_COLORS", "plot_status", "write_status_png"]

#: colour per state code: done, failed, skipped, missing, partly done (as on the dashboard)
STATE_COLORS = ("#3c9a5f", "#d62728", "#ff9f1c", "#d9d9d9", "#9ecae1")
_LABELS = ("done", "failed", "skipped", "missing", "partly done")


def plot_status(
    run_folder: str | Path, output: str | None = None, axes: tuple[str, str] | tuple[str] | None = None, ax: Any = None
) -> Any:
    """Draw the element states of ``output`` (default: every mapped output, one panel each)
    over ``axes`` (``(down, across)`` axis names, default the first two; ``(across,)`` draws a
    strip; the other axes are aggregated: a cell is failed if any of its elements is)
    into ``ax`` (default: a new figure). Returns the matplotlib ``Figure``.

    Parameters
    ----------
    run_folder : str or Path
        The run folder (it may be written by a running run).
    output : str, optional
        The mapped output to draw (default: every mapped output, one panel each).
    axes : tuple of one or two str, optional
        ``(down, across)`` axis names (default: the first two); ``(across,)`` draws a strip. The
        other axes are aggregated: a cell is failed if any of its elements is.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Examples
    --------
    >>> import pipemap.io as pio
    >>> fig = plot_status(pio.example_run_folder(), output="z", axes=("j", "i"))
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('i', 'j')
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from .dashboard import FailureBook, FolderState, GridPick, state_grid

    state = FolderState(run_folder)
    snap = state.refresh(force=True)
    if state.view is None:
        raise RunFolderError(snap["error"])
    mapped = [o for o in snap["outputs"] if o["kind"] == "mapped" and o["axes"]]
    if output is not None:
        state.view.check_names([output])
        mapped = [o for o in mapped if o["name"] == output]
        if not mapped:
            msg = f"`{output}` is not a mapped output of the run at `{state.view.folder}`: nothing to draw"
            raise OutputNotFoundError(msg)
    if not mapped:
        msg = f"the run at `{state.view.folder}` has no mapped outputs to draw"
        raise OutputNotFoundError(msg)
    if ax is not None and len(mapped) > 1:
        msg = f"`ax` holds one panel: choose one output with `output=` (mapped outputs: {', '.join(o['name'] for o in mapped)})"
        raise ValueError(msg)
    FailureBook().rows(state)  # learns which failed elements were skipped
    if ax is None:
        fig, axs = plt.subplots(len(mapped), 1, figsize=(7, 3.2 * len(mapped)), squeeze=False)
        panels = list(axs[:, 0])
    else:
        fig, panels = ax.figure, [ax]
    cmap = ListedColormap(STATE_COLORS)
    present: set[int] = set()
    for panel, o in zip(panels, mapped):
        query = {"y": axes[0], "x": axes[1]} if axes is not None and len(axes) == 2 else {"x": axes[0], "y": ""} if axes else {}
        pick = GridPick.choose(tuple(o["axes"]), query)
        grid = state_grid(state.codes(o["name"]), pick, max_cells=1000)
        image = np.frombuffer(grid["codes"].encode(), dtype=np.uint8).reshape(grid["ny"], grid["nx"]) - ord("0")
        present.update(int(c) for c in np.unique(image))
        panel.imshow(image, cmap=cmap, vmin=-0.5, vmax=4.5, interpolation="nearest", aspect="auto")
        panel.set_xlabel(f"{grid['x']}" + (f" (blocks of {grid['bx']})" if grid["bx"] > 1 else ""))
        panel.set_ylabel(grid["y"] or "")
        if grid["y"] is None:
            panel.set_yticks([])
        panel.set_title(f"{o['name']}: {o['done']} done, {o['failed'] if o['failed'] is not None else '?'} failed, {o['missing']} missing")
    handles = [Patch(color=STATE_COLORS[c], label=_LABELS[c]) for c in sorted(present)]
    if handles:
        panels[-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.tight_layout()
    return fig


def write_status_png(run_folder: str | Path, path: str | Path, *, output: str | None = None) -> Path:
    """Write :func:`plot_status`'s figure to ``path`` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plot_status(run_folder, output=output)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
    return Path(path)
