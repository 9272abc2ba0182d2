"""JSON-native copies of Python values, for records people and tools read (``pipemap errors --json``).

Numbers stay numbers, strings strings; numpy scalars become Python numbers, arrays, tuples and
sets lists, mappings objects with string keys; anything else its ``repr`` (the last resort).

>>> import numpy as np
>>> to_jsonable({"x": np.float64(1.9), "n": np.int64(3), "a": np.arange(3), "t": (1, "a"), "o": object})
{'x': 1.9, 'n': 3, 'a': [0, 1, 2], 't': [1, 'a'], 'o': "<class 'object'>"}
>>> to_jsonable(float("nan")), to_jsonable(np.bool_(True)), to_jsonable(1 + 2j)
('nan', True, '(1+2j)')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["to_jsonable"]

_MAX_ITEMS = 10_000


def to_jsonable(value: Any, depth: int = 0) -> Any:  # noqa: PLR0911 - one case per kind of value
    """``value`` as JSON-native data (see the module docstring); NaN and infinities as strings.

    Parameters
    ----------
    value : Any
        Any value (numpy scalars and arrays, tuples, dicts, ...).
    depth : int, default 0
        The nesting depth reached so far (deep values are cut off).

    Examples
    --------
    >>> to_jsonable({"a": float("nan"), "b": (1, 2), "c": np.int64(3)})
    {'a': 'nan', 'b': [1, 2], 'c': 3}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, (np.void, np.object_)):
        value = value.item()
        if isinstance(value, (bool, str)) or value is None:
            return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(value)
    if depth < 8:
        if isinstance(value, np.ndarray) and value.size <= _MAX_ITEMS:
            return [to_jsonable(v, depth + 1) for v in value.tolist()] if value.ndim else to_jsonable(value.item(), depth + 1)
        if isinstance(value, (list, tuple, set, frozenset)) and len(value) <= _MAX_ITEMS:
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            return [to_jsonable(v, depth + 1) for v in items]
        if isinstance(value, Mapping) and len(value) <= _MAX_ITEMS:
            return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the report
        return f"<{type(value).__name__}>"
