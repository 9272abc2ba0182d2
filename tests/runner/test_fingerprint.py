"""`function_fingerprint`: every edit that can change a function's values changes its
fingerprint (body, a helper it calls, a module constant, defaults, bound values, closure values,
renames, partial arguments, instance state), cosmetic settings do not, the same source gives the
same fingerprint in another process, and what cannot be read stably makes it untrusted."""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from pipemap.runner import NestedPipeFunc, PipeFunc
from pipemap.runner.model._fingerprint import FunctionFingerprint, function_fingerprint

MODULE = "pipemap_fingerprint_subject"


def load(tmp_path: Path, source: str, name: str = MODULE) -> ModuleType:
    """``source`` written to a file and imported freshly as module ``name`` (a rewrite of the
    file is a new module object, as in a new session)."""
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


BASE = """
    import numpy as np

    SCALE = 2
    LOG = []  # a mutable global: not part of the fingerprint

    def helper(x):
        return x * SCALE

    def f(x, y=1):
        LOG.append(x)
        return helper(x) + y
"""


def fp_of(tmp_path: Path, source: str, **kwargs: object) -> FunctionFingerprint:
    module = load(tmp_path, source)
    return function_fingerprint(PipeFunc(module.f, "out", **kwargs))  # type: ignore[arg-type]


def test_the_same_source_loaded_twice_gives_the_same_fingerprint(tmp_path: Path) -> None:
    a, b = fp_of(tmp_path, BASE), fp_of(tmp_path, BASE)
    assert a == b
    assert a.digest is not None and len(a.digest) == 16 and a.unstable is None
    assert a.code is not None and len(a.code) == 16
    assert set(a.defaults) == {"y"} and a.bound == {}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("return helper(x) + y", "return helper(x) - y"),  # the body
        ("return x * SCALE", "return x * SCALE + 1"),  # a helper it calls
        ("SCALE = 2", "SCALE = 3"),  # a module constant the helper uses
    ],
)
def test_an_edited_body_helper_or_constant_changes_the_code(tmp_path: Path, old: str, new: str) -> None:
    assert old in BASE
    before, after = fp_of(tmp_path, BASE), fp_of(tmp_path, BASE.replace(old, new))
    assert before.code != after.code
    assert before.digest != after.digest


def test_moving_a_function_or_a_mutable_global_does_not_change_it(tmp_path: Path) -> None:
    module = load(tmp_path, BASE)
    before = function_fingerprint(PipeFunc(module.f, "out"))
    module.LOG.extend([1, 2, 3])
    assert function_fingerprint(PipeFunc(module.f, "out")) == before
    moved = fp_of(tmp_path, "\n\n\n# a comment\n" + textwrap.dedent(BASE))
    assert moved == before


def test_a_changed_signature_default_changes_the_defaults_not_the_code(tmp_path: Path) -> None:
    before = fp_of(tmp_path, BASE)
    after = fp_of(tmp_path, BASE.replace("def f(x, y=1)", "def f(x, y=5)"))
    assert before.code == after.code
    assert before.defaults["y"] != after.defaults["y"]
    assert before.digest != after.digest


def test_pipefunc_defaults_and_bound_values_count_by_name(tmp_path: Path) -> None:
    module = load(tmp_path, BASE)
    plain = function_fingerprint(PipeFunc(module.f, "out"))
    d5 = function_fingerprint(PipeFunc(module.f, "out", defaults={"y": 5}))
    d6 = function_fingerprint(PipeFunc(module.f, "out", defaults={"y": 6}))
    b5 = function_fingerprint(PipeFunc(module.f, "out", bound={"y": 5}))
    b6 = function_fingerprint(PipeFunc(module.f, "out", bound={"y": np.int64(5)}))
    assert len({plain.digest, d5.digest, d6.digest, b5.digest, b6.digest}) == 5
    assert plain.code == d5.code == b5.code
    assert b5.bound.keys() == {"y"} and b5.defaults == {}
    assert b5.bound["y"] != b6.bound["y"]  # 5 and np.int64(5) are different values


