"""pipemap.io reads run folders written by pipefunc 0.93.2 and agrees with pipefunc's loaders.

Differences by design: numeric variables get numeric dtypes (pipefunc keeps object arrays), and
failed elements are masked (pipefunc keeps the ErrorSnapshot objects).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pipemap.io as pio

pipefunc = pytest.importorskip("pipefunc")
pf_map = pytest.importorskip("pipefunc.map")


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if a.shape != b.shape:
        return False
    for u, v in zip(a.ravel().tolist(), b.ravel().tolist()):
        if isinstance(u, float) and isinstance(v, float) and np.isnan(u) and np.isnan(v):
            continue
        if isinstance(u, np.ndarray) or isinstance(v, np.ndarray):
            if not np.array_equal(u, v):
                return False
        elif u != v:
            return False
    return True


def _example() -> tuple[Any, dict[str, Any]]:
    from pipefunc import Pipeline, pipefunc as pf

    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        return 2 * x

    @pf(output_name="z", mapspec="y[i], w[j] -> z[i, j]")
    def add(y: int, w: int) -> int:
        return y + w

    @pf(output_name="s", mapspec="z[:, j] -> s[j]")
    def colsum(z: Any) -> int:
        return int(sum(z))

    @pf(output_name="t")
    def total(s: Any) -> Any:
        return np.arange(6.0).reshape(2, 3) * sum(s)

    return Pipeline([double, add, colsum, total]), {"x": [1, 2, 3], "w": [10, 20]}


def _zipped() -> tuple[Any, dict[str, Any]]:
    from pipefunc import Pipeline, pipefunc as pf

    @pf(output_name="r", mapspec="x[i], y[i], z[j] -> r[i, j]")
    def f(x: int, y: int, z: int) -> tuple[int, int]:
        return (x + y, z)

    return Pipeline([f]), {"x": [1, 2, 3], "y": [4, 5, 6], "z": [7, 8]}


def _generator_internal() -> tuple[Any, dict[str, Any]]:
    from pipefunc import Pipeline, pipefunc as pf

    @pf(output_name="n", mapspec="... -> n[k]")
    def gen(m: int) -> list[int]:
        return list(range(m))

    @pf(output_name="g", mapspec="n[k], x[i] -> g[i, k, l]", internal_shape=(2,))
    def g(n: int, x: int) -> list[int]:
        return [n * x, -n * x]

    @pf(output_name="h", mapspec="g[i, k, :] -> h[i, k]")
    def h(g: Any) -> float:
        return float(sum(g)) + 0.5

    return Pipeline([gen, g, h]), {"m": 3, "x": [1, 2]}


def _two_d_input() -> tuple[Any, dict[str, Any]]:
    from pipefunc import Pipeline, pipefunc as pf

    @pf(output_name="y", mapspec="x[i, j] -> y[i, j]")
    def f(x: int) -> str:
        return f"v{x}"

    return Pipeline([f]), {"x": np.arange(6).reshape(2, 3)}


@pytest.mark.parametrize("make", [_example, _zipped, _generator_internal, _two_d_input])
@pytest.mark.parametrize("load_intermediate", [True, False])
def test_same_as_pipefunc(tmp_path: Path, make: Any, load_intermediate: bool) -> None:
    pipeline, inputs = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.map(inputs, run_folder=tmp_path, parallel=False, show_progress=False)
        ref_all = pf_map.load_all_outputs(tmp_path)
        ref_ds = pf_map.load_xarray_dataset(run_folder=tmp_path, load_intermediate=load_intermediate)
        ref_df = pf_map.load_dataframe(run_folder=tmp_path, load_intermediate=load_intermediate)
    ours_all = pio.load_all_outputs(tmp_path)
    assert list(ours_all) == list(ref_all)
    for name, ref in ref_all.items():
        ours = ours_all[name]
        assert type(ours) is type(ref), name
        if isinstance(ref, np.ma.MaskedArray):
            assert ours.shape == ref.shape and (np.ma.getmaskarray(ours) == np.ma.getmaskarray(ref)).all()
        assert _same(ours, ref), name
    ds = pio.load_xarray_dataset(run_folder=tmp_path, load_intermediate=load_intermediate)
    assert set(ds.coords) == set(ref_ds.coords)
    assert set(ds.data_vars) == set(ref_ds.data_vars)
    for name in list(ref_ds.data_vars) + list(ref_ds.coords):
        assert ds[name].dims == ref_ds[name].dims, name
        if ds[name].dims:
            assert _same(ds[name].values, ref_ds[name].values), name
    df = pio.load_dataframe(run_folder=tmp_path, load_intermediate=load_intermediate)
    assert sorted(df.columns) == sorted(ref_df.columns)
    assert len(df) == len(ref_df)
    for column in ref_df.columns:
        assert _same(df[column].to_numpy(dtype=object), ref_df[column].to_numpy(dtype=object)), column


def test_failed_pipefunc_run(tmp_path: Path) -> None:
    from pipefunc import Pipeline, pipefunc as pf

    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 3:
            msg = "three"
            raise ValueError(msg)
        return x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Pipeline([f]).map({"x": [1, 2, 3, 4]}, run_folder=tmp_path, parallel=False, error_handling="continue",
                          show_progress=False)
    y = pio.load_outputs("y", run_folder=tmp_path, mask_errors=True)
    # pipefunc's own ErrorSnapshot objects are recognised and masked too
    assert np.ma.getmaskarray(y).tolist() == [False, False, True, False]
    assert y[[0, 1, 3]].tolist() == [1, 2, 4]
    errors = pio.load_errors(run_folder=tmp_path)
    assert [(e.index, e.function, e.kwargs) for e in errors] == [((2,), "f", {"x": 3})]
    assert errors[0].exception == "ValueError: three"


def test_status_of_a_pipefunc_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipemap.io.cli import main

    pipeline, inputs = _example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.map(inputs, run_folder=tmp_path, parallel=False, show_progress=False)
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "written by : pipefunc 0.93.2 (run folder format v0)" in out and "status: complete" in out
