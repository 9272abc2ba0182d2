"""The dashboard's HTTP server (standard library only): the page, the static script and JSON.

Endpoints: ``/`` (the page), ``/api/state`` (counts, rate, ETA, damaged files), ``/api/grid``
(``output``, ``mode=state|values``, ``x``, ``y``, ``fix.<axis>``), ``/api/failures`` (the table)
and ``/static/dashboard.js``. Every request handler catches its errors: a damaged run folder
gives an error entry or a 4xx/5xx JSON answer, never a dead server.

>>> import pipemap.io as pio, json, urllib.request
>>> server = DashboardServer(pio.example_run_folder(), port=0).start()
>>> [o["name"] for o in json.load(urllib.request.urlopen(server.url + "api/state"))["outputs"]]
['y', 'z', 's', 't']
>>> server.close()
"""

from __future__ import annotations

import errno
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from ._failures import FailureBook
from ._grid import GridPick, state_grid, value_grid
from ._page import render_page
from ._state import FAILED, PROPAGATED, FolderState
from ._values import ValueCache

__all__ = ["DashboardError", "DashboardServer"]


class DashboardError(RuntimeError):
    """The dashboard cannot start (e.g. the port is in use)."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        if self.server.dashboard.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        dash = self.server.dashboard
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, render_page(dash.state.refresh(), dash.state).encode(), "text/html; charset=utf-8")
            elif url.path == "/api/state":
                self._json(200, dash.state.refresh())
            elif url.path == "/api/grid":
                status, data = dash.grid(query)
                self._json(status, data)
            elif url.path == "/api/failures":
                dash.state.refresh()
                self._json(200, dash.book.rows(dash.state))
            elif url.path == "/static/dashboard.js":
                script = resources.files(__package__).joinpath("static/dashboard.js").read_bytes()
                self._send(200, script, "text/javascript; charset=utf-8")
            else:
                self._json(404, {"error": f"no such page: {url.path}"})
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - a damaged folder never kills the server
            try:
                self._json(500, {"error": f"{type(exc).__name__}: {exc}"})
            except OSError:
                pass

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, allow_nan=False, default=str).encode(), "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    dashboard: DashboardServer


class DashboardServer:
    """A dashboard of ``run_folder`` on ``host:port`` (port 0: a free one); see the module docstring.

    ``start()`` serves from a background thread (returns self), ``serve_forever()`` in the
    calling thread; ``close()`` stops it. ``url`` is the page's address.

    >>> import pipemap.io as pio, urllib.request
    >>> server = DashboardServer(pio.example_run_folder(), port=0).start()
    >>> b"pipemap dashboard" in urllib.request.urlopen(server.url).read()
    True
    >>> server.close()
    """

    def __init__(self, run_folder: str | Path, host: str = "127.0.0.1", port: int = 8765, *, verbose: bool = False) -> None:
        self.state = FolderState(run_folder)
        self.book = FailureBook()
        self.verbose = verbose
        self._values: dict[tuple[int, str], ValueCache] = {}
        try:
            self.httpd = _Server((host, port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                msg = f"port {port} on {host} is already in use; choose another one with --port (or --port 0 for any free port)"
                raise DashboardError(msg) from None
            msg = f"cannot listen on {host}:{port} ({exc.strerror or exc})"
            raise DashboardError(msg) from None
        self.httpd.dashboard = self
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        """``http://host:port/``."""
        host, port = self.httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{port}/"

    def start(self) -> DashboardServer:
        """Serve from a daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="pipemap-dashboard", daemon=True)
        self._serving = True
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        self._serving = True
        try:
            self.httpd.serve_forever()
        finally:
            self._serving = False
            self.httpd.server_close()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._serving:
            self.httpd.shutdown()  # waits for the serving loop: only when there is one
            self._serving = False
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ grid
    def grid(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``(http status, JSON)`` of the picture asked for by ``query``."""
        state = self.state
        state.refresh()
        with state.lock:
            if state.view is None:
                return 409, {"error": state.error}
            name = query.get("output", "")
            entry = state.outputs.get(name)
            if entry is None or entry.kind != "mapped":
                mapped = [n for n, e in state.outputs.items() if e.kind == "mapped"]
                return 404, {"error": f"no mapped output `{name}`; mapped outputs: {', '.join(mapped) or '(none)'}"}
            if entry.scan is None:
                return 409, {"error": entry.note or f"`{name}` has nothing to draw yet"}
            try:
                pick = GridPick.choose(entry.axes, query, entry.shape)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            codes = state.codes(name)
            mode = query.get("mode", "state")
            if mode == "state":
                return 200, {"output": name, "version": entry.version, **state_grid(codes, pick)}
            if mode != "values":
                return 400, {"error": f"unknown mode `{mode}`: use state or values"}
            assert state.view is not None
            cache = self._values.setdefault((state.generation, name), ValueCache(entry.scan.size))
            wanted = np.arange(entry.scan.size, dtype=np.int64).reshape(entry.shape)[pick.selection()].reshape(-1)
            flat = codes.reshape(-1)
            readable = entry.scan.mask & (flat != FAILED) & (flat != PROPAGATED)
            values = np.full(entry.scan.size, np.nan)
            values[wanted] = cache.read(state.view.store(name), wanted, readable)
            data = value_grid(values.reshape(entry.shape), pick)
            data.update(output=name, version=entry.version, pending=cache.pending, non_numeric=cache.non_numeric)
            return 200, data
