"""Resume checks (docs/behaviour.md §4.4): compare a new run with the one recorded in the run folder.

>>> tolerant_equal({"a": [1.0, 2.0]}, {"a": [1.0, 2.0 + 1e-12]})
True
>>> tolerant_equal(1, 1.0)
False
>>> tolerant_equal([1, 2], [1.0, 2.0]), tolerant_equal({"a": (True,)}, {"a": (1,)})
(False, False)

Element types count everywhere in Python containers (lists, tuples, dict values, sets, nested):
``1`` and ``1.0`` or ``True`` are different values, as in pipefunc's ``is_equal``. numpy arrays
compare by value whatever their dtypes (``array([1, 2])`` equals ``array([1.0, 2.0])``), again
as pipefunc 0.93 does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from pipemap.storage import RunRecord

ResumeValidation = Literal["auto", "strict", "skip"]


class _Undecidable(Exception):
    pass


#: element types whose ``==`` between two values of the same type is already tolerant equality
#: (floats: exact equality implies ``isclose``; NaN is not ``==`` itself and takes the slow path)
_LEAF_TYPES = frozenset({int, float, bool, complex, str, bytes, type(None)})


def _leaf_type(t: type) -> bool:
    return t in _LEAF_TYPES or issubclass(t, np.generic)


def _sequences_eq(a: list | tuple, b: list | tuple) -> bool:
    """Element-wise ``_eq`` with a C-speed fast path for flat sequences of simple values.

    Element types are compared pairwise first (``_eq`` is False for any pair of different
    types); when every element is a simple value, ``a == b`` then decides equality (it cannot
    confuse ``1`` with ``1.0`` any more). Containers nested inside are compared recursively.
    """
    types = list(map(type, a))
    if types != list(map(type, b)):
        return False
    if all(_leaf_type(t) for t in set(types)):
        try:
            if a == b:
                return True
        except Exception:  # noqa: BLE001, S110 - fall back to element-wise comparison
            pass
    return all(_eq(x, y) for x, y in zip(a, b))


def _sets_eq(a: set | frozenset, b: set | frozenset) -> bool:
    """Set equality that also requires each element's match to have the same type (recursively)."""
    if len(a) != len(b) or a != b:
        return False
    types = set(map(type, a))
    if len(types) == 1 and types == set(map(type, b)) and _leaf_type(next(iter(types))):
        return True  # one simple type on both sides: matching elements have that type
    matches = {y: y for y in b}
    return all(_eq(x, matches[x]) for x in a)


def _eq(a: Any, b: Any) -> bool:  # noqa: PLR0911
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list or kind is tuple:  # the common containers first: no ABC checks
        return len(a) == len(b) and _sequences_eq(a, b)
    if kind is int or kind is str or kind is bool:
        return a == b
    if isinstance(a, Mapping):
        if a.keys() != b.keys():
            return False
        return all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return False
        if a.dtype.kind in "fc":
            return bool(np.array_equal(a, b, equal_nan=True) or np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True))
        if a.dtype == object:
            return all(_eq(x, y) for x, y in zip(a.flat, b.flat))
        return bool(np.array_equal(a, b))
    if isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, str | bytes):
        return a == b
    if isinstance(a, range):
        return a == b
    if isinstance(a, Sequence):
        if len(a) != len(b):
            return False
        if isinstance(a, list | tuple):
            return _sequences_eq(a, b)
        return all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, set | frozenset):
        return _sets_eq(a, b)
    module = type(a).__module__ or ""
    if module.startswith(("pandas", "polars")) and hasattr(a, "equals"):
        return bool(a.equals(b))
    try:
        return bool(a == b)
    except Exception as e:
        raise _Undecidable(str(e)) from e


def tolerant_equal(a: object, b: object) -> bool | None:
    """Equality tolerant to float noise and NaN; None when it cannot be decided (a broken ``__eq__``)."""
    try:
        return _eq(a, b)
    except _Undecidable as e:
        warnings.warn(f"Could not compare values for equality: {e}", UserWarning, stacklevel=2)
        return None
    except Exception as e:  # noqa: BLE001 - any failure while comparing is undecidable
        warnings.warn(f"Could not compare values for equality: {e!r}", UserWarning, stacklevel=2)
        return None


def _undecidable(name: str, validation: ResumeValidation, reason: str | None = None) -> bool:
    """``strict``: refuse; ``auto``: say so and proceed (return False: stop checking)."""
    if validation == "strict":
        msg = reason or (
            f"Cannot compare {name} for equality ({name} may have broken `__eq__` implementations). "
            "Cannot use `resume=True` with `resume_validation='strict'`. "
            "Use `resume_validation='skip'` if you are certain they are identical."
        )
        raise ValueError(msg)
    print(
        f"Could not compare new `{name}` to `{name}` from previous run."
        " Proceeding with `resume=True`, hoping for the best.",
    )
    return False


