"""Exceptions of pipemap.mapspec; each also is the builtin kind callers already catch."""

from __future__ import annotations

__all__ = ["MapSpecError", "ShapeError"]


class MapSpecError(ValueError):
    """A mapspec string or spec is malformed or inconsistent.

    >>> issubclass(MapSpecError, ValueError)
    True
    """


class ShapeError(ValueError):
    """Array shapes disagree with a mapspec (rank, dimension sizes, internal shapes).

    >>> issubclass(ShapeError, ValueError)
    True
    """
