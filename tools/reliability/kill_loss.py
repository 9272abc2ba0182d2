"""How much finished work a ``kill -9`` throws away, for elements of a given duration.

Each round starts a run of ``x[i] -> y[i]`` (every call sleeps ``--seconds`` and appends
``done <x>`` to a log just before it returns) in a new session, kills the whole session at a
random moment after 2 to 6 elements finished, and counts the finished elements that
storage does not hold (*finished-but-lost*). Elements still being computed at the kill are not
counted. Then it resumes the run to the end and checks every value (*wrong values served*).

    uv run python tools/reliability/kill_loss.py --seconds 0.25 2 10 --kills 3
    uv run python tools/reliability/kill_loss.py --seconds 2 --modes pool --storages chunked

This script only reports (the regression tests are in tests/reliability/).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 40


def _victim(params: dict) -> None:
    from pipemap.runner import PipeFunc, Pipeline, run_map

    log, seconds = params["log"], params["seconds"]

    def f(x: int) -> int:
        time.sleep(seconds)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"done {x}\n".encode())
        os.close(fd)
        return 7 * x

    kwargs = {"parallel": params["mode"] == "pool", "chunksizes": None}
    run_map(Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]")]), {"x": list(range(N))}, run_folder=params["folder"],
            storage=params["storage"], resume=True, show_progress=False, return_results=False, **kwargs)  # fmt: skip


def _done(log: Path) -> set[int]:
    try:
        return {int(line.split()[1]) for line in log.read_text().splitlines()}
    except FileNotFoundError:
        return set()


def session_alive(sid: int) -> bool:
    """Whether a live (not zombie) process of session ``sid`` remains (Linux ``/proc``)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if len(fields) > 3 and int(fields[3]) == sid and fields[0] not in {"Z", "X"}:
                return True
    return False


def one_kill(folder: Path, seconds: float, storage: str, mode: str, rng: random.Random) -> tuple[int, int]:
    """(finished elements, finished-but-lost elements) of one kill."""
    import numpy as np
    from pipemap.storage import open_run_folder

    log = folder.parent / f"{folder.name}.log"
    log.unlink(missing_ok=True)
    params = {"folder": str(folder), "log": str(log), "seconds": seconds, "storage": storage, "mode": mode}
    proc = subprocess.Popen([sys.executable, __file__, "--victim", json.dumps(params)], start_new_session=True)
    wanted = rng.randint(2, 6)  # finished elements before the kill, then a random moment
    while len(_done(log)) < wanted and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, seconds))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    while session_alive(proc.pid):
        time.sleep(0.01)
    finished = _done(log)
    _, stores = open_run_folder(folder)
    stored = set(np.flatnonzero(np.asarray(stores["y"].done_mask(), dtype=bool)).tolist())
    return len(finished), len(finished - stored)


def wrong_after_resume(folder: Path, storage: str) -> int:
    """Resume to the end (fast function, same values) and count wrong values."""
    from pipemap.io import load_outputs
    from pipemap.runner import PipeFunc, Pipeline, run_map

    run_map(Pipeline([PipeFunc(lambda x: 7 * x, "y", mapspec="x[i] -> y[i]")]), {"x": list(range(N))},
            run_folder=folder, storage=storage, resume=True, parallel=False, show_progress=False)  # fmt: skip
    values = load_outputs("y", run_folder=folder)
    return sum(int(v) != 7 * x for x, v in enumerate(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--victim", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, nargs="+", default=[0.25, 2.0, 10.0])
    parser.add_argument("--kills", type=int, default=3, help="kills per (seconds, storage, mode)")
    parser.add_argument("--storages", default="file_array,chunked")
    parser.add_argument("--modes", default="sequential,pool")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.victim:
        _victim(json.loads(args.victim))
        return
    rng = random.Random(args.seed)
    print("| element | storage | mode | kills | finished at kill | finished-but-lost | wrong values served |")
    print("|---|---|---|---|---|---|---|")
    for seconds in args.seconds:
        for storage in args.storages.split(","):
            for mode in args.modes.split(","):
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp) / "run"
                    finished, lost, wrong = [], [], 0
                    for _ in range(args.kills):
                        f, lst = one_kill(folder, seconds, storage, mode, rng)
                        finished.append(f)
                        lost.append(lst)
                    wrong += wrong_after_resume(folder, storage)
                print(f"| {seconds} s | {storage} | {mode} | {args.kills} | {finished} | {lost} | {wrong} |", flush=True)


if __name__ == "__main__":
    main()
