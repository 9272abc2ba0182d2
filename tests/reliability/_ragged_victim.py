"""A ragged run killed by tests/reliability/test_ragged_kill.py: every call appends a line to a log.

usage: python _ragged_victim.py FOLDER LOG STORAGE PARALLEL(0|1) RESUME(0|1)
"""

from __future__ import annotations

import os
import sys
import time

from pipemap.runner import Pipeline, pipefunc, run_map

N_ROWS = 40


def _log(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def row_of(i: int) -> list[int]:
    return [i * 1000 + x for x in range((i * 7) % 23)]


def build(log: str) -> Pipeline:
    @pipefunc("rows", mapspec="i_in[i] -> rows[i, j*]")
    def make(i_in):
        time.sleep(0.003)
        _log(log, f"P {i_in}")
        return row_of(i_in)

    @pipefunc("out", mapspec="rows[i, j*] -> out[i, j*]")
    def visit(rows):
        time.sleep(0.002)
        _log(log, f"C {rows}")
        return rows * 2

    return Pipeline([make, visit])


if __name__ == "__main__":
    folder, log, storage, parallel, resume = sys.argv[1:6]
    run_map(
        build(log), {"i_in": list(range(N_ROWS))}, run_folder=folder, storage=storage,
        parallel=parallel == "1", resume=resume == "1", chunksizes=8,
    )