def test_renames_and_outputs_count_but_mapspec_and_settings_do_not(tmp_path: Path) -> None:
    module = load(tmp_path, BASE)
    plain = function_fingerprint(PipeFunc(module.f, "out"))
    assert function_fingerprint(PipeFunc(module.f, "out", renames={"x": "a"})).digest != plain.digest
    assert function_fingerprint(PipeFunc(module.f, "other")).digest != plain.digest
    cosmetic = PipeFunc(module.f, "out", mapspec="x[i] -> out[i]", profile=True, timeout=5.0, retries=2)
    assert function_fingerprint(cosmetic) == plain


def _adder(k: object):  # noqa: ANN202
    def add(x: int) -> object:
        return x + k  # type: ignore[operator]

    return add


def test_a_changed_closure_value_changes_the_code() -> None:
    one, one_again, two = (function_fingerprint(PipeFunc(_adder(k), "y")) for k in (1, 1, 2))
    assert one == one_again
    assert one.code != two.code
    array = function_fingerprint(PipeFunc(_adder(np.arange(3)), "y"))
    assert array.code != function_fingerprint(PipeFunc(_adder(np.arange(4)), "y")).code


def test_lambdas_partials_and_callable_instances_are_fingerprinted() -> None:
    lam = function_fingerprint(PipeFunc(lambda x: x + 1, "y"))
    lam2 = function_fingerprint(PipeFunc(lambda x: x + 2, "y"))
    assert lam.trusted and lam.code != lam2.code

    def power(x: float, p: int) -> float:
        return x**p

    p2 = function_fingerprint(PipeFunc(functools.partial(power, p=2), "y"))
    p3 = function_fingerprint(PipeFunc(functools.partial(power, p=3), "y"))
    assert p2.trusted and p2.code != p3.code

    s2, s2_again, s3 = (function_fingerprint(PipeFunc(Scaler(k), "y")) for k in (2, 2, 3))
    assert s2.trusted and s2 == s2_again and s2.code != s3.code
    bound_method = function_fingerprint(PipeFunc(Scaler(2).twice, "y"))
    assert bound_method.trusted and bound_method.code != function_fingerprint(PipeFunc(Scaler(3).twice, "y")).code


class Scaler:
    def __init__(self, k: int) -> None:
        self.k = k

    def __call__(self, x: float) -> float:
        return x * self.k

    def twice(self, x: float) -> float:
        return 2 * self(x)


def test_an_edited_method_of_a_callable_class_changes_the_code(tmp_path: Path) -> None:
    source = """
        class Scaler:
            def __init__(self, k):
                self.k = k

            def __call__(self, x):
                return self.apply(x)

            def apply(self, x):
                return x * self.k
    """
    before = function_fingerprint(PipeFunc(load(tmp_path, source).Scaler(2), "y"))
    after = function_fingerprint(PipeFunc(load(tmp_path, source.replace("x * self.k", "x + self.k")).Scaler(2), "y"))
    assert before.trusted and before.code != after.code


def test_c_functions_and_numpy_ufuncs_by_name() -> None:
    a, b = function_fingerprint(PipeFunc(np.sin, "y")), function_fingerprint(PipeFunc(np.cos, "y"))
    assert a.trusted and a.code != b.code
    assert function_fingerprint(PipeFunc(math.sqrt, "y")).trusted


def test_recursive_functions_are_followed_once(tmp_path: Path) -> None:
    source = """
        def even(n):
            return True if n == 0 else odd(n - 1)

        def odd(n):
            return False if n == 0 else even(n - 1)

        def f(x):
            return even(x)
    """
    before = fp_of(tmp_path, source)
    assert before.trusted and before == fp_of(tmp_path, source)
    assert before.code != fp_of(tmp_path, source.replace("False if n == 0", "True if n == 0")).code


def test_nested_pipefuncs_combine_the_inner_fingerprints() -> None:
    def nested(k: int) -> NestedPipeFunc:
        return NestedPipeFunc([PipeFunc(_adder(k), "b", renames={"x": "a"}), PipeFunc(lambda b: b * 2, "c")])

    one, one_again, two = (function_fingerprint(n) for n in (nested(1), nested(1), nested(2)))
    assert one.trusted and one == one_again
    assert one.code != two.code


