"""``resume=True`` with changes (continued): every storage, internal and "?" shapes, the refusals
that remain (naming the function, input, axis, old and new values and the way on), and SIGKILL
while the stale outputs are being cleared."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from pipemap.runner import Pipeline, PipeFunc, ResumeRecomputeWarning, run_map

sys.path.insert(0, str(Path(__file__).parent))
from _resume_subject import Subject, expected, outputs  # noqa: E402

X = [1, 2, 3, 4]
STORAGES = ["file_array", "chunked", "zarr_file_array", "dict"]


@pytest.mark.parametrize("storage", STORAGES)
def test_every_storage_recomputes_the_stale_and_keeps_the_rest(tmp_path, storage) -> None:
    s = Subject(tmp_path)
    folder = tmp_path / "run"

    def run(**kwargs):  # noqa: ANN202
        return run_map(s.pipeline(), {"x": X, "c": 10}, run_folder=folder, storage=storage, parallel=False, **kwargs)

    run()
    s.calls()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResumeRecomputeWarning)
        assert outputs(run(resume=True)) == expected(X, 10) and s.calls() == {}
    s.edit("return y + d", "return y + d + 1000")
    with pytest.warns(ResumeRecomputeWarning, match=r"function `plus` \(z\): code changed"):
        r = run(resume=True)
    assert s.calls() == {"plus": 4, "total": 1}
    want = expected(X, 10, d=1001)
    assert outputs(r) == want
    import pipemap.io as pio

    assert pio.load_outputs("z", run_folder=folder).tolist() == want["z"]



def test_internal_and_unknown_shapes(tmp_path) -> None:
    calls: dict[str, int] = {}

    def pipeline(offset: int) -> Pipeline:
        def rows(x):  # noqa: ANN001, ANN202
            calls["rows"] = calls.get("rows", 0) + 1
            return np.arange(3) + x + offset

        def cell(r):  # noqa: ANN001, ANN202
            calls["cell"] = calls.get("cell", 0) + 1
            return 2 * r

        def sizes(n):  # noqa: ANN001, ANN202
            calls["sizes"] = calls.get("sizes", 0) + 1
            return list(range(n))

        def per_size(a):  # noqa: ANN001, ANN202
            calls["per_size"] = calls.get("per_size", 0) + 1
            return a + 1

        return Pipeline(
            [
                PipeFunc(rows, "r", mapspec="x[i] -> r[i, j]", internal_shape=("?",)),
                PipeFunc(cell, "q", mapspec="r[i, j] -> q[i, j]"),
                PipeFunc(sizes, "a"),  # an unmapped output of unknown length, mapped below
                PipeFunc(per_size, "b", mapspec="a[k] -> b[k]"),
            ]
        )

    folder = tmp_path / "run"
    inputs = {"x": [0, 1], "n": 3}
    run_map(pipeline(0), inputs, run_folder=folder, parallel=False)
    calls.clear()
    r = run_map(pipeline(0), inputs, run_folder=folder, parallel=False, resume=True)
    assert calls == {} and r["q"].output.tolist() == [[0, 2, 4], [2, 4, 6]]
    with pytest.warns(ResumeRecomputeWarning, match=r"function `rows` \(r\): code changed"):
        r = run_map(pipeline(5), inputs, run_folder=folder, parallel=False, resume=True)
    assert calls == {"rows": 2, "cell": 6}  # the "?" branch a -> b is kept
    assert r["q"].output.tolist() == [[10, 12, 14], [12, 14, 16]]
    assert r["b"].output.tolist() == [1, 2, 3]


def test_refusals_name_what_differs_and_the_way_on(tmp_path) -> None:
    s = Subject(tmp_path)
    folder = tmp_path / "run"
    run_map(s.pipeline(), {"x": X, "c": 10}, run_folder=folder, parallel=False)
    s.calls()
    way_on = r"Use `resume=False` to start afresh .*, or `reuse_from=.*` to keep every stored element"
    with pytest.raises(ValueError, match=r"^Shapes do not match previous run, cannot use `resume=True`\. Input `x` axis `i` has 5 elements, the stored run has 4\. " + way_on):
        run_map(s.pipeline(), {"x": [*X, 5], "c": 10}, run_folder=folder, parallel=False, resume=True)
    whole = PipeFunc(s.module().other, "u", bound={"k": 1})  # no mapspec: called once on the whole x
    other = Pipeline([*(f for f in s.pipeline().functions if f.output_name != "u"), whole])
    with pytest.raises(ValueError, match=r"^`MapSpec`s do not match previous run, cannot use `resume=True`\. Function `other` \(output `u`\) had mapspec `x\[i\] -> u\[i\]` in the stored run, now `None`\. " + way_on):
        run_map(other, {"x": X, "c": 10}, run_folder=folder, parallel=False, resume=True)
    unrelated = Pipeline([PipeFunc(lambda a: a, "b", mapspec="a[i] -> b[i]")])
    with pytest.raises(ValueError, match=r"`MapSpec`s do not match previous run, cannot use `resume=True`\. .* holds a run of another pipeline \(it computed `s`, `u`, `y`, `z`; this pipeline computes `b`"):
        run_map(unrelated, {"a": [1]}, run_folder=folder, parallel=False, resume=True)
    assert s.calls() == {}
    inner = tmp_path / "inner"
    p = Pipeline([PipeFunc(lambda x: np.zeros(2) + x, "y", mapspec="x[i] -> y[i, j]")])
    run_map(p, {"x": [1, 2]}, run_folder=inner, internal_shapes={"y": 2}, parallel=False)
    with pytest.raises(ValueError, match=r"^Internal shapes do not match previous run, cannot use `resume=True`\. Output `y` had internal shape 2 in the stored run, now 3\. " + way_on):
        run_map(p, {"x": [1, 2]}, run_folder=inner, internal_shapes={"y": 3}, parallel=False, resume=True)


VICTIM = """
import os, shutil, signal, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from _resume_subject import Subject
import pipemap.storage._clearing as clearing
from pipemap.runner import run_map

