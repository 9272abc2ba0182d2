"""ErrorSnapshot / PropagatedErrorSnapshot: pickling, lazy functions, reproduce, root causes."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import numpy as np
import pytest
from pipemap.storage import ErrorInfo, ErrorSnapshot, PropagatedErrorSnapshot


def failing(x: int, y: int = 1) -> int:
    if x == 3:
        msg = f"x is {x}"
        raise ValueError(msg)
    return x + y


def _snapshot(**kwargs) -> ErrorSnapshot:
    try:
        failing(**kwargs)
    except ValueError as exc:
        return ErrorSnapshot(failing, exc, kwargs=kwargs)
    raise AssertionError


def test_fields_and_reproduce() -> None:
    snap = _snapshot(x=3, y=2)
    assert snap.function_name == "failing"
    assert snap.exception_type == "ValueError"
    assert snap.message == "x is 3"
    assert snap.kwargs == {"x": 3, "y": 2}
    assert "ValueError: x is 3" in snap.traceback
    assert snap.user and snap.machine and snap.ip_address and snap.current_directory and snap.timestamp
    with pytest.raises(ValueError, match="x is 3"):
        snap.reproduce()
    assert "Exception type: ValueError" in str(snap)
    assert repr(snap) == "ErrorSnapshot('failing', ValueError: x is 3)"


def test_pickle_roundtrip_is_lazy() -> None:
    snap = pickle.loads(pickle.dumps(_snapshot(x=3)))
    assert snap._function is None  # not unpickled yet
    assert snap.kwargs == {"x": 3}
    assert isinstance(snap.exception, ValueError)
    with pytest.raises(ValueError, match="x is 3"):
        snap.reproduce()


def test_unpickling_never_needs_user_module(tmp_path) -> None:
    """A snapshot of a function from a user module loads (and reproduces) without that module."""
    module = tmp_path / "usermod_for_snapshot.py"
    module.write_text(textwrap.dedent("""
        def boom(a):
            raise KeyError(a)
    """))
    out = tmp_path / "snap.pickle"
    make = textwrap.dedent(f"""
        import sys, cloudpickle
        sys.path.insert(0, {str(tmp_path)!r})
        import usermod_for_snapshot as m
        from pipemap.storage import ErrorSnapshot
        try:
            m.boom("k")
        except KeyError as e:
            snap = ErrorSnapshot(m.boom, e, kwargs={{"a": "k"}})
        open({str(out)!r}, "wb").write(cloudpickle.dumps(snap))
    """)
    subprocess.run([sys.executable, "-c", make], check=True)
    module.unlink()
    check = textwrap.dedent(f"""
        import pickle
        snap = pickle.loads(open({str(out)!r}, "rb").read())
        assert snap.function_name == "boom" and snap.kwargs == {{"a": "k"}}
        try:
            snap.reproduce()
        except KeyError as e:
            print("reproduced", e)
    """)
    result = subprocess.run([sys.executable, "-c", check], check=True, capture_output=True, text=True)
    assert "reproduced 'k'" in result.stdout


def test_unpicklable_exception_keeps_type_and_message() -> None:
    class Weird(Exception):
        def __reduce__(self):
            raise TypeError("no pickling")

    snap = ErrorSnapshot(failing, Weird("odd"), kwargs={"x": 1})
    clone = pickle.loads(cloudpickle.dumps(snap))
    assert clone.exception_type == "Weird"
    assert "odd" in str(clone.exception)


def test_propagated_root_causes_and_pickle() -> None:
    root = _snapshot(x=3)
    first = PropagatedErrorSnapshot({"y": ErrorInfo.from_full_error(root)}, failing, "input_is_error", {"z": 1})
    second = PropagatedErrorSnapshot(
        {"a": ErrorInfo.from_full_error(first), "b": ErrorInfo.from_partial_error((3,), (np.array([1]),), 1)},
        failing,
        "input_is_error",
        {},
    )
    assert second.get_root_causes() == [root]
    clone = pickle.loads(pickle.dumps(second))
    causes = clone.get_root_causes()
    assert len(causes) == 1 and causes[0].kwargs == {"x": 3}
    assert clone.reason == "input_is_error"
    assert clone.skipped_function(1) == 2
    assert "b (1 errors in array)" in str(clone)
    assert repr(clone) == "PropagatedErrorSnapshot('failing', reason='input_is_error')"
    partial = PropagatedErrorSnapshot({"b": ErrorInfo.from_partial_error((3,), (np.array([1]),), 1)}, failing, "array_contains_errors", {})
    assert partial.get_root_causes() == []
