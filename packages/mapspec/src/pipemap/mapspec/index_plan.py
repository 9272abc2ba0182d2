"""Batched index math for one mapspec over one resolved external shape.

:class:`IndexPlan` is the validating Python layer over the compiled kernels in
``pipemap.mapspec._kernels``: it checks the spec, the shape and the linear indices once, then
lets a ``nogil`` loop fill int64 buffers (no Python object per element).

>>> from types import SimpleNamespace as NS
>>> spec = NS(
...     inputs=(NS(name="x", axes=("i", "j")), NS(name="y", axes=("j", None, "k"))),
...     external_indices=("i", "j", "k"),
... )
>>> plan = IndexPlan(spec, (5, 2, 3))
>>> plan.output_keys(range(23, 25)).tolist()
[[3, 1, 2], [4, 0, 0]]
>>> plan.input_selectors([23])["y"].tolist()
[[1, -1, 2]]
"""

from __future__ import annotations

import operator
from typing import Any, Protocol

import numpy as np

from pipemap.mapspec._kernels import CompiledSpec

__all__ = ["IndexPlan", "axis_maps_for", "compile_spec"]

_INT64 = np.dtype(np.int64)  # a dtype object: np.empty(shape, _INT64) is the cheapest allocation


class _ArrayLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def axes(self) -> tuple[str | None, ...]: ...


class _SpecLike(Protocol):
    """What IndexPlan needs from a spec: ``inputs``, ``external_indices`` and ``str(spec)``."""

    @property
    def inputs(self) -> tuple[_ArrayLike, ...]: ...

    @property
    def external_indices(self) -> tuple[str, ...]: ...


def axis_maps_for(spec: _SpecLike) -> tuple[tuple[int, ...], ...]:
    """Per input, per axis: the position of that axis in the external shape, -1 for ``:``.

    >>> from types import SimpleNamespace as NS
    >>> spec = NS(inputs=(NS(name="y", axes=("j", None, "k")),), external_indices=("i", "j", "k"))
    >>> axis_maps_for(spec)
    ((1, -1, 2),)
    """
    position = {axis: k for k, axis in enumerate(spec.external_indices)}
    maps = []
    for array in spec.inputs:
        amap = []
        for axis in array.axes:
            if axis is None:
                amap.append(-1)
            elif axis in position:
                amap.append(position[axis])
            else:
                msg = (
                    f"Axis {axis!r} of input {array.name!r} is not an external axis "
                    f"{tuple(spec.external_indices)} of mapspec `{spec}`"
                )
                raise ValueError(msg)
        maps.append(tuple(amap))
    return tuple(maps)


def compile_spec(spec: _SpecLike) -> CompiledSpec:
    """The compiled form of ``spec`` (what ``MapSpec.input_keys``/``output_key`` run on).

    >>> from types import SimpleNamespace as NS
    >>> spec = NS(inputs=(NS(name="x", axes=("i", None)),), external_indices=("i",))
    >>> compile_spec(spec).input_keys((4,), 2)
    {'x': (2, slice(None, None, None))}
    """
    names = tuple(array.name for array in spec.inputs)
    return CompiledSpec(str(spec), names, axis_maps_for(spec), len(spec.external_indices))