mode, at = sys.argv[1], int(sys.argv[2])
done = [0]


class Os:
    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def rename(a, b):
        if mode == "rename" and done[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        done[0] += 1
        os.rename(a, b)


class Shutil:
    def __getattr__(self, name):
        return getattr(shutil, name)

    @staticmethod
    def rmtree(path, **kwargs):
        if mode == "rmtree":
            victim = next(p for p in Path(path).rglob("*") if p.is_file())
            victim.unlink()  # part of the trash is gone, then the process dies
            os.kill(os.getpid(), signal.SIGKILL)
        shutil.rmtree(path, **kwargs)


clearing.os = Os()
clearing.shutil = Shutil()
s = Subject(Path({tmp!r}), existing=True)
run_map(s.pipeline(), {{"x": {x!r}, "c": 10}}, run_folder={folder!r}, storage={storage!r}, parallel=False, resume=True)
print("finished")
"""


_KILLS = [(st, m, at) for st in ("file_array", "chunked") for m, at in (("rename", 0), ("rename", 1), ("rename", 2), ("rmtree", 0))]
_KILLS += [(st, "rename", 1) for st in ("zarr_file_array", "dict")]


@pytest.mark.parametrize(("storage", "mode", "at"), _KILLS)
@pytest.mark.parametrize("code_on_resume", ["edited", "original"])
def test_sigkill_while_clearing_then_resume_gives_correct_results(tmp_path, storage, mode, at, code_on_resume) -> None:
    s = Subject(tmp_path)
    folder = tmp_path / "run"
    run_map(s.pipeline(), {"x": X, "c": 10}, run_folder=folder, storage=storage, parallel=False)
    s.calls()
    original = s.source
    s.edit("return helper(x) + c", "return helper(x) + c + 100")  # y, z and s are cleared (3 renames)
    script = tmp_path / "victim.py"
    script.write_text(
        textwrap.dedent(VICTIM).format(tests=str(Path(__file__).parent), tmp=str(tmp_path), x=X, folder=str(folder), storage=storage)
    )
    proc = subprocess.run([sys.executable, str(script), mode, str(at)], capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert s.calls() == {}  # killed before computing anything
    if code_on_resume == "original":
        s.edit(s.source, original)
        want = expected(X, 10)
    else:
        want = expected(X, 110)
        want["u"] = expected(X, 10)["u"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResumeRecomputeWarning)
        r = run_map(s.pipeline(), {"x": X, "c": 10}, run_folder=folder, storage=storage, parallel=False, resume=True)
    assert outputs(r) == want
    assert s.calls()["other"] == 0  # the unrelated branch survived every crash
    import pipemap.io as pio

    assert pio.load_outputs("z", run_folder=folder).tolist() == want["z"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".pipemap.trash-")]
