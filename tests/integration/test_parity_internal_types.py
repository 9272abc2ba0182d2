"""Parity of element types when loading outputs with internal axes, per storage backend.

pipefunc's ``to_array`` passes each stored sub-array through ``numpy.asarray``: its FileArray keeps
the numpy scalars, its DictArray (and shared-memory variant) assigns the whole block into an object
array (Python scalars), and its zarr arrays store the cells as Python objects. ``load_outputs`` on a
pipemap run folder must give the same element types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pipefunc = pytest.importorskip("pipefunc")

_VALUES: dict[str, Callable[[int], Any]] = {
    "list_int": lambda a: [a, a + 1],
    "ndarray_int": lambda a: np.array([a, a + 1]),
    "list_int_float": lambda a: [a + 0.5, a],
    "list_str": lambda a: ["s", str(a)],
    "list_str_int": lambda a: ["s", a],
    "list_dict": lambda a: [{"k": a}, {"k": 1}],
}
_STORAGES = ["file_array", "dict", "shared_memory_dict", "zarr_file_array"]


def _build(kind: str) -> Any:
    return pipefunc.Pipeline(
        [pipefunc.PipeFunc(_VALUES[kind], "b", mapspec="a[i] -> b[i, j]", internal_shape=2)]
    )


@pytest.mark.parametrize("storage", _STORAGES)
@pytest.mark.parametrize("kind", sorted(_VALUES))
def test_internal_axis_element_types(kind: str, storage: str, parity: Any) -> None:
    import pipefunc.map as pfm

    import pipemap.io as pio

    pf_result, pm_result, pf_folder, pm_folder = parity.run_both(lambda: _build(kind), {"a": [1, 2]}, storage=storage)
    parity.assert_results(pf_result, pm_result)
    a = pfm.load_outputs("b", run_folder=pf_folder)
    b = pio.load_outputs("b", run_folder=pm_folder)
    parity.assert_same(a, b, "load_outputs('b')")


@pytest.mark.parametrize("storage", ["file_array", "dict"])
def test_sub_arrays_deeper_than_internal_axes(storage: str, parity: Any) -> None:
    """A sub-array with more axes than declared: each cell holds an ndarray, in both engines."""
    import pipefunc.map as pfm

    import pipemap.io as pio

    def build() -> Any:
        f = pipefunc.PipeFunc(lambda a: [[a, a], [a, 1]], "b", mapspec="a[i] -> b[i, j]", internal_shape=2)
        return pipefunc.Pipeline([f])

    _, _, pf_folder, pm_folder = parity.run_both(build, {"a": [1, 2]}, storage=storage)
    a = pfm.load_outputs("b", run_folder=pf_folder)
    b = pio.load_outputs("b", run_folder=pm_folder)
    assert type(b[0, 0]) is np.ndarray
    parity.assert_same(a, b, "load_outputs('b')")
