"""Loaders on run folders written by `pipemap.runner.run_map`, and io without the runner."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.io import load_all_outputs, load_dataframe, load_errors, load_outputs, load_xarray_dataset

runner = pytest.importorskip("pipemap.runner")


def _pipeline(fail_at: int | None = None) -> Any:
    @runner.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        if x == fail_at:
            msg = f"no {x}"
            raise ValueError(msg)
        return 2 * x

    @runner.pipefunc(output_name="z", mapspec="y[i], w[j] -> z[i, j]")
    def add(y: int, w: int) -> int:
        return y + w

    @runner.pipefunc(output_name="s", mapspec="z[:, j] -> s[j]")
    def colsum(z: Any) -> int:
        return int(sum(z))

    @runner.pipefunc(output_name="t")
    def total(s: Any) -> int:
        return int(sum(s))

    return runner.Pipeline([double, add, colsum, total])


INPUTS = {"x": [1, 2, 3], "w": [10, 20]}


@pytest.mark.parametrize("storage", ["file_array", "chunked", "dict", "zarr_file_array"])
def test_real_run_every_storage(tmp_path: Path, storage: str) -> None:
    folder = tmp_path / "run"
    results = runner.run_map(_pipeline(), INPUTS, run_folder=folder, storage=storage, parallel=False)
    outputs = load_all_outputs(folder)
    assert outputs["t"] == 114
    for name in ("y", "z", "s"):
        assert outputs[name].tolist() == results[name].output.tolist()
    ds = load_xarray_dataset(run_folder=folder)
    assert set(ds.coords) == {"x", "w"} and ds["z"].dtype == np.int64
    df = load_dataframe(run_folder=folder, backend="polars")
    assert df.shape[0] == 6 and df["z"].to_list() == [12, 22, 14, 24, 16, 26]


def test_real_failed_run(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    runner.run_map(_pipeline(fail_at=2), INPUTS, run_folder=folder, error_handling="continue", parallel=False)
    y = load_outputs("y", run_folder=folder, mask_errors=True)
    assert np.ma.getmaskarray(y).tolist() == [False, True, False]
    errors = load_errors("y", run_folder=folder)
    assert len(errors) == 1 and errors[0].index == (1,) and errors[0].kwargs == {"x": 2}
    assert "ValueError: no 2" in errors[0].exception
    ds = load_xarray_dataset("z", run_folder=folder)
    assert np.isnan(ds["z"].values[1]).all()


def test_io_works_without_the_runner(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    runner.run_map(_pipeline(), INPUTS, run_folder=folder, storage="chunked", parallel=False)
    script = textwrap.dedent(
        f"""
        import sys, importlib.abc

        class BlockRunner(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "pipemap.runner" or name.startswith("pipemap.runner."):
                    raise ImportError("pipemap.runner is blocked in this test")
                return None

        sys.meta_path.insert(0, BlockRunner())
        import pipemap.io as pio
        from pipemap.io.cli import main
        heavy = [m for m in ("xarray", "pandas", "polars", "zarr") if m in sys.modules]
        assert not heavy, f"importing pipemap.io pulled in {{heavy}}"
        folder = {str(folder)!r}
        assert main(["status", folder]) == 0
        assert "xarray" not in sys.modules and "pandas" not in sys.modules  # status stays light
        assert pio.load_outputs("t", run_folder=folder) == 114
        assert pio.load_all_outputs(folder)["z"].tolist() == [[12, 22], [14, 24], [16, 26]]
        assert pio.load_xarray_dataset(run_folder=folder)["z"].shape == (3, 2)
        assert len(pio.load_dataframe(run_folder=folder, backend="polars")) == 6
        assert main(["status", folder]) == 0
        assert main(["errors", folder]) == 0
        assert not any(m.startswith("pipemap.runner") for m in sys.modules)
        print("OK")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("OK")


def test_result_dict_conversions_match_the_run_folder(tmp_path: Path) -> None:
    from pipemap.io import dataframe_from_results, xarray_dataset_from_results

    folder = tmp_path / "run"
    pipeline = _pipeline()
    results = runner.run_map(pipeline, INPUTS, run_folder=folder, parallel=False)
    ds_disk = load_xarray_dataset(run_folder=folder)
    ds_mem = xarray_dataset_from_results(INPUTS, results, pipeline)
    assert set(ds_mem.data_vars) == set(ds_disk.data_vars) and set(ds_mem.coords) == set(ds_disk.coords)
    for name in ("y", "z", "s"):
        assert ds_mem[name].values.tolist() == ds_disk[name].values.tolist()
        assert ds_mem[name].dims == ds_disk[name].dims
    assert ds_mem["t"].item() == 114
    df = dataframe_from_results(INPUTS, results, pipeline, backend="polars")
    assert df.to_dict(as_series=False) == load_dataframe(run_folder=folder, backend="polars").to_dict(as_series=False)
    # the runner's own ResultDict methods go through pipemap.io
    assert results.to_xarray()["z"].values.tolist() == ds_disk["z"].values.tolist()
    assert results.to_dataframe()["z"].tolist() == [12, 22, 14, 24, 16, 26]
