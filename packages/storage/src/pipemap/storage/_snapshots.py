"""Error records stored in place of results when ``error_handling="continue"`` (docs/behaviour.md §4.8).

They are persisted like any element, so they must unpickle anywhere: the function (and the
exception) are kept as cloudpickle blobs and only unpickled on access (``.function``,
``.exception``), so loading a run folder never needs the user's module.

>>> def f(x):
...     raise ValueError(f"bad {x}")
>>> try:
...     f(3)
... except ValueError as e:
...     snap = ErrorSnapshot(f, e, kwargs={"x": 3})
>>> snap.exception_type, snap.message, snap.kwargs
('ValueError', 'bad 3', {'x': 3})
"""

from __future__ import annotations

import datetime as _dt
import functools
import getpass
import os
import pickle
import platform
import socket
import sys
import traceback as _traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cloudpickle
import numpy as np

__all__ = ["ErrorInfo", "ErrorSnapshot", "PropagatedErrorSnapshot"]

Reason = Literal["input_is_error", "array_contains_errors"]


def _timestamp() -> str:
    return _dt.datetime.now().isoformat()


@functools.cache
def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database in some containers
        return "unknown"


@functools.cache
def _machine() -> str:
    return platform.node()


@functools.cache
def _local_ip() -> str:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def _by_value_candidate(module_name: str | None) -> Any:
    """The user module of a function if it should be pickled by value, else None."""
    if not module_name or module_name == "__main__":
        return None
    top = module_name.partition(".")[0]
    if top in sys.stdlib_module_names or top in {"builtins", "numpy", "pipemap", "cloudpickle"}:
        return None
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None) or ""
    if not file or "site-packages" in file or "dist-packages" in file:
        return None
    return module


def pickle_function(function: Any) -> bytes:
    """cloudpickle ``function``, by value when it (or the function a ``PipeFunc`` wraps) lives in
    a user (non-installed) module.

    >>> pickle.loads(pickle_function(len))("ab")
    2
    """
    inner = getattr(function, "func", None)  # a PipeFunc (or partial): its wrapped function's module
    module = _by_value_candidate(getattr(inner if callable(inner) else function, "__module__", None))
    if module is not None and module.__name__ in getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", ()):
        module = None  # registered by an enclosing dump (a task holding snapshots): leave it registered
    if module is not None:
        try:
            cloudpickle.register_pickle_by_value(module)
        except (ValueError, TypeError):
            module = None
    try:
        return cloudpickle.dumps(function)
    finally:
        if module is not None:
            cloudpickle.unregister_pickle_by_value(module)


_FUNCTION_BLOBS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def _function_blob(function: Any) -> bytes:
    """``pickle_function(function)``, computed once per live function (snapshots come in bulk)."""
    try:
        blob = _FUNCTION_BLOBS.get(function)
    except TypeError:  # not weak-referenceable or unhashable
        return pickle_function(function)
    if blob is None:
        blob = pickle_function(function)
        _FUNCTION_BLOBS[function] = blob
    return blob


def _try_pickle(obj: Any) -> bytes | None:
    try:
        return cloudpickle.dumps(obj)
    except Exception:  # noqa: BLE001 - unpicklable exception: keep type name and message only
        return None


