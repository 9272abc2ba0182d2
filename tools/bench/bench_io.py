"""pytest-benchmark suite for pipemap.io loaders (never asserts on time).

    uv run pytest tools/bench/bench_io.py --benchmark-enable -q

Run folders are written once per session with the storage API (a 200 x 200 outer product,
`x[i], y[j] -> z[i, j]`) on file_array and chunked storage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipemap.io import load_dataframe, load_outputs, load_xarray_dataset
from pipemap.storage import RunRecord, open_store

N = 200


@pytest.fixture(scope="session", params=["file_array", "chunked"])
def run_folder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(f"bench_io_{request.param}")
    x = list(range(N))
    record = RunRecord(
        inputs={"x": x, "y": x},
        defaults={},
        all_output_names={"z"},
        shapes={"x": (N,), "y": (N,), "z": (N, N)},
        resolved_shapes={"x": (N,), "y": (N,), "z": (N, N)},
        internal_shapes=None,
        shape_masks={"z": (True, True)},
        run_folder=folder,
        mapspecs_as_strings=["x[i], y[j] -> z[i, j]"],
        storage=request.param,
    )
    record.dump()
    values = (np.arange(N)[:, None] * 1000 + np.arange(N)[None, :]).ravel().tolist()
    open_store(record, "z").dump_many(range(N * N), values)
    return folder


def test_load_outputs(benchmark, run_folder: Path) -> None:  # noqa: ANN001
    z = benchmark(load_outputs, "z", run_folder=run_folder)
    assert z.shape == (N, N)


def test_load_xarray_dataset(benchmark, run_folder: Path) -> None:  # noqa: ANN001
    ds = benchmark(load_xarray_dataset, run_folder=run_folder)
    assert ds["z"].dtype == np.int64


@pytest.mark.parametrize("backend", ["pandas", "polars"])
def test_load_dataframe(benchmark, run_folder: Path, backend: str) -> None:  # noqa: ANN001
    df = benchmark(load_dataframe, run_folder=run_folder, backend=backend)
    assert len(df) == N * N
