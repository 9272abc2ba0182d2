"""A small run folder for examples and docs, written with the storage API alone.

The pipeline (docs/behaviour.md §6): ``x[i] -> y[i]`` (y = 2x), ``y[i], w[j] -> z[i, j]`` (z = y + w),
``z[:, j] -> s[j]`` (column sums) and the single output ``t = sum(s)``, with x = [1, 2, 3] and
w = [10, 20]. ``missing`` leaves y elements (and what depends on them) out, as in a partial run.

>>> folder = example_run_folder()
>>> import pipemap.io as pio
>>> pio.load_outputs("t", run_folder=folder)
114
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipemap.storage import FileValue, RunRecord, open_store

__all__ = ["example_run_folder"]


def example_run_folder(
    folder: str | Path | None = None, *, storage: str = "file_array", missing: Sequence[int] = ()
) -> Path:
    """Write the example run to ``folder`` (default: a new temporary folder) and return it.

    A small finished run (outputs ``y``, ``z``, ``s`` and ``t`` over inputs ``x`` and ``w``) written
    without the runner, for examples and tests of the loaders.

    Parameters
    ----------
    folder : str or Path, optional
        Where to write it (default: a new temporary folder).
    storage : str, default "file_array"
        The storage id of the mapped outputs.
    missing : sequence of int, optional
        Linear indices of ``y`` to leave out (a partial run).

    Examples
    --------
    >>> folder = example_run_folder(missing=[1])
    >>> import pipemap.io as pio
    >>> pio.load_outputs("y", run_folder=folder).tolist()
    [2, None, 6]
    """
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="pipemap_example_"))
    x, w = [1, 2, 3], [10, 20]
    shapes: dict[str | tuple[str, ...], tuple[Any, ...]] = {"x": (3,), "w": (2,), "y": (3,), "z": (3, 2), "s": (2,)}
    record = RunRecord(
        inputs={"x": x, "w": w},
        defaults={},
        all_output_names={"y", "z", "s", "t"},
        shapes=shapes,
        resolved_shapes=shapes,
        internal_shapes=None,
        shape_masks={"y": (True,), "z": (True, True), "s": (True,)},
        run_folder=folder,
        mapspecs_as_strings=["x[i] -> y[i]", "y[i], w[j] -> z[i, j]", "z[:, j] -> s[j]"],
        storage=storage,
    )
    record.dump()
    done = [i for i in range(3) if i not in missing]
    stores = {name: open_store(record, name) for name in ("y", "z", "s")}
    stores["y"].dump_many(done, [2 * x[i] for i in done])
    z_idx = [i * 2 + j for i in done for j in range(2)]
    stores["z"].dump_many(z_idx, [2 * x[i] + w[j] for i in done for j in range(2)])
    if not missing:
        s = [sum(2 * xi + wj for xi in x) for wj in w]
        stores["s"].dump_many([0, 1], s)
        FileValue(folder / "outputs" / "t.cloudpickle").dump(sum(s))
    for store in stores.values():
        if store.supports_persist:
            store.persist()
    return folder