class ErrorSnapshot:
    """A failed call: the function, its arguments and the exception, with context.

    Stored in place of an element's value with ``error_handling="continue"``. Attributes:
    ``function_name``, ``exception_type``, ``message``, ``args``, ``kwargs``, ``traceback`` (str),
    ``timestamp``, ``user``, ``machine``, ``ip_address``, ``current_directory``; ``function`` and
    ``exception`` are unpickled lazily.

    Parameters
    ----------
    function : callable
        The function that failed.
    exception : BaseException
        The exception it raised.
    args : tuple, optional
        The positional arguments of the call.
    kwargs : dict, optional
        The keyword arguments of the call.

    Examples
    --------
    >>> snap = ErrorSnapshot(int, ValueError("no"), args=("x",))
    >>> snap.reproduce()
    Traceback (most recent call last):
    ...
    ValueError: invalid literal for int() with base 10: 'x'
    """

    def __init__(
        self,
        function: Callable[..., Any],
        exception: BaseException,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.function_name: str = getattr(function, "__qualname__", "") or getattr(function, "__name__", repr(function))
        self.function_module: str = getattr(function, "__module__", None) or ""
        self._function_blob: bytes | None = _function_blob(function)
        self._function: Any = function
        self.exception_type: str = type(exception).__name__
        self.message: str = str(exception)
        self.traceback: str = "".join(
            _traceback.format_exception(type(exception), exception, exception.__traceback__)
        )
        self._exception_blob: bytes | None = _try_pickle(exception)
        self._exception: BaseException | None = exception
        self.args: tuple[Any, ...] = tuple(args)
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.timestamp: str = _timestamp()
        self.user: str = _user()
        self.machine: str = _machine()
        self.ip_address: str = _local_ip()
        self.current_directory: str = os.getcwd()

    @property
    def function(self) -> Callable[..., Any]:
        """The failed function (unpickled on first access)."""
        if self._function is None:
            assert self._function_blob is not None
            self._function = pickle.loads(self._function_blob)
        return self._function

    @property
    def exception(self) -> BaseException:
        """The exception (unpickled on first access; a ``RuntimeError`` stand-in if it was unpicklable)."""
        if self._exception is None:
            if self._exception_blob is not None:
                try:
                    self._exception = pickle.loads(self._exception_blob)
                except Exception:  # noqa: BLE001
                    self._exception_blob = None
            if self._exception is None:
                self._exception = RuntimeError(f"{self.exception_type}: {self.message}")
        return self._exception

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_function"] = None
        state["_exception"] = None
        state["args"] = cloudpickle.dumps(self.args)
        state["kwargs"] = cloudpickle.dumps(self.kwargs)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.args = pickle.loads(state["args"])
        self.kwargs = pickle.loads(state["kwargs"])

    def reproduce(self) -> Any:
        """Call the function again with the stored arguments (normally raising the same error)."""
        return self.function(*self.args, **self.kwargs)

    def save_to_file(self, filename: str | Path) -> None:
        """Pickle this snapshot to ``filename``."""
        Path(filename).write_bytes(cloudpickle.dumps(self))

    @classmethod
    def load_from_file(cls, filename: str | Path) -> ErrorSnapshot:
        """Load a snapshot written by :meth:`save_to_file`."""
        return pickle.loads(Path(filename).read_bytes())

    def __repr__(self) -> str:
        return f"ErrorSnapshot({self.function_name!r}, {self.exception_type}: {self.message})"

    def __str__(self) -> str:
        args = ", ".join(repr(a) for a in self.args)
        kwargs = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return (
            "ErrorSnapshot:\n"
            f"- Function: {self.function_module}.{self.function_name}\n"
            f"- Exception type: {self.exception_type}\n"
            f"- Exception message: {self.message}\n"
            f"- Args: ({args})\n"
            f"- Kwargs: {{{kwargs}}}\n"
            f"- Timestamp: {self.timestamp}\n"
            f"- User: {self.user}\n"
            f"- Machine: {self.machine}\n"
            f"- IP address: {self.ip_address}\n"
            f"- Current directory: {self.current_directory}\n"
            "Call `.reproduce()` to raise it again; the full traceback is in `.traceback`."
        )


@dataclass
class ErrorInfo:
    """What is wrong with one argument of a skipped call.

    Usually built with :meth:`ErrorInfo.from_full_error` or :meth:`ErrorInfo.from_partial_error`.

    Parameters
    ----------
    type : {"full", "partial"}
        ``"full"``: the argument itself is an error; ``"partial"``: an array containing errors.
    error : ErrorSnapshot or PropagatedErrorSnapshot, optional
        The error (``type="full"``).
    shape : tuple of int, optional
        The array's shape (``type="partial"``).
    error_indices : tuple of numpy.ndarray, optional
        Where the array holds errors, as from ``np.nonzero`` (``type="partial"``).
    error_count : int, optional
        How many errors the array holds (``type="partial"``).

    Examples
    --------
    >>> ErrorInfo.from_partial_error((3,), (np.array([1]),), 1).type
    'partial'
    """

    type: Literal["full", "partial"]
    error: ErrorSnapshot | PropagatedErrorSnapshot | None = None
    shape: tuple[int, ...] | None = None
    error_indices: tuple[np.ndarray, ...] | None = None
    error_count: int | None = None

    @classmethod
    def from_full_error(cls, error: ErrorSnapshot | PropagatedErrorSnapshot) -> ErrorInfo:
        """Info for an argument that is entirely an error."""
        return cls(type="full", error=error)

    @classmethod
    def from_partial_error(
        cls, shape: tuple[int, ...], error_indices: tuple[np.ndarray, ...], error_count: int
    ) -> ErrorInfo:
        """Info for an array argument that contains some errors."""
        return cls(type="partial", shape=shape, error_indices=error_indices, error_count=error_count)


@dataclass
class PropagatedErrorSnapshot:
    """A call that was skipped because its inputs held errors.

    Parameters
    ----------
    error_info : dict of str to ErrorInfo
        What is wrong with each argument that holds errors, by parameter name.
    skipped_function : callable
        The function that was not called.
    reason : {"input_is_error", "array_contains_errors"}
        ``"input_is_error"``: some argument is itself an error; ``"array_contains_errors"``: only
        arrays containing errors.
    attempted_kwargs : dict
        The keyword arguments the call would have received.
    timestamp : str, optional
        When the call was skipped (default: now).

    Examples
    --------
    >>> root = ErrorSnapshot(len, TypeError("x"))
    >>> p = PropagatedErrorSnapshot({"a": ErrorInfo.from_full_error(root)}, len, "input_is_error", {})
    >>> p.get_root_causes() == [root]
    True
    """

    error_info: dict[str, ErrorInfo]
    skipped_function: Callable[..., Any]
    reason: Reason
    attempted_kwargs: dict[str, Any]
    timestamp: str = field(default_factory=_timestamp)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        function = state.pop("skipped_function", None)
        blob = state.pop("_skipped_blob", None)
        state["_skipped_blob"] = blob if function is None else pickle_function(function)
        state["_skipped_name"] = self.function_name
        state["attempted_kwargs"] = cloudpickle.dumps(self.attempted_kwargs)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["attempted_kwargs"] = pickle.loads(state["attempted_kwargs"])
        self.__dict__.update(state)

    def __getattr__(self, name: str) -> Any:
        # Lazily unpickle the skipped function after loading.
        if name == "skipped_function":
            blob = self.__dict__.get("_skipped_blob")
            if blob is None:
                raise AttributeError(name)
            function = pickle.loads(blob)
            self.__dict__["skipped_function"] = function
            return function
        raise AttributeError(name)

    @property
    def function_name(self) -> str:
        """Name of the skipped function (available without unpickling it)."""
        if "skipped_function" in self.__dict__:
            f = self.__dict__["skipped_function"]
            return getattr(f, "__name__", None) or str(f)
        return self.__dict__.get("_skipped_name", "?")

    def get_root_causes(self) -> list[ErrorSnapshot]:
        """The original :class:`ErrorSnapshot`s behind full-error inputs (empty for partial ones)."""
        causes: list[ErrorSnapshot] = []
        for info in self.error_info.values():
            if info.type != "full" or info.error is None:
                continue
            if isinstance(info.error, PropagatedErrorSnapshot):
                causes.extend(info.error.get_root_causes())
            else:
                causes.append(info.error)
        return causes

    def __repr__(self) -> str:
        return f"PropagatedErrorSnapshot({self.function_name!r}, reason={self.reason!r})"

    def __str__(self) -> str:
        parts = [
            f"{name} (complete failure)" if info.type == "full" else f"{name} ({info.error_count} errors in array)"
            for name, info in self.error_info.items()
        ]
        return (
            f"PropagatedErrorSnapshot: Function '{self.function_name}' was skipped\n"
            f"Reason: {self.reason}\n"
            f"Errors in: {', '.join(parts)}"
        )