def _changed_keys(new: Mapping[str, object], old: Mapping[str, object]) -> list[str]:
    return sorted(k for k in set(new) | set(old) if k not in new or k not in old or not tolerant_equal(new[k], old[k]))


def _refuse(name: str, changed: list[str]) -> None:
    detail = f" (changed: {', '.join(changed)})" if changed else ""
    msg = f"`{name}` do not match previous run, cannot use `resume=True`.{detail}"
    raise ValueError(msg)


def _check_dict(name: str, new: Mapping[str, object], old: Mapping[str, object], validation: ResumeValidation) -> bool:
    """Raise when unequal; return False when undecidable in ``auto`` mode (stop checking)."""
    result = tolerant_equal(new, old)
    if result is None:
        return _undecidable(name, validation)
    if not result:
        _refuse(name, [f"`{k}`" for k in _changed_keys(new, old)])
    return True


def _check_bound(
    new: Mapping[str, Mapping[str, object]],
    old: Mapping[str, Mapping[str, object]] | None,
    folder: object,
    validation: ResumeValidation,
) -> bool:
    """Bound values per function (keyed by output name) against the recorded ones.

    A previous run that recorded none (written by pipefunc or an older pipemap) cannot be
    verified: ``strict`` refuses, ``auto`` proceeds (with a notice when this
    pipeline binds values, since the old run's could differ). Returns True when verified equal.
    """
    if old is None:
        if validation == "strict":
            msg = (
                f"The previous run in `{folder}` does not record `bound` values (it was written by pipefunc or"
                " an older pipemap), so they cannot be verified. Cannot use `resume=True` with"
                " `resume_validation='strict'`. Use `resume_validation='auto'` (or 'skip') if you are certain"
                " they are identical, or rerun with `resume=False`."
            )
            raise ValueError(msg)
        if new:
            _undecidable("bound", validation)
        return False
    result = tolerant_equal(new, old)
    if result is None:
        return _undecidable("bound", validation)
    if not result:
        changed = []
        for output in sorted(set(new) | set(old)):
            changed += [f"`{p}` of `{output}`" for p in _changed_keys(new.get(output, {}), old.get(output, {}))]
        _refuse("bound", changed)
    return True


def compare_to_previous(
    old: RunRecord,
    *,
    error_handling: str,
    internal_shapes: dict | None,
    mapspecs_as_strings: list[str],
    shapes: dict,
    inputs: Mapping[str, object],
    defaults: Mapping[str, object],
    resume_validation: ResumeValidation,
    bound: Mapping[str, Mapping[str, object]] | None = None,
) -> bool:
    """Refuse to resume ``old`` (a loaded run record) when the new run differs (docs/behaviour.md §4.4 order,
    then the functions' ``bound`` values, ``{output name: {parameter: value}}``).

    Returns True when inputs, defaults and bound values were verified equal (their files need no
    rewrite).
    """
    if error_handling != old.error_handling:
        msg = (
            f"`error_handling='{error_handling}'` does not match previous run "
            f"(`error_handling='{old.error_handling}'`), cannot use `resume=True`. "
            "Resuming with a different error handling mode could lead to incorrect results."
        )
        raise ValueError(msg)
    if _normalize_internal(internal_shapes) != _normalize_internal(old.internal_shapes):
        msg = "Internal shapes do not match previous run, cannot use `resume=True`."
        raise ValueError(msg)
    if list(mapspecs_as_strings) != list(old.mapspecs_as_strings):
        msg = "`MapSpec`s do not match previous run, cannot use `resume=True`."
        raise ValueError(msg)
    old_shapes = {k: tuple(v) for k, v in old.shapes.items()}
    new_shapes = {k: tuple(v) for k, v in shapes.items()}
    if new_shapes != old_shapes:
        diff = sorted(str(k) for k in set(new_shapes) | set(old_shapes) if new_shapes.get(k) != old_shapes.get(k))
        msg = f"Shapes do not match previous run, cannot use `resume=True`. Changed: {', '.join(diff)}."
        raise ValueError(msg)
    if resume_validation == "skip":
        return False
    verified = _check_dict("inputs", inputs, old.inputs, resume_validation) and _check_dict(
        "defaults", defaults, old.defaults, resume_validation
    )
    old_bound = getattr(old, "bound", None)
    bound_verified = _check_bound(bound or {}, old_bound, getattr(old, "run_folder", None), resume_validation)
    return verified and bound_verified


def _normalize_internal(shapes: dict | None) -> dict | None:
    if not shapes:
        return None
    return {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in shapes.items()}