def test_what_cannot_be_read_stably_makes_the_function_untrusted() -> None:
    with socket.socket() as s:

        def reads(x: int) -> int:
            return s.fileno() + x

        fp = function_fingerprint(PipeFunc(reads, "y"))
    assert fp.digest is None and not fp.trusted
    assert fp.unstable is not None and "closure variable `s`" in fp.unstable and "`socket.socket`" in fp.unstable

    lock = threading.Lock()
    fp = function_fingerprint(PipeFunc(lambda x, b: x, "y", bound={"b": lock}))
    assert fp.digest is None and fp.unstable is not None and "bound value `b`" in fp.unstable
    assert "`_thread.lock`" in fp.unstable
    fp = function_fingerprint(PipeFunc(lambda x, b: x, "y", defaults={"b": lock}))
    assert fp.unstable is not None and "default `b`" in fp.unstable

    inner = NestedPipeFunc([PipeFunc(lambda a, b: a, "c", bound={"b": lock}), PipeFunc(lambda c: c, "d")])
    fp = function_fingerprint(inner)
    assert fp.digest is None and fp.unstable is not None and "inner function" in fp.unstable


def test_a_callable_default_counts_by_its_code() -> None:
    def f(x: float, op=np.add) -> float:  # noqa: ANN001
        return op(x, 1)

    add, mul = (function_fingerprint(PipeFunc(f, "y", defaults={"op": op})) for op in (np.add, np.multiply))
    assert add.trusted and add.defaults["op"] != mul.defaults["op"]


_SCRIPT = """
import functools, importlib.util, sys
spec = importlib.util.spec_from_file_location({name!r}, {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[{name!r}] = module
spec.loader.exec_module(module)
from pipemap.runner import PipeFunc
from pipemap.runner.model._fingerprint import function_fingerprint
for key, func in module.subjects().items():
    print(key, function_fingerprint(func).digest.hex())
"""

SUBJECTS = """
    import functools
    from pipemap.runner import NestedPipeFunc, PipeFunc

    LIMITS = {"a": 1, "b": frozenset({"x", "y", "z"})}

    def helper(x):
        return x in {"p", "q"}

    def f(x, y=1):
        return helper(x) + y

    class Scale:
        def __init__(self, k):
            self.k = k
            self.names = {"u", "v", "w"}

        def __call__(self, x):
            return x * self.k

    def subjects():
        return {
            "function": PipeFunc(f, "out", bound={"y": {"k": [1, 2.5, "s"]}}),
            "lambda": PipeFunc(lambda x, z=(1, 2): x + z[0], "out"),
            "partial": PipeFunc(functools.partial(f, y=3), "out"),
            "instance": PipeFunc(Scale(4), "out"),
            "nested": NestedPipeFunc([PipeFunc(f, "b"), PipeFunc(lambda b: b, "c")]),
        }
"""


def test_the_same_definitions_give_the_same_fingerprints_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / f"{MODULE}.py"
    load(tmp_path, SUBJECTS)  # writes the file
    ours = {k: function_fingerprint(v).digest.hex() for k, v in load(tmp_path, SUBJECTS).subjects().items()}  # type: ignore[union-attr]
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(name=MODULE, path=str(path))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert dict(line.split() for line in out.splitlines()) == ours


def test_a_container_the_function_fills_counts_by_type_only() -> None:
    """A closure over a list (a log or call counter the function fills) is state, not a setting."""
    calls: list[int] = []

    def logged(x: int) -> int:
        calls.append(x)
        return x

    before = function_fingerprint(PipeFunc(logged, "y"))
    calls.extend([1, 2, 3])
    assert function_fingerprint(PipeFunc(logged, "y")) == before
    # but values passed to the function itself count by content
    bound = [function_fingerprint(PipeFunc(lambda x, c: x, "y", bound={"c": [k]})) for k in (1, 2)]
    assert bound[0].bound["c"] != bound[1].bound["c"]


def test_a_callable_that_breaks_the_digest_is_untrusted_not_an_error() -> None:
    class Broken:
        def __pipefunc_hash__(self) -> str:
            raise RuntimeError("no hash today")

        def __call__(self, x: int) -> int:
            return x

    fp = function_fingerprint(PipeFunc(Broken(), "y"))
    assert fp.digest is None and fp.unstable is not None and "RuntimeError: no hash today" in fp.unstable
