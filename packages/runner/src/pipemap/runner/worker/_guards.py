"""Checks of what a function returned, so a wrong structure fails at the element that made it.

A multi-output function (``output_name=("a", "b")``, no ``output_picker``) must return a
sequence of exactly one value per output; a function with internal axes (``x[i] -> y[i, j]``)
must return values spanning the declared internal shape. :func:`guard_for` gives the compiled
call these checks only for functions that need them (other calls are compiled unchanged),
so the error goes through the usual per-element path: raised with a note naming the element
(``error_handling="raise"``) or stored as that element's ``ErrorSnapshot`` (``"continue"``).
The common cases cost one ``len`` per element, inlined in the compiled call.

>>> from pipemap.runner import PipeFunc
>>> f = PipeFunc(lambda x: (x, x, x), ("a", "b"))
>>> str(output_count_error(f, (1, 2, 3)))[:60]
"`<lambda>` has 2 outputs ('a', 'b') but returned a tuple of "
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipemap.mapspec import UNKNOWN
from pipemap.runner.worker._errors import error_types
from pipemap.runner.worker._ragged_views import row_error
from pipemap.storage import leading_shape

if TYPE_CHECKING:
    from pipemap.runner.model._pipefunc import PipeFunc


def describe_returned(value: Any) -> str:
    """``"a tuple of length 3"``, ``"an int (not a sequence)"``, ``"an ndarray of shape (2, 3)"``.

    >>> describe_returned([1, 2]), describe_returned(5)
    ('a list of length 2', 'an int (not a sequence)')
    """
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and not hasattr(value, "done_mask"):
        return f"{article} {name} of shape {shape}"
    try:
        n = len(value)
    except TypeError:
        return f"{article} {name} (not a sequence)"
    return f"{article} {name} of length {n}"


def output_count_error(pf: PipeFunc, value: Any) -> ValueError | None:
    """The error for a multi-output ``pf`` (no ``output_picker``) returning ``value``, or None
    when ``value`` holds one item per output."""
    names = pf.output_names
    try:
        if len(value) == len(names):
            value[len(names) - 1]  # indexable, like the picker will index it
            return None
    except Exception:  # noqa: BLE001, S110 - any failure means: not a sequence of that length
        pass
    return ValueError(
        f"`{pf.__name__}` has {len(names)} outputs {tuple(names)!r} but returned {describe_returned(value)};"
        f" return one value per output (a tuple of length {len(names)}) or set an `output_picker`."
    )


def internal_shape_error(
    pf: PipeFunc, output: str, got: tuple[int, ...] | None, expected: tuple[int | str, ...], value: object
) -> ValueError:
    """The error for an element of ``output`` spanning ``got`` instead of the internal shape
    (pipefunc's wording, with the value described when it has no such axes)."""
    returned = f"Output shape {tuple(got)}" if got is not None else f"Output {describe_returned(value).split(' ', 1)[1]}"
    return ValueError(
        f"{returned} of function '{pf.__name__}' (output '{output}') does not match the expected"
        f" internal shape {tuple(expected)} used in the `mapspec` '{pf.mapspec}'. This error typically"
        " occurs when a `PipeFunc` returns values with inconsistent shapes across different"
        " invocations. Ensure that the output shape is consistent for all inputs"
        f" (`{pf.__name__}` must return a value spanning the internal axes for every element)."
    )


def inconsistent_internal_error(pf: PipeFunc, elements: str, got: tuple[int, ...] | None, first: tuple[int, ...]) -> ValueError:
    """Two worker processes fixed the ``"?"`` internal sizes of ``pf``'s outputs differently:
    ``elements`` span ``got``, earlier ones ``first``."""
    error = internal_shape_error(pf, pf.output_names[0], got, tuple(first), None)
    error.add_note(f"(elements {elements} of `{pf.output_names[0]}`; earlier elements span {tuple(first)})")
    return error


def rows_guard(pf: PipeFunc, inner: tuple[int, Callable[[Any], Any]] | None) -> tuple[int, Callable[[Any], Any]]:
    """The guard of a ragged producer (``text[i] -> words[i, j*]``): each output of every
    returned value must be a row (a list, tuple or 1-D array), checked after ``inner``."""
    names = pf.output_names
    multi = len(names) > 1
    errors = error_types()
    spec = pf.mapspec

    def check(value: Any) -> Any:
        if inner is not None:
            value = inner[1](value)
        if isinstance(value, errors):
            return value
        outputs = pf.pick_outputs(value) if multi else (value,)
        for name, item in zip(names, outputs):
            problem = row_error(item)
            if problem is not None:
                msg = (
                    f"`{pf.__name__}` makes the rows of the ragged output `{name}` (mapspec `{spec}`) but returned"
                    f" {problem}: return one sequence per element (a list, tuple or 1-D array, possibly empty)"
                )
                raise TypeError(msg)
        return value

    return -2, check


def _matches(got: tuple[int, ...] | None, expected: list[int | str]) -> bool:
    if got is None or len(got) != len(expected):
        return False
    return all(e == UNKNOWN or g == e for g, e in zip(got, expected))


def guard_for(pf: PipeFunc, n_internal: int, internal_shape: tuple[int | str, ...]) -> tuple[int, Callable[[Any], Any]] | None:
    """``(n, check)`` for :meth:`PipeFunc.compile_call`, or None when ``pf``'s values need no check.

    A returned value whose ``operator.length_hint`` equals ``n`` is accepted inline (a single
    output spanning one resolved internal axis of size ``n``, or ``n`` outputs); any other value
    goes through ``check(value)``, which returns it when its structure is right after all and
    raises a ``ValueError`` naming the function, the outputs and both shapes otherwise. ``"?"``
    entries of ``internal_shape`` take the first checked value's sizes, so every element that
    this process computes spans the same shape.
    """
    names = pf.output_names
    multi = pf.output_picker is None and isinstance(pf.output_name, tuple)
    if not multi and not n_internal:
        return None
    n_out = len(names)

    errors = error_types()
    expected = list(internal_shape) if n_internal else []

    def check(value: Any) -> Any:
        if isinstance(value, errors):
            return value
        if multi:
            error = output_count_error(pf, value)
            if error is not None:
                raise error
        if not n_internal:
            return value
        outputs = (value,) if n_out == 1 and not multi else (value if multi else pf.pick_outputs(value))
        for name, item in zip(names, outputs):
            got = leading_shape(item, n_internal)
            if not _matches(got, expected):
                raise internal_shape_error(pf, name, got, tuple(expected), item)
            if UNKNOWN in expected and got is not None:
                expected[:] = list(got)  # the first element fixes the unresolved sizes
        return value

    if multi and not n_internal:
        return n_out, check
    if n_internal == 1 and not multi and n_out == 1 and expected[0] != UNKNOWN:
        return int(expected[0]), check
    return -2, check  # never a length: every value is checked in full
