"""Side-by-side: pipefunc 0.93.2 vs pipemap loaders after a NxN outer-product pipeline.

Both engines write their own run folder (pipefunc with its `pipeline.map`, pipemap with
`pipemap.runner.run_map`), then each loader runs `--repeat` times (interleaved); medians are
printed in µs per element with the ratio pipefunc / pipemap (higher = pipemap faster).

    uv run python tools/bench/compare_io.py            # 300 x 300, file_array + chunked
    uv run python tools/bench/compare_io.py --n 100 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any


def outer(x: int, y: int) -> int:
    return x * 1000 + y


def _pipefunc_run(n: int, folder: Path) -> None:
    from pipefunc import Pipeline, pipefunc

    f = pipefunc(output_name="z", mapspec="x[i], y[j] -> z[i, j]")(outer)
    Pipeline([f]).map({"x": list(range(n)), "y": list(range(n))}, run_folder=folder, parallel=False, storage="file_array", show_progress=False)


def _pipemap_run(n: int, folder: Path, storage: str) -> None:
    from pipemap.runner import Pipeline, pipefunc

    f = pipefunc(output_name="z", mapspec="x[i], y[j] -> z[i, j]")(outer)
    from pipemap.runner import run_map

    run_map(Pipeline([f]), {"x": list(range(n)), "y": list(range(n))}, run_folder=folder, parallel=False, storage=storage)


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="grid side (N x N elements)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    n_el = args.n * args.n

    import pipefunc.map as pf
    import pipemap.io as pio

    root = Path(tempfile.mkdtemp(prefix="compare_io_"))
    t = _time(lambda: _pipefunc_run(args.n, root / "pf"))
    print(f"pipefunc map wrote {n_el} elements (file_array) in {t:.1f} s")
    folders = {}
    for storage in ("file_array", "chunked"):
        folders[storage] = root / f"pm_{storage}"
        t = _time(lambda s=storage: _pipemap_run(args.n, folders[s], s))
        print(f"pipemap run_map wrote {n_el} elements ({storage}) in {t:.1f} s")

    loaders = {
        "load_outputs": (
            lambda f: pf.load_outputs("z", run_folder=f),
            lambda f: pio.load_outputs("z", run_folder=f),
        ),
        "load_xarray_dataset": (
            lambda f: pf.load_xarray_dataset(run_folder=f),
            lambda f: pio.load_xarray_dataset(run_folder=f),
        ),
        "load_dataframe": (
            lambda f: pf.load_dataframe(run_folder=f),
            lambda f: pio.load_dataframe(run_folder=f),
        ),
        "load_dataframe(polars)": (
            lambda f: pf.load_dataframe(run_folder=f, backend="polars"),
            lambda f: pio.load_dataframe(run_folder=f, backend="polars"),
        ),
    }
    rows = []
    header = f"{'loader':<24}{'pipefunc fa':>13}{'pipemap fa':>12}{'ratio':>8}{'pipemap chunked':>17}{'ratio':>8}"
    print(f"\nµs per element, median of {args.repeat}, {args.n}x{args.n} = {n_el} elements")
    print(header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (pf_fn, pm_fn) in loaders.items():
            times: dict[str, list[float]] = {"pf": [], "fa": [], "ch": []}
            for _ in range(args.repeat):
                times["pf"].append(_time(lambda: pf_fn(root / "pf")))
                times["fa"].append(_time(lambda: pm_fn(folders["file_array"])))
                times["ch"].append(_time(lambda: pm_fn(folders["chunked"])))
            med = {k: statistics.median(v) / n_el * 1e6 for k, v in times.items()}
            row = {
                "loader": name,
                "pipefunc_file_array_us": med["pf"],
                "pipemap_file_array_us": med["fa"],
                "pipemap_chunked_us": med["ch"],
                "ratio_file_array": med["pf"] / med["fa"],
                "ratio_chunked": med["pf"] / med["ch"],
            }
            rows.append(row)
            print(
                f"{name:<24}{med['pf']:>13.2f}{med['fa']:>12.2f}{row['ratio_file_array']:>7.1f}x"
                f"{med['ch']:>17.2f}{row['ratio_chunked']:>7.1f}x"
            )
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "elements": n_el, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
