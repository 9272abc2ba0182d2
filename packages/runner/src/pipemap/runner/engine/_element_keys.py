"""Element keys: a 128-bit key per element of every output, derived from what determines its value.

key(element of ``f``) = mix(digest of ``f``, for each parameter in name order: the parameter's
name and either the keys of the mapped input at the element's position, the provenance key of
an upstream output, or the digest of a constant, default or bound value). A root input's key at
a position hashes its value there (vectorised for numeric arrays); an upstream output's key is
the key of the upstream element (provenance: computed values are never hashed); a reduced axis
(``:``) folds the keys along it in order; an internal axis mixes the call's key with the index.
Elements whose function or inputs cannot be hashed stably get the "no key" ``(0, 0)`` and
:attr:`KeyBook.unstable` names the culprits.

>>> import numpy as np
>>> from pipemap.runner import Pipeline, PipeFunc
>>> from pipemap.runner.engine._run_info import RunInfo
>>> def double(x):
...     return 2 * x
>>> p = Pipeline([PipeFunc(double, "y", mapspec="x[i] -> y[i]")])
>>> small = KeyBook(p, RunInfo.create(None, p, {"x": np.array([1.0, 2.0])}, storage=None))
>>> grown = KeyBook(p, RunInfo.create(None, p, {"x": np.array([1.0, 2.0, 3.0])}, storage=None))
>>> k2, k3 = small.element_keys(p["y"]), grown.element_keys(p["y"])
>>> bool((k2 == k3[:2]).all()), bool((k3[2] != k3[1]).any())
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from pipemap.mapspec import external_shape_from_mask, shape_is_resolved

from pipemap.runner.engine._key_digests import UnstableValueError, function_digest, value_digest
from pipemap.runner.engine._key_hash import combine, fold, from_digest, from_text, index_keys, positions_of_numeric

if TYPE_CHECKING:
    from pipemap.runner.engine._run_info import RunInfo
    from pipemap.runner.model._pipefunc import PipeFunc
    from pipemap.runner.model._pipeline import Pipeline

__all__ = ["KeyBook"]

_NUMERIC = "biuf"


class KeyBook:
    """The element keys of one run, computed on demand (once per output) from the run's record.

    ``element_keys(f)`` has the shape of ``f``'s external shape plus ``(2,)`` (one key per stored
    element; a single function: shape ``(2,)``); ``full_keys(name)`` the full shape of an array
    (internal axes included) plus ``(2,)``, as consumers index it.
    """

    def __init__(self, pipeline: Pipeline, info: RunInfo) -> None:
        self.pipeline = pipeline
        self.info = info
        self.values: Mapping[str, Any] = {**pipeline.defaults, **info.inputs}
        self.producer = {n: f for f in pipeline.functions for n in f.output_names}
        self.unstable: dict[str, str] = {}
        self._elements: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
        self._full: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._consts: dict[str, np.ndarray | None] = {}

    # ------------------------------------------------------------------ public
    def element_keys(self, f: PipeFunc) -> np.ndarray:
        """One key per element of ``f`` (``(0, 0)`` where none can be given)."""
        keys, ok = self._element_keys(f)
        if ok.all():
            return keys
        keys = keys.copy()
        keys[~ok] = 0
        return keys

    def full_keys(self, name: str) -> np.ndarray:
        """Keys of every position of array ``name`` (an input or an output), ``(0, 0)`` for none."""
        keys, ok = self._full_keys(name)
        if ok.all():
            return keys
        keys = keys.copy()
        keys[~ok] = 0
        return keys

    # ------------------------------------------------------------------ functions
    def _element_keys(self, f: PipeFunc) -> tuple[np.ndarray, np.ndarray]:
        cached = self._elements.get(f.output_name)
        if cached is not None:
            return cached
        f = self.producer.get(f.output_names[0], f)  # (the run may call a wrapped copy of it)
        spec = f.mapspec if f.mapspec is not None and f.mapspec.inputs else None
        if spec is not None:
            key = f.output_name
            ext = tuple(external_shape_from_mask(self.info.resolved_shapes[key], self.info.shape_masks[key]))
            out_axes = [a for a in spec.output_indices if a in spec.external_indices]
        else:
            ext, out_axes = (), []
        digest, reason = function_digest(f)
        if digest is not None and f.mapspec is not None and self.info.ragged.role_of(f.mapspec) is not None:
            digest, reason = None, "ragged axes (`*`) are not reused yet; their elements are computed"
        if digest is None:
            self.unstable[f"function `{f.__name__}`"] = reason
            result = (np.zeros((*ext, 2), dtype=np.uint64), np.zeros(ext, dtype=bool))
            self._elements[f.output_name] = result
            return result
        state = np.broadcast_to(from_digest(digest), (*ext, 2))
        ok = np.ones(ext, dtype=bool)
        mapped = set(spec.input_names) if spec is not None else set()
        for p in sorted(f.parameters):
            part, part_ok = self._parameter_keys(f, p, mapped, spec, out_axes, ext)
            if part is None:
                continue
            state = combine(state, combine(from_text(f"param:{p}"), part))
            ok = ok & part_ok
        result = (np.ascontiguousarray(np.broadcast_to(state, (*ext, 2))), np.broadcast_to(ok, ext))
        self._elements[f.output_name] = result
        return result

    def _parameter_keys(
        self, f: PipeFunc, p: str, mapped: set[str], spec: Any, out_axes: list[str], ext: tuple
    ) -> tuple[np.ndarray | None, np.ndarray | bool]:
        if p in f.bound:
            return self._const_key(f"bound value `{p}` of `{f.__name__}`", f.bound[p], None)
        if p in mapped:
            keys, ok = self._full_keys(p)
            axes = next(s.axes for s in spec.inputs if s.name == p)
            return _align(keys, ok, axes, out_axes, ext)
        if p in self.producer:
            keys, ok = self._full_keys(p) if self._is_array(p) else self._element_keys(self.producer[p])
            if keys.ndim > 1:  # a whole array as a constant: every key of it, in order
                flat, flat_ok = keys.reshape(-1, 2), ok.reshape(-1)
                return fold(flat, 0), bool(flat_ok.all())
            return combine(keys, from_text(f"out:{p}")), bool(np.all(ok))
        if p in self.values:
            return self._const_key(f"input `{p}`", self.values[p], p)
        if p in f.defaults:
            return self._const_key(f"default `{p}` of `{f.__name__}`", f.defaults[p], None)
        return None, True

    def _const_key(self, what: str, value: Any, cache: str | None) -> tuple[np.ndarray, bool]:
        if cache is not None and cache in self._consts:
            key = self._consts[cache]
        else:
            try:
                key = from_digest(value_digest(value))
            except UnstableValueError as exc:
                self.unstable[what] = str(exc)
                key = None
            if cache is not None:
                self._consts[cache] = key
        if key is None:
            return np.zeros(2, dtype=np.uint64), False
        return key, True

    # ------------------------------------------------------------------ arrays
    def _is_array(self, name: str) -> bool:
        return name in self.info.shape_masks

    def _full_keys(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self._full.get(name)
        if cached is not None:
            return cached
        if name in self.producer:
            result = self._output_keys(name)
        else:
            result = self._input_keys(name)
        self._full[name] = result
        return result

    def _output_keys(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        f = self.producer[name]
        call, ok = self._element_keys(f)
        keys = combine(call, from_text(f"out:{name}"))
        full = tuple(self.info.resolved_shapes[name])
        mask = tuple(self.info.shape_masks[name])
        if all(mask):
            return keys, ok
        if not shape_is_resolved(full):
            msg = f"internal error: the keys of `{name}` are needed before its shape {full} is known"
            raise RuntimeError(msg)
        # place the external axes, then mix in the index of every internal axis
        ext_pos = [k for k, m in enumerate(mask) if m]
        shape = [1] * len(mask)
        for k, n in zip(ext_pos, call.shape[:-1]):
            shape[k] = n
        state = keys.reshape((*shape, 2))
        ok_full = ok.reshape(shape)
        for k, m in enumerate(mask):
            if not m:
                idx_shape = [1] * len(mask)
                idx_shape[k] = int(full[k])
                state = combine(state, index_keys(int(full[k])).reshape((*idx_shape, 2)))
        state = np.ascontiguousarray(np.broadcast_to(state, (*full, 2)))
        return state, np.broadcast_to(ok_full, full)

    def _input_keys(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        value = self.values[name]
        shape = tuple(self.info.shapes[name])
        arr = value if isinstance(value, np.ndarray) else None
        if arr is None and isinstance(value, list | tuple | range) and len(shape) == 1:
            arr = _homogeneous_numeric(value)
        if arr is not None and arr.dtype.kind in _NUMERIC and tuple(arr.shape[: len(shape)]) == shape:
            return positions_of_numeric(arr, len(shape)), np.ones(shape, dtype=bool)
        keys = np.zeros((*shape, 2), dtype=np.uint64)
        ok = np.ones(shape, dtype=bool)
        culprit = None
        for index in np.ndindex(*shape):
            item = value
            try:
                if isinstance(value, np.ndarray):
                    item = value[index]
                else:
                    for i in index:
                        item = item.iloc[i] if hasattr(type(item), "iloc") else item[i]
                keys[index] = from_digest(value_digest(item))
            except (UnstableValueError, TypeError, IndexError, KeyError) as exc:
                ok[index] = False
                culprit = culprit or str(exc)
        if culprit is not None:
            self.unstable[f"input `{name}`"] = culprit
        return keys, ok


def _homogeneous_numeric(values: Any) -> np.ndarray | None:
    """A list of only ints or only floats as an array (keys as for the same numpy values)."""
    if not len(values):
        return None
    first = type(values[0])
    if first not in (int, float) or set(map(type, values)) != {first}:  # (a C loop: ~10x a generator)
        return None
    try:
        return np.array(values, dtype=np.int64 if first is int else np.float64)
    except OverflowError:
        return None


def _align(
    keys: np.ndarray, ok: np.ndarray, axes: tuple[str | None, ...], out_axes: list[str], ext: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """An input's keys (axes named by its mapspec slot) folded over ``:`` axes and laid out
    along the function's external output axes (broadcast over the others)."""
    for axis in reversed(range(len(axes))):  # fold the reduced axes, last first
        if axes[axis] is None:
            keys = fold(keys, axis)
            ok = np.asarray(ok.all(axis=axis))
    names = [a for a in axes if a is not None]
    order = sorted(range(len(names)), key=lambda k: out_axes.index(names[k]))
    keys = np.transpose(keys, (*order, len(names)))
    ok = np.transpose(ok, order)
    shape = [1] * len(out_axes)
    for k in order:
        shape[out_axes.index(names[k])] = keys.shape[order.index(k)]
    return keys.reshape((*shape, 2)), ok.reshape(shape)
