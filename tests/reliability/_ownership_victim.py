"""Victim runs for the loss and ownership kill tests (run as a script; never imported by pytest).

``python _ownership_victim.py '<json params>'`` runs one pipeline ``x[i] -> y[i]`` whose every
call sleeps ``seconds``, appends ``"start <x>"`` and ``"done <x>"`` lines to ``<log>`` (``O_APPEND``,
one ``write`` each) and returns ``x * factor``. Params: ``folder``, ``log``, ``n``, ``seconds``,
``factor``, ``storage``, ``mode`` (``sequential``, ``pool``: pipemap's default pool, or
``user_pool``: a plain ``ProcessPoolExecutor``), ``chunksize`` (pools), ``resume``.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _log(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def main(params: dict) -> None:
    from pipemap.runner import PipeFunc, Pipeline, run_map

    log, seconds, factor = params["log"], params["seconds"], params["factor"]

    def f(x: int) -> int:
        _log(log, f"start {x}")
        time.sleep(seconds)
        _log(log, f"done {x}")
        return x * factor

    pipeline = Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]")])
    kwargs: dict = {"parallel": False}
    if params["mode"] == "pool":
        kwargs = {"parallel": True, "chunksizes": params.get("chunksize")}
    elif params["mode"] == "user_pool":
        from concurrent.futures import ProcessPoolExecutor

        kwargs = {"parallel": True, "executor": ProcessPoolExecutor(2), "chunksizes": params.get("chunksize")}
    run_map(
        pipeline,
        {"x": list(range(params["n"]))},
        run_folder=params["folder"],
        storage=params["storage"],
        resume=params.get("resume", False),
        show_progress=False,
        return_results=False,
        **kwargs,
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
