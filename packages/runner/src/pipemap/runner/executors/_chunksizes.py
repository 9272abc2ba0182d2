"""Chunk sizes for mapped functions (docs/behaviour.md §4.2).

>>> chunksize_for("y", 1000, None, n_workers=None)
50
>>> chunksize_for("y", 1000, {"": 7}, n_workers=4)
7
>>> chunksize_for("y", 10, None, n_workers=8)
1
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TypeAlias

ChunksizeSpec: TypeAlias = int | Callable[[int], int] | None
Chunksizes: TypeAlias = int | dict[str | tuple[str, ...], ChunksizeSpec] | None


def automatic_chunksize(total: int, n_workers: int | None) -> int:
    """Seed rule: ``total < 2n`` gives 1, else ``ceil(total / (20 n))``; unknown workers count as 1."""
    if n_workers is None:
        warnings.warn(
            "Automatic chunksize calculation failed (unknown number of executor workers); "
            "assuming 1 worker.",
            UserWarning,
            stacklevel=3,
        )
        n_workers = 1
    n = max(1, n_workers)
    if total < 2 * n:
        return 1
    return max(1, math.ceil(total / (20 * n)))


def chunksize_for(
    output_name: str | tuple[str, ...],
    total: int,
    chunksizes: Chunksizes,
    n_workers: int | None,
) -> int:
    """The chunk size for one function that has ``total`` elements to submit."""
    spec: ChunksizeSpec
    if isinstance(chunksizes, dict):
        spec = chunksizes[output_name] if output_name in chunksizes else chunksizes.get("")
    else:
        spec = chunksizes
    if callable(spec):
        size = spec(total)
    elif spec is None:
        return automatic_chunksize(total, n_workers)
    else:
        size = spec
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        msg = f"Invalid chunksize {size} for {output_name}"
        raise ValueError(msg)
    return size


def split_indices(indices: "range | list[int]", size: int) -> list:
    """Split ``indices`` in order into consecutive pieces of at most ``size`` elements.

    >>> split_indices(range(5), 2)
    [range(0, 2), range(2, 4), range(4, 5)]
    """
    return [indices[k : k + size] for k in range(0, len(indices), size)]
