"""Retry policies: ``retries=`` on `PipeFunc`/`pipefunc` and as a run default (``run_map(retries=...)``).

A policy is validated where it is given (the constructor or the run call), before anything runs;
the worker (``pipemap.runner.worker._retry``) wraps a function's compiled call only when its
policy allows more than one attempt, so runs without retries keep their call path unchanged.

>>> RetryPolicy(attempts=3, on=("OSError",), backoff=0.5)
RetryPolicy(attempts=3, on=(<class 'OSError'>,), backoff=0.5, backoff_factor=1.0)
>>> as_policy(2, "retries").attempts  # an int counts the extra attempts
3
>>> RetryPolicy(attempts=-1)
Traceback (most recent call last):
...
ValueError: `attempts=-1` of the retry policy must be an int >= 1 (the first attempt included).
"""

from __future__ import annotations

import builtins
import importlib
import math
from dataclasses import dataclass, field

__all__ = ["RetryPolicy", "as_policy", "effective_policy"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often an element is tried and which failures are tried again.

    An element is retried where it ran, inside its chunk. A worker death counts as a failed attempt
    (retried when ``WorkerDiedError`` matches ``on``), and so does a ``timeout=``
    (``FunctionTimeoutError``, a ``TimeoutError``).

    Parameters
    ----------
    attempts : int, default 2
        The maximum number of attempts per element, the first one included (``1``: no retry).
    on : tuple of (exception type or str), default (Exception,)
        The exceptions that are retried: types, or names (a builtin such as ``"OSError"``, a pipemap
        error such as ``"WorkerDiedError"`` or ``"FunctionTimeoutError"``, or a dotted
        ``"module.Name"``).
    backoff : float, default 0.0
        Seconds to wait before the second attempt.
    backoff_factor : float, default 1.0
        The wait is multiplied by this before each later attempt.

    Examples
    --------
    >>> RetryPolicy(3, backoff=0.1, backoff_factor=2).delay(3)
    0.2
    >>> RetryPolicy(on=("NoSuchError",))
    Traceback (most recent call last):
    ...
    ValueError: Unknown exception type 'NoSuchError' in the retry policy's `on=`: use an exception class, a builtin name such as 'OSError', or a dotted 'module.Name'.
    """

    attempts: int = 2
    on: tuple[type[BaseException] | str, ...] = field(default=(Exception,))
    backoff: float = 0.0
    backoff_factor: float = 1.0

    def __post_init__(self) -> None:
        attempts = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            msg = f"`attempts={attempts!r}` of the retry policy must be an int >= 1 (the first attempt included)."
            raise ValueError(msg)
        on = self.on
        if isinstance(on, (str, type)):
            on = (on,)
        if not isinstance(on, (tuple, list)) or not on:
            msg = f"`on={self.on!r}` of the retry policy must be a non-empty tuple of exception types or names."
            raise ValueError(msg)
        object.__setattr__(self, "on", tuple(_exception_type(t) for t in on))
        for name in ("backoff", "backoff_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < math.inf):
                msg = f"`{name}={value!r}` of the retry policy must be a finite number of seconds >= 0."
                if name == "backoff_factor":
                    msg = f"`backoff_factor={value!r}` of the retry policy must be a finite number >= 0."
                raise ValueError(msg)
            object.__setattr__(self, name, float(value))

    def retries(self, exc: BaseException) -> bool:
        """True when ``exc`` is one of the retried types."""
        types = tuple(t for t in self.on if isinstance(t, type))
        if isinstance(exc, types):
            return True
        names = {t for t in self.on if isinstance(t, str)}
        return bool(names) and any(c.__name__ in names for c in type(exc).__mro__)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 for the first retry)."""
        if attempt <= 1 or not self.backoff:
            return 0.0
        return self.backoff * self.backoff_factor ** (attempt - 2)


#: pipemap's own errors, matched by class name (the model layer does not import the worker code)
_PIPEMAP_ERRORS = frozenset({"WorkerDiedError", "FunctionTimeoutError"})


def _exception_type(spec: object) -> type[BaseException] | str:
    if isinstance(spec, type) and issubclass(spec, BaseException):
        return spec
    if not isinstance(spec, str):
        msg = f"`on=` of the retry policy takes exception types or their names, got {spec!r}."
        raise ValueError(msg)
    if spec in _PIPEMAP_ERRORS:
        return spec
    found = getattr(builtins, spec, None) if "." not in spec else None
    if found is None and "." in spec:
        module, _, name = spec.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            found = None
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        msg = (
            f"Unknown exception type {spec!r} in the retry policy's `on=`: use an exception class,"
            " a builtin name such as 'OSError', or a dotted 'module.Name'."
        )
        raise ValueError(msg)
    return found


def as_policy(value: object, what: str) -> RetryPolicy | None:
    """``retries=`` as a policy: None stays None (not given), an int ``n`` >= 0 is ``n`` extra
    attempts of any ``Exception``; ``what`` names the argument in errors.

    >>> as_policy(0, "retries").attempts
    1
    >>> as_policy(-1, "`retries` of `f`")
    Traceback (most recent call last):
    ...
    ValueError: `retries` of `f` must be an int >= 0 (extra attempts) or a RetryPolicy, got -1.
    """
    if value is None or isinstance(value, RetryPolicy):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{what} must be an int >= 0 (extra attempts) or a RetryPolicy, got {value!r}."
        raise ValueError(msg)
    return RetryPolicy(attempts=value + 1)


def effective_policy(own: RetryPolicy | None, run_default: RetryPolicy | None) -> RetryPolicy | None:
    """The function's own policy wins over the run default; None when neither retries anything.

    >>> effective_policy(RetryPolicy(1), RetryPolicy(5)) is None
    True
    """
    policy = own if own is not None else run_default
    return policy if policy is not None and policy.attempts > 1 else None
