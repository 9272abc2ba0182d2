"""Dask on SLURM: ``dask_jobqueue.SLURMCluster`` starts its workers as SLURM jobs on the local
cluster; a pipeline run through its ``Client`` equals the sequential run. (The code of
docs/how-to/slurm.md's Dask section.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import Pipeline, pipefunc, run_map

_spec = importlib.util.spec_from_file_location("_slurm_helpers", Path(__file__).with_name("_slurm_helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

pytestmark = pytest.mark.slurm


@pipefunc("y", mapspec="x[i] -> y[i]")
def square(x):
    return x * x


@pipefunc("z", mapspec="y[i], w[j] -> z[i, j]")
def shift(y, w):
    return y + w


@pipefunc("s")
def total(z):
    return int(np.sum(z))


def test_pipeline_on_dask_slurm_cluster(tmp_path: Path) -> None:
    helpers.need_cluster()
    dask_jobqueue = pytest.importorskip("dask_jobqueue")
    distributed = pytest.importorskip("distributed")
    pipeline = Pipeline([square, shift, total])
    inputs = {"x": list(range(20)), "w": [1, 2]}

    cluster = dask_jobqueue.SLURMCluster(
        cores=1,  # one worker process per SLURM job, one thread
        processes=1,
        memory="1GB",
        walltime="00:10:00",
        python=sys.executable,  # the workers' interpreter: the same environment
        log_directory=str(tmp_path / "dask-logs"),
        scheduler_options={"dashboard_address": None},
    )
    try:
        cluster.scale(jobs=2)  # two SLURM jobs, one Dask worker each
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2, timeout=120)
            results = run_map(pipeline, inputs, run_folder=tmp_path / "run", executor=client)
    finally:
        cluster.close()
    expected = run_map(pipeline, inputs, parallel=False)
    assert results["y"].output.tolist() == expected["y"].output.tolist()
    assert np.array_equal(results["z"].output, expected["z"].output)
    assert results["s"].output == expected["s"].output
