"""Victim runs for the kill -9 tests (run as a script; never imported by pytest).

The test starts this script once per (backend, mode) as a *zygote*: it imports pipemap (and
zarr/dask when asked) once, then reads JSON commands on stdin, one per line:

* ``{"op": "run", ...params}``: fork a child in a new session (so the test can SIGKILL the
  whole process group: the run, its process pool, its forkserver) that runs the pipeline with
  ``resume=True``; prints ``{"pid": ...}``.
* ``{"op": "wait", "pid": N}``: reap that child; prints ``{"status": ...}`` (``-9`` = killed).
* ``{"op": "exit"}``.

The pipeline counts every call with a side effect: each call appends ``"<index>\\n"`` to
``<counts>/<output>.log`` (``O_APPEND``, one ``write``), so the test can tell how often each
element was computed.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import time

N_K = 3  # size of the second axis of the outer product


def _log(counts: str, name: str, index: int) -> None:
    fd = os.open(os.path.join(counts, f"{name}.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{index}\n".encode())
    finally:
        os.close(fd)


def build_pipeline(counts: str, work: int):
    from pipemap.runner import PipeFunc, Pipeline

    def f(x: int) -> int:
        _log(counts, "y", x)
        sum(range(work))
        return x * x + 1

    def g(y: int, x: int) -> int:
        _log(counts, "z", x)
        sum(range(work))
        return (y * 7) % 1000 + x

    def h(z: int, k: int, x: int) -> int:
        _log(counts, "w", x * N_K + k)
        return z * 10 + k

    def total(w) -> int:
        return int(sum(int(v) for v in w.ravel()))

    return Pipeline(
        [
            PipeFunc(f, "y", mapspec="x[i] -> y[i]"),
            PipeFunc(g, "z", mapspec="y[i], x[i] -> z[i]"),
            PipeFunc(h, "w", mapspec="z[i], k[j], x[i] -> w[i, j]"),
            PipeFunc(total, "s"),
        ]
    )


def expected(n: int) -> dict[str, list]:
    """The uninterrupted results, in plain Python."""
    y = [x * x + 1 for x in range(n)]
    z = [(y[x] * 7) % 1000 + x for x in range(n)]
    w = [[z[i] * 10 + k for k in range(N_K)] for i in range(n)]
    return {"y": y, "z": z, "w": w, "s": sum(sum(r) for r in w)}


def victim(params: dict) -> None:
    from pipemap.runner import run_map

    pipeline = build_pipeline(params["counts"], params.get("work", 200))
    kwargs: dict = {}
    mode = params["mode"]
    client = None
    if mode == "sequential":
        kwargs["parallel"] = False
    elif mode == "pool":
        # pipemap's own pool (forkserver once zarr started its IO thread): preload the imports
        # in the forkserver so each worker forks ready instead of importing pipemap again
        import multiprocessing

        multiprocessing.set_forkserver_preload(["pipemap.runner", "pipemap.storage", *params.get("preload", [])])
        kwargs["parallel"] = True
    elif mode == "dask":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=params.get("dask_processes", False),
            dashboard_address=None,
        )
        client = Client(cluster)
        kwargs["executor"] = client
    n = params["n"]
    inputs = {"x": list(range(n)), "k": list(range(N_K))}
    with open(params["marker"], "w") as fh:
        fh.write(str(time.time()))
    result = run_map(
        pipeline,
        inputs,
        run_folder=params["run_folder"],
        storage=params["storage"],
        resume=True,
        show_progress=False,
        **kwargs,
    )
    out = {name: (r.output.tolist() if hasattr(r.output, "tolist") else r.output) for name, r in result.items()}
    with open(params["result"], "wb") as fh:
        pickle.dump(out, fh)
    if client is not None:
        client.close()


def zygote() -> None:
    need = set(sys.argv[1:])
    import numpy  # noqa: F401
    import pipemap.runner  # noqa: F401
    import pipemap.storage  # noqa: F401

    if "zarr" in need:
        import pipemap.storage._zarr  # noqa: F401
        import zarr  # noqa: F401
    if "dask" in need:
        import distributed  # noqa: F401
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "exit":
            break
        if op == "wait":
            _, status = os.waitpid(cmd["pid"], 0)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            print(json.dumps({"status": code}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:  # the victim
            code = 0
            try:
                os.setsid()
                fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                victim(cmd)
            except BaseException:  # noqa: BLE001 - reported through the exit code and the log
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)


if __name__ == "__main__":
    zygote()
