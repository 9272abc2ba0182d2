"""The workload list of ``compare.py``: sizes, the three callables per row, and the issue targets.

Each group function takes a :class:`Ctx` and returns :class:`Workload` rows; set-up work (writing
run folders to resume or load) happens there, untimed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pipefunc
import pipefunc.map as pfm
import workloads as w

import pipemap.io as pio
import pipemap.runner as pm
from pipemap.runner import run_map


@dataclass
class Workload:
    """One row: three callables timed interleaved; ``n`` elements for per-element figures."""

    name: str
    n: int
    pipefunc: Callable[[], Any] | None
    pipemap: Callable[[], Any] | None
    floor: Callable[[], Any] | None = None
    target: str = ""
    check: Callable[[dict[str, Any]], bool] | None = None
    note: str = ""
    max_repeats: int | None = None
    warmup: bool = True
    teardown: Callable[[], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: called untimed after pipefunc in every round, before pipemap and the floor: a row that
    #: compares pipemap with its own floor gives both the same footing after pipefunc's run
    settle: Callable[[], Any] | None = None


class Ctx:
    """Sizes (quick or full), a scratch folder and the shared warm 2-worker pool."""

    def __init__(self, quick: bool, root: Path) -> None:
        self.quick = quick
        self.root = root
        self._pool: Any = None

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def fresh(self) -> str:
        return tempfile.mkdtemp(dir=self.root)

    @property
    def pool(self) -> Any:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=2)
            list(self._pool.map(w.double, range(8)))  # start both workers
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


def _ratio_at_least(x: float) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["ratio"] is not None and r["ratio"] >= x


def _pm_us_at_most(us: float) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["pipemap_us"] is not None and r["pipemap_us"] <= us


def _both(*checks: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda r: all(c(r) for c in checks)


# -- workloads ------------------------------------------------------------------------------------


def wl_mapspec(ctx: Ctx) -> list[Workload]:
    from pipefunc.map import MapSpec as PfSpec

    from pipemap.mapspec import IndexPlan, MapSpec

    text, shape = "x[i, j], y[j, :, k] -> z[i, j, k]", (50, 20, 100)
    n = ctx.size(100_000, 10_000)
    pf_spec, pm_spec = PfSpec.from_string(text), MapSpec.from_string(text)

    def loop(spec: Any) -> Callable[[], None]:
        def run() -> None:
            for lin in range(n):
                spec.input_keys(shape, lin)
                spec.output_key(shape, lin)

        return run

    def batched() -> None:
        plan = IndexPlan(pm_spec, shape)
        plan.input_selectors(range(n))
        plan.output_keys(range(n))

    floor = lambda: w.floor_mapspec(n, shape)  # noqa: E731
    return [
        Workload("mapspec scalar keys", n, loop(pf_spec), loop(pm_spec), floor, ">=10x", _ratio_at_least(10)),
        Workload(
            "mapspec batched plan", n, loop(pf_spec), batched, floor, ">=100x, <=0.03us/idx",
            _both(_ratio_at_least(100), _pm_us_at_most(0.03)), note="pipefunc column: its scalar loop",
        ),
    ]


def wl_elementwise(ctx: Ctx) -> list[Workload]:
    out = []
    pf_p, pm_p = w.elementwise(pipefunc), w.elementwise(pm)
    for n in ((1_000, 10_000, 100_000) if not ctx.quick else (1_000, 10_000)):
        xs = list(range(n))
        kw = {"parallel": False, "storage": "dict"}
        is_big = n == 100_000
        out.append(
            Workload(
                f"elementwise dict {n:.0e}".replace("+0", ""), n,
                lambda xs=xs: pf_p.map({"x": xs}, **kw),
                lambda xs=xs: run_map(pm_p, {"x": xs}, **kw),
                lambda xs=xs: w.floor_elementwise(xs),
                ">=30x, <=0.5us/el" if is_big else "",
                _both(_ratio_at_least(30), _pm_us_at_most(0.5)) if is_big else None,
            )
        )
    return out


def wl_overhead(ctx: Ctx) -> list[Workload]:
    n = ctx.size(50, 20)
    lst = list(range(n))
    inputs = {"a": lst, "b": lst, "x": lst, "y": lst}
    kw = {"parallel": False, "storage": "dict"}
    pf_p, pm_p = w.overhead_3fn(pipefunc), w.overhead_3fn(pm)
    return [
        Workload(
            f"pipefunc docs overhead 3fn N={n}", n + n**3 + n**2,
            lambda: pf_p.map(inputs, **kw), lambda: run_map(pm_p, inputs, **kw),
            lambda: w.floor_overhead_3fn(n), ">=15x", _ratio_at_least(15),
            note="per element = per call (N + N^3 + N^2 calls)",
        )
    ]


def wl_outer(ctx: Ctx) -> list[Workload]:
    m = ctx.size(300, 100)
    xs = [float(v) for v in range(m)]
    inputs = {"x": xs, "y": xs}
    kw = {"parallel": False, "storage": "dict"}
    pf_p, pm_p = w.outer_3stage(pipefunc), w.outer_3stage(pm)
    return [
        Workload(
            f"outer {m}x{m} + elementwise + reduce", m * m,
            lambda: pf_p.map(inputs, **kw), lambda: run_map(pm_p, inputs, **kw),
            lambda: w.floor_outer_3stage(xs, xs), note="dict storage, sequential",
        )
    ]


def wl_storage(ctx: Ctx) -> list[Workload]:
    n = ctx.size(10_000, 2_000)
    n_zarr = ctx.size(10_000, 500)
    pf_p, pm_p = w.elementwise(pipefunc), w.elementwise(pm)

    def pair(storage_pf: str, storage_pm: str, size: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
        xs = list(range(size))
        return (
            lambda: pf_p.map({"x": xs}, run_folder=ctx.fresh(), parallel=False, storage=storage_pf),
            lambda: run_map(pm_p, {"x": xs}, run_folder=ctx.fresh(), parallel=False, storage=storage_pm),
        )

    def floor_files(size: int) -> Callable[[], None]:
        values = [w.double(x) for x in range(size)]
        return lambda: w.floor_write_files(ctx.fresh(), values)

    fa = pair("file_array", "file_array", n)
    za = pair("zarr_file_array", "zarr_file_array", n_zarr)
    ch = pair("file_array", "chunked", n)
    return [
        Workload(f"file_array write {n}", n, *fa, floor_files(n), "pm <=1.2x floor",
                 lambda r: r["pm_over_floor"] is not None and r["pm_over_floor"] <= 1.2),
        Workload(f"zarr_file_array write {n_zarr}", n_zarr, *za, floor_files(n_zarr), ">=10x", _ratio_at_least(10),
                 note="one repeat, no warm-up: pipefunc's zarr costs several ms per element",
                 max_repeats=1, warmup=False),
        Workload(f"chunked (pm) vs file_array (pf) {n}", n, *ch, floor_files(n), ">=20x, <=20us/el",
                 _both(_ratio_at_least(20), _pm_us_at_most(20))),
    ]


def wl_parallel(ctx: Ctx) -> list[Workload]:
    n = ctx.size(10_000, 2_000)
    n_busy = ctx.size(200, 60)
    xs, busy_xs = list(range(n)), list(range(n_busy))
    pf_e, pm_e = w.elementwise(pipefunc), w.elementwise(pm)
    pf_b, pm_b = w.busy(pipefunc), w.busy(pm)

    def kw() -> dict[str, Any]:
        return {"parallel": True, "executor": ctx.pool, "storage": "dict"}

    def speedup(r: dict[str, Any]) -> bool:  # floor = the same work sequentially, timed in the same round
        return r["pm_over_floor"] is not None and 1 / r["pm_over_floor"] >= 1.9

    def sequential() -> None:
        for x in busy_xs:
            w.busy_10ms(x)

    n_inline = ctx.size(10_000, 10_000)

    def inline_ok(r: dict[str, Any]) -> bool:  # floor = the same run with parallel=False
        return r["pm_over_floor"] is not None and r["pm_over_floor"] <= 1.2

    return [
        Workload(
            f"parallel trivial {n_inline} (default pool) vs sequential", n_inline,
            lambda: pf_e.map({"x": list(range(n_inline))}, parallel=True, storage="dict"),
            lambda: run_map(pm_e, {"x": list(range(n_inline))}, parallel=True, storage="dict"),
            lambda: run_map(pm_e, {"x": list(range(n_inline))}, parallel=False, storage="dict"),
            "pm <=1.2x floor", inline_ok,
            note="executor=None: too cheap for the pool, pipemap runs it in the parent; floor: pipemap parallel=False",
            # pipefunc's run forks its pool: the parent's pages stay copy-on-write, so the first
            # run after it (pipemap, timed right after) pays ~0.5 ms of page faults the floor does
            # not; an untimed sequential run takes them
            settle=lambda: run_map(pm_e, {"x": list(range(n_inline))}, parallel=False, storage="dict"),
        ),
        Workload(
            f"parallel trivial {n} (warm 2-worker pool)", n,
            lambda: pf_e.map({"x": xs}, **kw()), lambda: run_map(pm_e, {"x": xs}, **kw()),
            lambda: list(ctx.pool.map(w.double, xs, chunksize=max(1, n // 16))), ">=10x", _ratio_at_least(10),
            note="floor: the pool's own map with 16 chunks",
        ),
        Workload(
            f"parallel {n_busy} x 10ms (warm 2-worker pool)", n_busy,
            lambda: pf_b.map({"x": busy_xs}, **kw()), lambda: run_map(pm_b, {"x": busy_xs}, **kw()),
            sequential, "speedup >=1.9", speedup,
            note="floor: the same work sequentially; speedup = floor / pipemap", max_repeats=3, warmup=False,
        ),
        Workload(
            f"parallel {n_busy} x 10ms (default pool, start-up incl.)", n_busy,
            lambda: pf_b.map({"x": busy_xs}, parallel=True, storage="dict"),
            lambda: fresh_default_pool_run(pm_b, busy_xs),
            sequential, "speedup >=1.9", speedup, max_repeats=3, warmup=False,
            note="executor=None: each engine's own default pool; pipemap's kept pool is shut down first (timed)",
        ),
        Workload(
            f"parallel {n_busy} x 10ms (default pool, repeated runs)", n_busy,
            lambda: pf_b.map({"x": busy_xs}, parallel=True, storage="dict"),
            lambda: run_map(pm_b, {"x": busy_xs}, parallel=True, storage="dict"),
            sequential, "speedup >=1.9", speedup, max_repeats=3, warmup=True,
            note="executor=None: pipefunc starts a pool per run, pipemap reuses the one it keeps",
        ),
    ]


def fresh_default_pool_run(pipeline: Any, xs: list[int]) -> Any:
    """A pipemap run that has to start its default pool (the one kept from before is stopped)."""
    pm.shutdown_default_pool(wait=False)
    return run_map(pipeline, {"x": xs}, parallel=True, storage="dict")


def wl_resume(ctx: Ctx) -> list[Workload]:
    n = ctx.size(10_000, 2_000)
    xs = list(range(n))
    pf_p, pm_p = w.elementwise(pipefunc), w.elementwise(pm)
    pf_folder, pm_folder = ctx.fresh(), ctx.fresh()
    pf_p.map({"x": xs}, run_folder=pf_folder, parallel=False)
    run_map(pm_p, {"x": xs}, run_folder=pm_folder, parallel=False)
    return [
        Workload(
            f"resume finished file_array run {n}", n,
            lambda: pf_p.map({"x": xs}, run_folder=pf_folder, parallel=False, resume=True),
            lambda: run_map(pm_p, {"x": xs}, run_folder=pm_folder, parallel=False, resume=True),
            lambda: w.floor_read_files(str(Path(pf_folder) / "outputs" / "y"), n), ">=20x", _ratio_at_least(20),
            note="floor: read every element file back",
        )
    ]


def wl_load(ctx: Ctx) -> list[Workload]:
    m = ctx.size(100, 40)
    xs = [float(v) for v in range(m)]
    inputs = {"x": xs, "y": xs}
    pf_folder, ch_folder = ctx.fresh(), ctx.fresh()
    w.outer_3stage(pipefunc).map(inputs, run_folder=pf_folder, parallel=False)
    run_map(w.outer_3stage(pm), inputs, run_folder=ch_folder, parallel=False, storage="chunked")
    names = ("z", "w", "r")
    n = 2 * m * m + m

    def floor() -> None:
        for name in names:
            folder = Path(pf_folder) / "outputs" / name
            w.floor_read_files(str(folder), len(os.listdir(folder)))

    rows = []
    for label, pf_fn, pm_fn in [
        ("load_outputs", lambda f: pfm.load_outputs(*names, run_folder=f), lambda f: pio.load_outputs(*names, run_folder=f)),
        ("load_xarray_dataset", lambda f: pfm.load_xarray_dataset(run_folder=f), lambda f: pio.load_xarray_dataset(run_folder=f)),
        ("load_dataframe", lambda f: pfm.load_dataframe(run_folder=f), lambda f: pio.load_dataframe(run_folder=f)),
    ]:
        rows.append(Workload(
            f"{label} file_array {m}x{m}", n, lambda pf_fn=pf_fn: pf_fn(pf_folder), lambda pm_fn=pm_fn: pm_fn(pf_folder),
            floor, ">=3x", _ratio_at_least(3), note="both read the folder pipefunc wrote",
        ))
        rows.append(Workload(
            f"{label} chunked (pm) vs file_array (pf) {m}x{m}", n, lambda pf_fn=pf_fn: pf_fn(pf_folder),
            lambda pm_fn=pm_fn: pm_fn(ch_folder), floor, "<=2us/el", _pm_us_at_most(2),
        ))
    return rows


WORKLOADS: dict[str, Callable[[Ctx], list[Workload]]] = {
    "mapspec": wl_mapspec,
    "elementwise": wl_elementwise,
    "overhead": wl_overhead,
    "outer": wl_outer,
    "storage": wl_storage,
    "parallel": wl_parallel,
    "resume": wl_resume,
    "load": wl_load,
}
