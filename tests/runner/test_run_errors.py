"""Error handling (docs/behaviour.md §4.8): raise-mode notes, continue-mode snapshots and propagation."""

from __future__ import annotations

import numpy as np
import pytest
from pipemap.runner import Pipeline, PipeFunc, pipefunc, run_map
from pipemap.storage import ErrorSnapshot, PropagatedErrorSnapshot


@pipefunc("y", mapspec="x[i] -> y[i]")
def fail_on_3(x):
    if x == 3:
        msg = "x is three"
        raise ValueError(msg)
    return 2 * x


def test_raise_mode_note_and_snapshot() -> None:
    p = Pipeline([fail_on_3])
    with pytest.raises(ValueError, match="x is three") as info:
        run_map(p, {"x": [1, 2, 3, 4]}, parallel=False)
    notes = info.value.__notes__
    assert any("Error occurred while executing function `fail_on_3(x=3)`." in n for n in notes)
    assert any("linear index 2" in n for n in notes)
    snap = p.error_snapshot
    assert isinstance(snap, ErrorSnapshot)
    assert snap.kwargs == {"x": 3}
    with pytest.raises(ValueError, match="x is three"):
        snap.reproduce()


def test_raise_mode_truncates_reprs() -> None:
    p = Pipeline([PipeFunc(lambda x, big: 1 / 0, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(ZeroDivisionError) as info:
        run_map(p, {"x": [1], "big": "a" * 10_000}, parallel=False)
    note = info.value.__notes__[0]
    assert len(note) < 400
    assert "..." in note


def test_continue_mode_elementwise_and_propagation() -> None:
    @pipefunc("z", mapspec="y[i] -> z[i]")
    def inc(y):
        return y + 1

    @pipefunc("s")
    def total(y):
        return sum(y)

    p = Pipeline([fail_on_3, inc, total])
    r = run_map(p, {"x": [1, 2, 3, 4, 5]}, parallel=False, error_handling="continue")
    y = r["y"].output
    assert y.dtype == object
    assert [v for k, v in enumerate(y) if k != 2] == [2, 4, 8, 10]
    assert isinstance(y[2], ErrorSnapshot)
    assert y[2].kwargs == {"x": 3}
    z = r["z"].output
    assert isinstance(z[2], PropagatedErrorSnapshot)
    assert z[2].reason == "input_is_error"
    assert [v for k, v in enumerate(z) if k != 2] == [3, 5, 9, 11]
    s = r["s"].output
    assert isinstance(s, PropagatedErrorSnapshot)
    assert s.reason == "array_contains_errors"


def test_continue_partial_reduction_only_bad_rows() -> None:
    @pipefunc("cell", mapspec="m[i, j] -> cell[i, j]")
    def check(m):
        if m < 0:
            raise ValueError("negative")
        return m

    @pipefunc("row_sums", mapspec="cell[i, :] -> row_sums[i]")
    def row_sum(cell):
        return sum(cell)

    m = np.array([[1, 2], [3, -1], [5, 6]])
    r = run_map(Pipeline([check, row_sum]), {"m": m}, parallel=False, error_handling="continue")
    rs = r["row_sums"].output
    assert rs[0] == 3 and rs[2] == 11
    assert isinstance(rs[1], PropagatedErrorSnapshot)
    assert rs[1].reason == "array_contains_errors"


def test_continue_single_chain() -> None:
    @pipefunc("c")
    def c(b):
        raise RuntimeError("boom")

    @pipefunc("d")
    def d(c):
        return c

    r = run_map(Pipeline([c, d]), {"b": 1}, parallel=False, error_handling="continue")
    assert isinstance(r["c"].output, ErrorSnapshot)
    assert isinstance(r["d"].output, PropagatedErrorSnapshot)
    assert "c" in r["d"].output.error_info


def test_continue_multi_output_failure_in_both() -> None:
    @pipefunc(("a", "b"), mapspec="x[i] -> a[i], b[i]")
    def split(x):
        if x == 2:
            raise ValueError("two")
        return x, -x

    @pipefunc("c", mapspec="a[i], b[i] -> c[i]")
    def both(a, b):
        return a + b

    r = run_map(Pipeline([split, both]), {"x": [1, 2]}, parallel=False, error_handling="continue")
    assert isinstance(r["a"].output[1], ErrorSnapshot)
    assert r["a"].output[1] is r["b"].output[1]
    assert isinstance(r["c"].output[1], PropagatedErrorSnapshot)
    assert r["c"].output[0] == 0


def test_continue_picker_failure_only_that_output() -> None:
    def picker(value, name):
        if name == "bad":
            raise KeyError(name)
        return value[name]

    pf = PipeFunc(lambda x: {"good": x}, ("good", "bad"), mapspec="x[i] -> good[i], bad[i]", output_picker=picker)
    r = run_map(Pipeline([pf]), {"x": [1, 2]}, parallel=False, error_handling="continue")
    assert r["good"].output.tolist() == [1, 2]
    assert all(isinstance(v, ErrorSnapshot) for v in r["bad"].output)


def test_resume_retries_failed_elements(tmp_path) -> None:
    state = {"fail": True}
    calls = []

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def flaky(x):
        calls.append(x)
        if state["fail"] and x == 2:
            raise ValueError("flaky")
        return x

    p = Pipeline([flaky])
    r = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, error_handling="continue")
    assert isinstance(r["y"].output[1], ErrorSnapshot)
    state["fail"] = False
    calls.clear()
    # issue 15: a plain resume keeps the failure (as pipefunc); retry_failed=True recomputes it
    r = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, error_handling="continue", resume=True)
    assert calls == [] and isinstance(r["y"].output[1], ErrorSnapshot)
    r = run_map(
        p, {"x": [1, 2, 3]}, run_folder=tmp_path, parallel=False, error_handling="continue", resume=True, retry_failed=True
    )
    assert calls == [2]
    assert r["y"].output.tolist() == [1, 2, 3]


def test_storage_write_failure_names_function_and_elements() -> None:
    from pipemap.storage import DictArray, register_storage

    class FullDisk(DictArray):
        """A third-party backend whose writes fail (as on a full disk)."""

        storage_id = "full_disk_test"

        def _put_many(self, indices, values):
            raise OSError(28, "No space left on device")

    register_storage(FullDisk)
    p = Pipeline([PipeFunc(lambda x: x * x, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(OSError, match="No space left") as info:
        run_map(p, {"x": list(range(5))}, storage="full_disk_test", parallel=False)
    note = " ".join(info.value.__notes__)
    assert "`y`" in note and "<lambda>" in note and "element(s) 0 " in note


def test_corrupt_single_output_is_recomputed_on_resume(tmp_path) -> None:
    calls = []

    @pipefunc("s")
    def total(x):
        calls.append(1)
        return sum(x)

    p = Pipeline([total])
    run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False)
    (tmp_path / "outputs" / "s.cloudpickle").write_bytes(b"\x80\x05garbage")
    with pytest.warns(UserWarning, match="Could not load the stored output"):
        r = run_map(p, {"x": [1, 2]}, run_folder=tmp_path, parallel=False, resume=True)
    assert r["s"].output == 3
    assert len(calls) == 2


def test_element_failed_events() -> None:
    from pipemap.runner.engine._events import ChunkDone, ElementFailed

    events: list = []
    run_map(Pipeline([fail_on_3]), {"x": [1, 2, 3, 4]}, parallel=False, error_handling="continue", callbacks=[events.append])
    failed = [e for e in events if isinstance(e, ElementFailed)]
    assert [(e.output_name, e.index) for e in failed] == [("y", 2)]
    assert isinstance(failed[0].error, ErrorSnapshot)
    assert sum(e.n_failed for e in events if isinstance(e, ChunkDone)) == 1
