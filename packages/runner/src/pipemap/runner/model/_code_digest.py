"""`code_digest(callable)`: a 16-byte digest of what a callable's code computes, stable across
processes and sessions.

A Python function contributes its module and qualified name, its bytecode (``co_code``), its
constants (nested code objects followed recursively), names, argument layout, defaults and
closure cell values (callables in cells followed, other values via `stable_digest`). Functions
and classes of the same module that the body uses by global name are followed too (recursively,
with a cycle guard), and so are that module's immutable constants (numbers, strings, tuples,
enums); other globals (modules, mutable containers, objects of other modules) are not. A list,
dict, set, bytearray or deque in a closure cell, an instance attribute or a helper's default
counts by its type only: functions fill such containers as they run (logs, caches, call
counters), so their content is state, not a setting (pass a value that should be checked as a
bound value, a default or an input of the `PipeFunc`).
``functools.partial``: the function and its arguments; a bound method: the function and its
instance's state; a callable instance: its class's methods and its state; a class: its methods;
a C function (``math.sqrt``, a numpy ufunc): its qualified name. A callable with a
``__pipefunc_hash__()`` method gives its own fingerprint (as in pipefunc). Anything that cannot
be read stably raises `UnstableValueError` saying where (e.g. "closure variable `s`").

Limits: functions of other modules (``from helpers import g``) count by name only, so an edit
there is not seen; the Python version is part of every digest (bytecode differs between them).

>>> def f(x):
...     return x + 1
>>> def g(x):
...     return x + 2
>>> code_digest(f) == code_digest(f), code_digest(f) == code_digest(g)
(True, False)
"""

from __future__ import annotations

import collections
import enum
import functools
import sys
import types
from hashlib import blake2b
from typing import Any

from pipemap.runner.model._value_hash import DIGEST_SIZE, UnstableValueError, stable_digest, type_name

__all__ = ["code_digest"]

_PERSON = b"pipemap-code-1"
_CONSTANT_TYPES = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, enum.Enum)
#: containers a function's code may fill as it runs (a log, a cache, a call counter): in closures,
#: instance state and helper defaults they count by type only, or every call would change the code
_STATE_TYPES = (list, dict, set, bytearray, collections.deque)


def code_digest(func: object, *, own_defaults: bool = True) -> bytes:
    """The digest of ``func``'s code (see the module docstring). ``own_defaults=False`` leaves
    out a plain function's own ``__defaults__``/``__kwdefaults__`` (a `PipeFunc` digests its
    defaults by name instead).

    >>> import functools, math
    >>> code_digest(functools.partial(max, 1)) == code_digest(functools.partial(max, 2))
    False
    >>> len(code_digest(math.sqrt))
    16
    """
    h = blake2b(digest_size=DIGEST_SIZE, person=_PERSON)
    h.update(f"{sys.version_info[0]}.{sys.version_info[1]}".encode())
    _Walker(h).callable(func, own_defaults=own_defaults)
    return h.digest()


