"""Parity of the loaders and result conversions with pipefunc 0.93.2 (issue 13, items 7, 12, 14, 15, 16).

Each test runs the same pipefunc pipeline through ``pipeline.map`` (pipefunc) and
``pipemap.runner.run_map`` (pipemap) and compares what ``load_outputs``, ``load_all_outputs``,
``load_xarray_dataset``, ``load_dataframe``, ``ResultDict.to_xarray()`` and ``to_dataframe()``
give back; the ``parity`` fixture lives in ``conftest.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

pipefunc = pytest.importorskip("pipefunc")

pf = pipefunc.pipefunc
PfPipeline = pipefunc.Pipeline


# --- item 14: load_outputs returns failed elements as stored -------------------------------------


def _failing_chain() -> Any:
    @pf(output_name="y", mapspec="x[i] -> y[i]")
    def f(x: int) -> int:
        if x == 2:
            msg = "two is bad"
            raise ValueError(msg)
        return x * 10

    @pf(output_name="z", mapspec="y[i], w[j] -> z[i, j]")
    def g(y: int, w: int) -> int:
        return y + w

    @pf(output_name="total")
    def total(z: Any) -> int:
        return int(np.sum(z))

    return PfPipeline([f, g, total])


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_load_outputs_returns_error_snapshots(parity: Any, storage: str) -> None:
    import pipefunc.map as pfm

    import pipemap.io as pio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf_result, pm_result, pf_folder, pm_folder = parity.run_both(
            _failing_chain, {"x": [1, 2, 3], "w": [1, 2]}, error_handling="continue", storage=storage
        )
    for name in ("y", "z", "total"):
        a = pfm.load_outputs(name, run_folder=pf_folder)
        b = pio.load_outputs(name, run_folder=pm_folder)
        parity.assert_same(a, b, f"load_outputs({name!r})")
        # the same objects as the ResultDict holds
        parity.assert_same(pm_result[name].output, np.ma.getdata(b) if isinstance(b, np.ndarray) else b, name)
    y = pio.load_outputs("y", run_folder=pm_folder)
    assert type(y[1]).__name__ == "ErrorSnapshot" and not np.ma.getmaskarray(y).any()
    assert str(y[1].exception) == "two is bad"
    z = pio.load_outputs("z", run_folder=pm_folder)
    assert [type(v).__name__ for v in z[1]] == ["PropagatedErrorSnapshot"] * 2
    total = pio.load_outputs("total", run_folder=pm_folder)
    assert type(total).__name__ == "PropagatedErrorSnapshot" and total.reason == "array_contains_errors"
    everything = pio.load_all_outputs(pm_folder)
    pf_everything = pfm.load_all_outputs(run_folder=pf_folder)
    assert list(everything) == list(pf_everything) == ["total", "y", "z"]
    for name in everything:
        parity.assert_same(pf_everything[name], everything[name], f"load_all_outputs()[{name!r}]")

    # the masked form is an option
    y_masked, total_masked = pio.load_outputs("y", "total", run_folder=pm_folder, mask_errors=True)
    assert np.ma.getmaskarray(y_masked).tolist() == [False, True, False]
    assert total_masked is None
    masked_all = pio.load_all_outputs(pm_folder, mask_errors=True)
    assert masked_all["total"] is None and np.ma.getmaskarray(masked_all["z"])[1].all()
    # the presentation loaders keep masking failed elements (NaN / null)
    ds = pio.load_xarray_dataset(run_folder=pm_folder)
    assert ds["y"].dtype == np.float64 and np.isnan(ds["y"].values[1])
    assert ds["total"].values[()] is None
    df = pio.load_dataframe(run_folder=pm_folder)
    assert df["z"].isna().tolist() == [False, False, True, True, False, False]
    assert pio.load_dataframe(run_folder=pm_folder, backend="polars")["z"].null_count() == 2


def test_failed_internal_axes_element_fills_its_cells() -> None:
    """pipefunc cannot store a failed element of an output with internal axes (its run raises); pipemap
    stores the snapshot and both load_outputs and the ResultDict show it in every internal cell."""
    from pipemap.runner import run_map

    import pipemap.io as pio

    @pf(output_name="y", mapspec="x[i] -> y[i, k]", internal_shape=(2,))
    def f(x: int) -> list[int]:
        if x == 2:
            msg = "no"
            raise ValueError(msg)
        return [x, -x]

    import tempfile

    for storage in ("file_array", "dict"):
        folder = tempfile.mkdtemp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = run_map(
                PfPipeline([f]), {"x": [1, 2, 3]}, run_folder=folder, parallel=False, error_handling="continue",
                storage=storage,
            )
        y = pio.load_outputs("y", run_folder=folder)
        assert not np.ma.getmaskarray(y).any()
        assert [type(v).__name__ for v in y[1]] == ["ErrorSnapshot"] * 2
        assert [int(v) for v in y[[0, 2]].ravel()] == [1, -1, 3, -3]
        assert [type(v).__name__ for v in result["y"].output[1]] == ["ErrorSnapshot"] * 2
        assert np.ma.getmaskarray(pio.load_outputs("y", run_folder=folder, mask_errors=True))[1].all()
