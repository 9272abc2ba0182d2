"""Run folders for the io tests, written with the storage API alone (no runner).

``write_run(folder, storage, ...)`` writes the docs/behaviour.md §6 example pipeline

    x[i] -> y[i]              y = 2 * x
    y[i], w[j] -> z[i, j]     z = y + w
    z[:, j] -> s[j]           s = sum(z[:, j])
    t = sum(s)                (single output)

with x = [1, 2, 3] and w = [10, 20], optionally leaving elements out (partial run) or storing
failure records (failed run).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipemap.storage import (
    ErrorInfo,
    ErrorSnapshot,
    FileValue,
    PropagatedErrorSnapshot,
    RunRecord,
    get_storage_class,
    open_store,
)


def _available(storage_id: str) -> bool:
    try:
        get_storage_class(storage_id)
    except (ValueError, ImportError):
        return False
    return not storage_id.startswith("zarr") or importlib.util.find_spec("zarr") is not None


BACKENDS = ["file_array", "chunked", "dict", "zarr_file_array"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every storage that can hold a run folder's outputs (dict persisted at the end)."""
    if not _available(request.param):
        pytest.skip(f"storage `{request.param}` is not available")
    return request.param


def _fail(x: Any) -> Any:
    msg = f"x={x} is bad"
    raise ValueError(msg)


def _write(record: RunRecord, name: str, indices: Sequence[int], values: Sequence[Any]) -> None:
    store = open_store(record, name)
    if len(indices):
        store.dump_many(np.asarray(indices, dtype=np.int64), list(values))
    if store.supports_persist:
        store.persist()


def write_example_run(
    folder: Path,
    storage: str = "file_array",
    *,
    skip_y: Sequence[int] = (),
    fail_y: Sequence[int] = (),
    finish: bool = True,
) -> RunRecord:
    """Write the example run; ``skip_y`` leaves y elements out, ``fail_y`` stores failures."""
    x, w = [1, 2, 3], [10, 20]
    record = RunRecord(
        inputs={"x": x, "w": w},
        defaults={},
        all_output_names={"y", "z", "s", "t"},
        shapes={"x": (3,), "w": (2,), "y": (3,), "z": (3, 2), "s": (2,)},
        resolved_shapes={"x": (3,), "w": (2,), "y": (3,), "z": (3, 2), "s": (2,)},
        internal_shapes=None,
        shape_masks={"y": (True,), "z": (True, True), "s": (True,)},
        run_folder=folder,
        mapspecs_as_strings=["x[i] -> y[i]", "y[i], w[j] -> z[i, j]", "z[:, j] -> s[j]"],
        storage=storage,
        error_handling="continue" if fail_y else "raise",
    )
    record.dump()
    y: list[Any] = []
    for i, xi in enumerate(x):
        if i in fail_y:
            y.append(ErrorSnapshot(_fail, ValueError(f"x={xi} is bad"), kwargs={"x": xi}))
        else:
            y.append(2 * xi)
    y_idx = [i for i in range(3) if i not in skip_y]
    _write(record, "y", y_idx, [y[i] for i in y_idx])
    z_idx, z_val = [], []
    for i in y_idx:
        for j, wj in enumerate(w):
            z_idx.append(i * 2 + j)
            if isinstance(y[i], ErrorSnapshot):
                info = {"y": ErrorInfo.from_full_error(y[i])}
                z_val.append(PropagatedErrorSnapshot(info, _fail, "input_is_error", {"y": y[i], "w": wj}))
            else:
                z_val.append(y[i] + wj)
    _write(record, "z", z_idx, z_val)
    if finish and not skip_y and not fail_y:
        s = [sum(2 * xi + wj for xi in x) for wj in w]
        _write(record, "s", [0, 1], s)
        FileValue(folder / "outputs" / "t.cloudpickle").dump(sum(s))
    else:
        _write(record, "s", [], [])
    return record


@pytest.fixture
def example_run(tmp_path: Path, backend: str) -> Path:
    """A finished example run on every backend."""
    folder = tmp_path / "run"
    write_example_run(folder, backend)
    return folder


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(mapspecs, inputs, outputs, storage=..., internal_shapes=..., shapes=...)``.

    ``outputs``: {mapped name: (full shape, shape_mask, {linear index: value})} or
    {single name: value}. Returns the run folder.
    """
    counter = iter(range(1000))

    def make(
        mapspecs: list[str],
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        *,
        storage: str = "file_array",
        shapes: dict[str, tuple[Any, ...]] | None = None,
    ) -> Path:
        folder = tmp_path / f"run{next(counter)}"
        mapped = {k: v for k, v in outputs.items() if isinstance(v, tuple)}
        all_shapes: dict[str, tuple[Any, ...]] = {k: tuple(np.shape(v)) if not isinstance(v, list) else (len(v),) for k, v in inputs.items()}
        all_shapes.update(shapes or {})
        for name, (shape, _mask, _values) in mapped.items():
            all_shapes[name] = tuple(shape)
        internal = {n: tuple(s for s, m in zip(shape, mask) if not m) for n, (shape, mask, _) in mapped.items() if not all(mask)}
        record = RunRecord(
            inputs=inputs,
            defaults={},
            all_output_names=set(outputs),
            shapes=all_shapes,
            resolved_shapes=all_shapes,
            internal_shapes=internal or None,
            shape_masks={n: tuple(mask) for n, (_, mask, _) in mapped.items()},
            run_folder=folder,
            mapspecs_as_strings=mapspecs,
            storage=storage,
        )
        record.dump()
        for name, value in outputs.items():
            if name in mapped:
                _, _, values = mapped[name]
                _write(record, name, list(values), list(values.values()))
            else:
                FileValue(folder / "outputs" / f"{name}.cloudpickle").dump(value)
        return folder

    return make


@pytest.fixture
def write_run() -> Callable[..., RunRecord]:
    """The :func:`write_example_run` writer (tests cannot import conftest helpers directly)."""
    return write_example_run
