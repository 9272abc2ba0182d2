"""Pure-Python reference of the mapspec index math (docs/behaviour.md §1.4, §1.6), for tests.

Deliberately simple and unoptimised: the compiled kernels in ``_kernels`` must agree with it.
It does no validation beyond what the arithmetic needs.

>>> reference_output_key((5, 2, 3), 23)
(3, 1, 2)
>>> reference_input_keys(((0, 1), (1, -1, 2)), ("x", "y"), (5, 2, 3), 23)
{'x': (3, 1), 'y': (1, slice(None, None, None), 2)}
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["reference_input_keys", "reference_output_key", "reference_strides"]


def reference_strides(shape: Sequence[int]) -> tuple[int, ...]:
    """C-order strides in elements: ``stride_k = prod(shape[k+1:])``.

    >>> reference_strides((3, 4, 5))
    (20, 5, 1)
    """
    strides = []
    step = 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


def reference_output_key(shape: Sequence[int], linear_index: int) -> tuple[int, ...]:
    """Output multi-index of ``linear_index``: ``key_k = (n // stride_k) % shape_k``.

    >>> reference_output_key((3, 4), 7)
    (1, 3)
    """
    if len(shape) == 1:
        return (linear_index,)
    return tuple(
        (linear_index // stride) % dim
        for stride, dim in zip(reference_strides(shape), shape, strict=True)
    )


def reference_input_keys(
    axis_maps: Sequence[Sequence[int]],
    names: Sequence[str],
    shape: Sequence[int],
    linear_index: int,
) -> dict[str, tuple[int | slice, ...]]:
    """``{name: key}``: per axis, entry ``axis_maps[k][j]`` of the output key (-1: ``slice(None)``).

    >>> reference_input_keys(((0,), (-1, 1)), ("a", "b"), (2, 3), 4)
    {'a': (1,), 'b': (slice(None, None, None), 1)}
    """
    key = reference_output_key(shape, linear_index)
    return {
        name: tuple(slice(None) if pos < 0 else key[pos] for pos in amap)
        for name, amap in zip(names, axis_maps, strict=True)
    }
