"""Side-by-side: pipefunc 0.93.2's storages vs pipemap.storage, in one process.

Each measurement runs ``--repeat`` times, interleaving the engines; the table shows the
minimum and median in µs per element and the ratio pipefunc / pipemap on medians (higher =
pipemap faster). The "floor" row is the bare ``cloudpickle.dumps`` + one ``open().write`` per
element; the "atomic floor" adds what an atomic write needs (a temporary name, then ``os.replace``).
pipefunc has no bulk API, so its writes are one ``dump(key, value)`` per element. The "single"
rows write one ``dump(key, value)`` per element with pipemap too (``chunked``: appends to its log,
flushed at the end; "read back" reads them with a fresh object).

    uv run python tools/bench/compare_storage.py
    uv run python tools/bench/compare_storage.py --n 2000 --n-zarr 300 --n-chunked 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import cloudpickle


def _values(n: int) -> list[dict[str, Any]]:
    return [{"i": i, "x": float(i)} for i in range(n)]


class Timer:
    """Collects timings of named measurements over interleaved repeats."""

    def __init__(self) -> None:
        self.results: dict[str, list[float]] = {}

    def run(self, name: str, n: int, setup: Callable[[], Any], fn: Callable[[Any], Any]) -> None:
        arg = setup()
        t0 = time.perf_counter()
        fn(arg)
        self.results.setdefault(name, []).append((time.perf_counter() - t0) / n * 1e6)

    def stats(self, name: str) -> tuple[float, float]:
        values = self.results[name]
        return min(values), statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="elements for file_array comparisons")
    parser.add_argument("--n-zarr", type=int, default=300, help="elements for the zarr comparison")
    parser.add_argument("--n-chunked", type=int, default=100_000, help="elements for the chunked rows")
    parser.add_argument("--n-mask", type=int, default=20_000, help="elements for the mask comparison")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    warnings.simplefilter("ignore")
    import pipefunc
    from pipefunc.map import FileArray as PFFileArray
    from pipefunc.map import ZarrFileArray as PFZarrFileArray
    from pipemap.storage import ChunkedArray, FileArray, ZarrFileArray

    folders: list[str] = []

    def folder() -> str:
        folders.append(tempfile.mkdtemp(prefix="cmp_storage_"))
        return folders[-1]

    n, nz, nc, nm = args.n, args.n_zarr, args.n_chunked, args.n_mask
    vals, zvals, cvals = _values(n), _values(nz), _values(nc)
    timer = Timer()

    def floor(path: str) -> None:
        for i, value in enumerate(vals):
            with open(f"{path}/__{i}__.pickle", "wb") as handle:
                handle.write(cloudpickle.dumps(value))

    def atomic_floor(path: str) -> None:
        for i, value in enumerate(vals):
            tmp = f"{path}/.__{i}__.pickle.tmp"
            with open(tmp, "wb") as handle:
                handle.write(cloudpickle.dumps(value))
            os.replace(tmp, f"{path}/__{i}__.pickle")

    def pf_write(store: Any, values: list[Any]) -> None:
        for i, value in enumerate(values):
            store.dump((i,), value)

    def pm_single(store: Any, values: list[Any]) -> None:
        dump = store.dump
        for i, value in enumerate(values):
            dump(i, value)
        if hasattr(store, "flush"):
            store.flush()

    # prepared stores for reads and masks
    pf_read = PFFileArray(folder(), (n,))
    pf_write(pf_read, vals)
    pm_read = FileArray(folder(), (n,))
    pm_read.dump_many(range(n), vals)
    pf_mask = PFFileArray(folder(), (nm,))
    pm_mask = FileArray(folder(), (nm,))
    pm_mask.dump_many(range(0, nm, 2), [0] * len(range(0, nm, 2)))
    for name in [f"__{i}__.pickle" for i in range(0, nm, 2)]:
        shutil.copyfile(pm_mask.folder / "__0__.pickle", pf_mask.folder / name)
    pm_chunked_folder = folder()
    ChunkedArray(pm_chunked_folder, (nc,)).dump_many(range(nc), cvals)
    pm_chunked_log_folder = folder()
    pm_single(ChunkedArray(pm_chunked_log_folder, (nc,)), cvals)
    pf_zarr_read = PFZarrFileArray(folder(), (nz,))
    pf_write(pf_zarr_read, zvals)
    pm_zarr_read = ZarrFileArray(folder(), (nz,))
    pm_zarr_read.dump_many(range(nz), zvals)

    for _ in range(args.repeat):
        timer.run("floor write", n, folder, floor)
        timer.run("atomic floor write", n, folder, atomic_floor)
        timer.run("pipemap chunked single write", nc, lambda: ChunkedArray(folder(), (nc,)), lambda s: pm_single(s, cvals))
        timer.run("pipemap chunked single read", nc, lambda: ChunkedArray(pm_chunked_log_folder, (nc,)), lambda s: s.to_array())
        timer.run("pipemap zarr single write", nz, lambda: ZarrFileArray(folder(), (nz,)), lambda s: pm_single(s, zvals))
        timer.run("pipefunc file_array write", n, lambda: PFFileArray(folder(), (n,)), lambda s: pf_write(s, vals))
        timer.run("pipemap file_array write", n, lambda: FileArray(folder(), (n,)), lambda s: s.dump_many(range(n), vals))
        timer.run("pipemap chunked write", nc, lambda: ChunkedArray(folder(), (nc,)), lambda s: s.dump_many(range(nc), cvals))
        timer.run("pipefunc file_array read", n, lambda: pf_read, lambda s: s.to_array())
        timer.run("pipemap file_array read", n, lambda: FileArray(pm_read.folder, (n,)), lambda s: s.to_array())
        timer.run("pipemap chunked read", nc, lambda: ChunkedArray(pm_chunked_folder, (nc,)), lambda s: s.to_array())
        timer.run("pipefunc file_array mask", nm, lambda: pf_mask, lambda s: s.mask_linear())
        timer.run("pipemap file_array mask", nm, lambda: pm_mask, lambda s: s.done_mask())
        timer.run("pipemap chunked mask", nc, lambda: ChunkedArray(pm_chunked_folder, (nc,)), lambda s: s.done_mask())
        timer.run("pipefunc zarr write", nz, lambda: PFZarrFileArray(folder(), (nz,)), lambda s: pf_write(s, zvals))
        timer.run("pipemap zarr write", nz, lambda: ZarrFileArray(folder(), (nz,)), lambda s: s.dump_many(range(nz), zvals))
        timer.run("pipefunc zarr read", nz, lambda: pf_zarr_read, lambda s: s.to_array())
        timer.run("pipemap zarr read", nz, lambda: ZarrFileArray(pm_zarr_read.folder, (nz,)), lambda s: s.to_array())

    print(f"pipefunc {pipefunc.__version__}; n={n}, n_zarr={nz}, n_chunked={nc}, n_mask={nm}, repeat={args.repeat}")
    print(f"{'measurement (µs per element)':34} {'reference min/med':>20} {'pipemap min/med':>20} {'ratio (med)':>12}")
    print("(reference = pipefunc, except in the floor rows: the bare pickle + write-one-file floor, and the same")
    print(" with a temporary name + os.replace: the least an atomic per-file write costs)")
    rows = [
        ("file_array write vs floor", "floor write", "pipemap file_array write"),
        ("file_array write vs atomic floor", "atomic floor write", "pipemap file_array write"),
        ("atomic floor vs floor", "floor write", "atomic floor write"),
        ("file_array write", "pipefunc file_array write", "pipemap file_array write"),
        ("chunked write vs pf file_array", "pipefunc file_array write", "pipemap chunked write"),
        ("file_array read (to_array)", "pipefunc file_array read", "pipemap file_array read"),
        ("chunked read vs pf file_array", "pipefunc file_array read", "pipemap chunked read"),
        ("file_array mask", "pipefunc file_array mask", "pipemap file_array mask"),
        ("chunked mask vs pf file_array", "pipefunc file_array mask", "pipemap chunked mask"),
        ("chunked single write vs pf fa", "pipefunc file_array write", "pipemap chunked single write"),
        ("chunked single read back vs pf fa", "pipefunc file_array read", "pipemap chunked single read"),
        ("zarr_file_array write", "pipefunc zarr write", "pipemap zarr write"),
        ("zarr_file_array single write", "pipefunc zarr write", "pipemap zarr single write"),
        ("zarr_file_array read", "pipefunc zarr read", "pipemap zarr read"),
    ]
    for label, ref, ours in rows:
        rmin, rmed = timer.stats(ref)
        omin, omed = timer.stats(ours)
        print(f"{label:34} {rmin:9.2f}/{rmed:9.2f} {omin:9.3f}/{omed:9.3f} {rmed / omed:11.2f}x")
    for path in folders:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
