"""Scoped names (``"scope.name"``): flattening scope dicts and the renames that set a scope.

>>> flatten_scopes({"foo": {"a": 1}, "b": 2}, {"foo"})
{'foo.a': 1, 'b': 2}
>>> scope_renames({"a", "s.b"}, "t") == {"a": "t.a", "s.b": "t.b"}
True
"""

from __future__ import annotations

from collections.abc import Iterable, Set

__all__ = ["flatten_scopes", "scope_renames"]


def flatten_scopes(kwargs: dict[str, object], scopes: Set[str]) -> dict[str, object]:
    """``{"foo": {"a": 1}}`` becomes ``{"foo.a": 1}`` for every scope in ``scopes``; ``kwargs``
    itself when none of its keys is a scope."""
    if not scopes or not (scopes & kwargs.keys()):
        return kwargs
    flat: dict[str, object] = {}
    for k, v in kwargs.items():
        if k in scopes and isinstance(v, dict):
            flat.update({f"{k}.{n}": x for n, x in v.items()})
        else:
            flat[k] = v
    return flat


def scope_renames(names: Iterable[str], scope: str | None) -> dict[str, str]:
    """The renames that put each name in ``scope`` (``None``: out of any scope), changed names only."""
    renames = {}
    for name in names:
        bare = name.split(".", 1)[-1]
        new = bare if scope is None else f"{scope}.{bare}"
        if new != name:
            renames[name] = new
    return renames