class _Walker:
    """Feeds one callable's code into ``h``; ``seen`` holds the functions, code objects and
    classes already fed (a repeat writes a reference, which also stops recursion cycles)."""

    def __init__(self, h: Any) -> None:
        self.h = h
        self.seen: dict[int, int] = {}
        self._keep: list[object] = []  # the objects whose ids are in `seen` stay alive

    def tag(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self.h.update(len(data).to_bytes(4, "little") + data)

    def once(self, obj: object) -> bool:
        """True the first time ``obj`` is fed; afterwards writes its reference number."""
        number = self.seen.get(id(obj))
        if number is not None:
            self.tag(f"ref:{number}")
            return False
        self.seen[id(obj)] = len(self.seen)
        self._keep.append(obj)
        return True

    # -- callables ----------------------------------------------------------------------------
    def callable(self, obj: Any, *, own_defaults: bool = True) -> None:
        own = getattr(obj, "__pipefunc_hash__", None)
        if callable(own) and not isinstance(obj, type):
            self.tag("custom:" + str(own()))
        elif isinstance(obj, functools.partial):
            self.tag("partial")
            self.callable(obj.func)
            self.value(obj.args, "the arguments of a `functools.partial`", state=False)
            self.value(dict(obj.keywords), "the keywords of a `functools.partial`", state=False)
        elif isinstance(obj, types.FunctionType):
            self.function(obj, own_defaults)
        elif isinstance(obj, types.MethodType):
            self.tag("method")
            self.callable(obj.__func__)
            owner = obj.__self__
            if isinstance(owner, type):
                self.cls(owner)
            else:
                self.state(owner)
        elif isinstance(obj, type):
            self.cls(obj)
        elif isinstance(getattr(type(obj), "__call__", None), types.FunctionType):
            self.tag("instance")
            self.cls(type(obj))
            self.state(obj)
        else:
            self.c_callable(obj)

    def c_callable(self, obj: Any) -> None:
        """A callable implemented in C (builtins, ufuncs, cython): by its qualified name."""
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not isinstance(name, str):
            raise UnstableValueError(obj, "a callable without a qualified name")
        self.tag(f"c:{type_name(type(obj))}:{getattr(obj, '__module__', None)}.{name}")
        owner = getattr(obj, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType | type):
            self.value(owner, f"the object `{name}` is bound to")

    def function(self, func: types.FunctionType, own_defaults: bool) -> None:
        if not self.once(func):
            return
        self.tag(f"function:{func.__module__}.{func.__qualname__}")
        self.code(func.__code__)
        if own_defaults:
            for i, default in enumerate(func.__defaults__ or ()):
                self.value(default, f"default {i} of `{func.__qualname__}`")
            for name, default in sorted((func.__kwdefaults__ or {}).items()):
                self.tag(name)
                self.value(default, f"the keyword default `{name}` of `{func.__qualname__}`")
        for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
            try:
                content = cell.cell_contents
            except ValueError:  # a cell not filled yet
                self.tag("empty-cell")
                continue
            self.value(content, f"closure variable `{name}`")
        self.globals(func)

    def globals(self, func: types.FunctionType) -> None:
        """The same module's functions, classes and immutable constants the code names."""
        space = func.__globals__
        module = func.__module__
        for name in _global_names(func.__code__):
            if name not in space:
                continue
            obj = space[name]
            if isinstance(obj, types.FunctionType | type):
                if getattr(obj, "__module__", None) == module:
                    self.tag(f"global:{name}")
                    self.callable(obj)
            elif isinstance(obj, _CONSTANT_TYPES):
                try:
                    digest = stable_digest(obj)
                except UnstableValueError:
                    continue
                self.tag(f"global:{name}")
                self.h.update(digest)

    def code(self, code: types.CodeType) -> None:
        if not self.once(code):
            return
        self.tag(f"code:{code.co_name}")
        self.h.update(len(code.co_code).to_bytes(8, "little") + code.co_code)
        layout = (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
        self.h.update(stable_digest((layout, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)))
        self.h.update(len(code.co_consts).to_bytes(8, "little"))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const)
            else:
                self.h.update(stable_digest(const))

    def cls(self, cls: type) -> None:
        """A class: its name, then (for Python classes) its methods, constants and bases."""
        if not self.once(cls):
            return
        self.tag(f"class:{type_name(cls)}")
        for name, attr in sorted(vars(cls).items()):
            if isinstance(attr, staticmethod | classmethod):
                attr = attr.__func__
            if isinstance(attr, property):
                for part, fn in (("get", attr.fget), ("set", attr.fset)):
                    if isinstance(fn, types.FunctionType):
                        self.tag(f"{name}.{part}")
                        self.function(fn, own_defaults=True)
            elif isinstance(attr, types.FunctionType):
                self.tag(name)
                self.function(attr, own_defaults=True)
            elif isinstance(attr, _CONSTANT_TYPES):
                try:
                    digest = stable_digest(attr)
                except UnstableValueError:
                    continue
                self.tag(name)
                self.h.update(digest)
        for base in cls.__bases__:
            if base is not object:
                self.cls(base)

    # -- values -------------------------------------------------------------------------------
    def value(self, value: object, where: str, *, state: bool = True) -> None:
        """A value the code uses: its `stable_digest`, else (a callable) its code; ``state``:
        a mutable container counts by its type only (see the module docstring)."""
        if state and isinstance(value, _STATE_TYPES):
            self.tag(f"state-container:{type_name(type(value))}")
            return
        if isinstance(value, types.ModuleType):
            self.tag(f"module:{value.__name__}")
            return
        try:
            digest = stable_digest(value)
        except UnstableValueError as e:
            if not callable(value):
                raise e.within(where) from None
            self.tag("callable-value")
            self.callable(value)
            return
        self.h.update(digest)

    def state(self, obj: object) -> None:
        """An instance's attributes (``__dict__`` and ``__slots__``), by name."""
        cls_name = type_name(type(obj))
        try:  # a value type (a dataclass, a namedtuple) is its own state
            self.h.update(stable_digest(obj))
            return
        except UnstableValueError:
            pass
        attrs = dict(getattr(obj, "__dict__", {}))
        for klass in type(obj).__mro__:
            slots = vars(klass).get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot not in ("__dict__", "__weakref__") and hasattr(obj, slot):
                    attrs[slot] = getattr(obj, slot)
        if not attrs and not hasattr(obj, "__dict__"):
            raise UnstableValueError(obj).within(f"the `{cls_name}` instance")
        self.tag(f"state:{len(attrs)}")
        for name in sorted(attrs):
            self.tag(name)
            self.value(attrs[name], f"attribute `{name}` of the `{cls_name}` instance")


def _global_names(code: types.CodeType) -> list[str]:
    """The names a code object (and the code nested in it) loads, first occurrence first."""
    names: dict[str, None] = dict.fromkeys(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.update(dict.fromkeys(_global_names(const)))
    return list(names)

