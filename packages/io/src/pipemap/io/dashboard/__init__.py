"""A live web dashboard of a run folder: ``pipemap dashboard RUN_FOLDER`` or :func:`serve`.

It reads the run folder only (nothing is written, no function is unpickled), so it works while a
run writes into it and from any machine that sees the folder with only ``pipemap-io`` installed.
Per output: done / failed / missing counts, rate and ETA from the folder's own timestamps; per
mapped output a heatmap of element states (or numeric values) over two chosen axes; the failures
table with tracebacks; the pipeline graph. Modules: ``_scan`` (incremental storage scans),
``_state`` (the folder's picture), ``_grid`` / ``_values`` (pictures), ``_failures``, ``_graph``,
``_page`` (HTML), ``_server`` (HTTP), ``static/dashboard.js``.

>>> import pipemap.io as pio
>>> server = DashboardServer(pio.example_run_folder(), port=0).start()
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.close()
"""

from __future__ import annotations

from pathlib import Path

from ._failures import FailureBook
from ._grid import GridPick, state_grid
from ._server import DashboardError, DashboardServer
from ._state import FolderState

__all__ = ["DashboardError", "DashboardServer", "FailureBook", "FolderState", "GridPick", "serve", "state_grid"]


def serve(run_folder: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the dashboard of ``run_folder`` until Ctrl-C (see :class:`DashboardServer`).

    >>> import pipemap.io as pio
    >>> DashboardServer(pio.example_run_folder(), port=0).close()  # what serve() runs, stopped at once
    """
    DashboardServer(run_folder, host, port).serve_forever()