class IndexPlan:
    """Batched index math for one MapSpec and one resolved external shape.

    ``linear`` arguments are a ``range`` (step 1 runs without any index buffer) or a 1-D
    integer array-like; every index must satisfy ``0 <= n < size`` (else ``IndexError``).
    Selectors hold, per input axis, the index along that axis, or -1 for a ``:`` slot.

    Parameters
    ----------
    spec : MapSpec or spec-like
        A ``MapSpec``, or any object with ``inputs`` (items with ``name`` and ``axes``) and
        ``external_indices``.
    external_shape : sequence of int
        The resolved external shape of the spec's outputs.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> spec = NS(inputs=(NS(name="x", axes=("i",)), NS(name="y", axes=("j",))),
    ...           external_indices=("i", "j"))
    >>> plan = IndexPlan(spec, (2, 3))
    >>> plan.size
    6
    >>> {k: v.tolist() for k, v in plan.input_selectors(range(4, 6)).items()}
    {'x': [[1], [1]], 'y': [[1], [2]]}
    >>> plan.input_keys_many([5])
    [{'x': (1,), 'y': (2,)}]
    """

    __slots__ = ("_compiled", "_ranks", "input_names", "shape", "size", "spec_text")

    def __init__(self, spec: _SpecLike, external_shape: Any) -> None:
        self._compiled = compile_spec(spec)
        self.spec_text: str = self._compiled.spec_text
        self.input_names: tuple[str, ...] = self._compiled.input_names
        self.size: int = self._compiled.size_of(external_shape)
        self.shape: tuple[int, ...] = tuple(operator.index(d) for d in external_shape)
        self._ranks = tuple(self._compiled.rank(k) for k in range(len(self.input_names)))

    def __repr__(self) -> str:
        return f"IndexPlan(`{self.spec_text}`, shape={self.shape})"

    @property
    def n_external(self) -> int:
        """Number of external axes (the width of :meth:`output_keys`)."""
        return self._compiled.n_external

    def _linear(self, linear: Any) -> range | np.ndarray:
        """Normalise ``linear`` to a step-1 range or a contiguous int64 array."""
        if isinstance(linear, range):
            if linear.step == 1 or len(linear) <= 1:
                start = linear.start if len(linear) else 0
                return range(start, start + len(linear))
            linear = np.arange(linear.start, linear.stop, linear.step, dtype=np.int64)
        try:
            arr = np.asarray(linear)
        except (ValueError, TypeError, OverflowError) as exc:
            msg = (
                f"Linear indices must be a range or a 1-D integer array, got "
                f"{type(linear).__name__} ({exc}) (mapspec `{self.spec_text}`)"
            )
            raise ValueError(msg) from None
        if arr.ndim != 1:
            msg = (
                f"Linear indices must be 1-D, got an array of shape {arr.shape} "
                f"(mapspec `{self.spec_text}`)"
            )
            raise ValueError(msg)
        if arr.dtype.kind not in "iu":
            if arr.size == 0:
                return np.empty(0, dtype=np.int64)
            msg = (
                f"Linear indices must be integers, got dtype {arr.dtype} "
                f"(mapspec `{self.spec_text}`)"
            )
            raise TypeError(msg)
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) >= self.size:
            # Check before the cast to int64, which would wrap huge unsigned values.
            self._out_of_range(int(arr.max()))
        # The kernels check every index against the size inside their loop (IndexError).
        return np.ascontiguousarray(arr, dtype=np.int64)

    def _out_of_range(self, value: int) -> None:
        msg = (
            f"Linear index {value} is out of range for shape {self.shape} of size {self.size} "
            f"(mapspec `{self.spec_text}`)"
        )
        raise IndexError(msg)

    def _fill(self, linear: Any, *, keys: bool, selectors: bool) -> tuple[int, Any, Any]:
        lin = self._linear(linear)
        n = len(lin)
        keys_out = np.empty((n, self._compiled.n_external), _INT64) if keys else None
        sel_out = [np.empty((n, r), _INT64) for r in self._ranks] if selectors else None
        if isinstance(lin, range):
            if n and (lin.start < 0 or lin.stop > self.size):
                self._out_of_range(lin.start if lin.start < 0 else lin.stop - 1)
            self._compiled.fill_range(lin.start, lin.stop, self.shape, keys_out, sel_out)
        else:
            self._compiled.fill_array(lin, self.shape, keys_out, sel_out)
        return n, keys_out, sel_out

    def output_keys(self, linear: Any) -> np.ndarray:
        """Output multi-indices, int64 of shape ``(len(linear), n_external)``.

        >>> from types import SimpleNamespace as NS
        >>> spec = NS(inputs=(NS(name="x", axes=("i", "j")),), external_indices=("i", "j"))
        >>> IndexPlan(spec, (2, 3)).output_keys([5, 0]).tolist()
        [[1, 2], [0, 0]]
        """
        _, keys, _ = self._fill(linear, keys=True, selectors=False)
        return keys

    def input_selectors(self, linear: Any) -> dict[str, np.ndarray]:
        """``{input name: int64 array (len(linear), rank)}``, -1 for ``:`` slots.

        >>> from types import SimpleNamespace as NS
        >>> spec = NS(inputs=(NS(name="x", axes=(None, "j")),), external_indices=("j",))
        >>> IndexPlan(spec, (3,)).input_selectors(range(3))["x"].tolist()
        [[-1, 0], [-1, 1], [-1, 2]]
        """
        _, _, selectors = self._fill(linear, keys=False, selectors=True)
        return dict(zip(self.input_names, selectors))  # noqa: B905 (same length by construction)

    def keys_and_selectors(self, linear: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`output_keys` and :meth:`input_selectors` computed in one pass.

        >>> from types import SimpleNamespace as NS
        >>> spec = NS(inputs=(NS(name="x", axes=("j",)),), external_indices=("j",))
        >>> keys, sel = IndexPlan(spec, (3,)).keys_and_selectors([2])
        >>> keys.tolist(), sel["x"].tolist()
        ([[2]], [[2]])
        """
        _, keys, selectors = self._fill(linear, keys=True, selectors=True)
        return keys, dict(zip(self.input_names, selectors))  # noqa: B905

    def input_keys_many(self, linear: Any) -> list[dict[str, tuple[int | slice, ...]]]:
        """One ``input_keys`` dict per linear index (ints and ``slice(None)``); for small use.

        >>> from types import SimpleNamespace as NS
        >>> spec = NS(inputs=(NS(name="x", axes=("i", None)),), external_indices=("i",))
        >>> IndexPlan(spec, (2,)).input_keys_many(range(2))
        [{'x': (0, slice(None, None, None))}, {'x': (1, slice(None, None, None))}]
        """
        lin = self._linear(linear)
        if isinstance(lin, range):
            if len(lin) and (lin.start < 0 or lin.stop > self.size):
                self._out_of_range(lin.start if lin.start < 0 else lin.stop - 1)
            values: Any = lin
        else:
            values = lin.tolist()
        input_keys = self._compiled.input_keys
        shape = self.shape
        return [input_keys(shape, n) for n in values]
