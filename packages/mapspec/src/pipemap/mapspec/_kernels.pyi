"""Type stub for the compiled index kernels (``_kernels.pyx``)."""

from collections.abc import Sequence
from typing import SupportsIndex

import numpy as np
import numpy.typing as npt

_Int64Vector = npt.NDArray[np.int64]
_Int64Matrix = npt.NDArray[np.int64]

class CompiledSpec:
    """The compiled index math of one mapspec."""

    spec_text: str
    input_names: tuple[str, ...]
    axis_maps: tuple[tuple[int, ...], ...]
    n_external: int
    total_rank: int

    def __init__(
        self,
        spec_text: str,
        input_names: tuple[str, ...],
        axis_maps: tuple[tuple[int, ...], ...],
        n_external: int,
    ) -> None: ...
    def __reduce__(self) -> tuple[object, ...]: ...
    def size_of(self, shape: Sequence[SupportsIndex]) -> int: ...
    def rank(self, k: int) -> int: ...
    def offset(self, k: int) -> int: ...
    def output_key(
        self, shape: Sequence[SupportsIndex], linear_index: SupportsIndex
    ) -> tuple[int, ...]: ...
    def input_keys(
        self, shape: Sequence[SupportsIndex], linear_index: SupportsIndex
    ) -> dict[str, tuple[int | slice, ...]]: ...
    def fill_range(
        self,
        start: int,
        stop: int,
        shape: Sequence[SupportsIndex],
        keys_out: _Int64Matrix | None,
        selectors_out: Sequence[_Int64Matrix] | None,
    ) -> None: ...
    def fill_array(
        self,
        linear: _Int64Vector,
        shape: Sequence[SupportsIndex],
        keys_out: _Int64Matrix | None,
        selectors_out: Sequence[_Int64Matrix] | None,
    ) -> None: ...

def unravel_range(start: int, stop: int, shape: _Int64Vector, out: _Int64Matrix) -> None: ...
def unravel_array(linear: _Int64Vector, shape: _Int64Vector, out: _Int64Matrix) -> None: ...
def select_range(
    start: int, stop: int, shape: _Int64Vector, axis_map: _Int64Vector, out: _Int64Matrix
) -> None: ...
def select_array(
    linear: _Int64Vector, shape: _Int64Vector, axis_map: _Int64Vector, out: _Int64Matrix
) -> None: ...

def ragged_offsets(lengths: _Int64Vector, out: _Int64Vector) -> int: ...
def ragged_locate(
    offsets: _Int64Vector, flat: _Int64Vector, rows_out: _Int64Vector, positions_out: _Int64Vector
) -> None: ...
def ragged_expand(
    offsets: _Int64Vector, start: int, stop: int, rows_out: _Int64Vector, positions_out: _Int64Vector
) -> None: ...
def ragged_flat(
    offsets: _Int64Vector, rows: _Int64Vector, positions: _Int64Vector, out: _Int64Vector
) -> None: ...
