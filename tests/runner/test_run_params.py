"""The remaining run_map parameters: output_names, auto_subpipeline, fixed_indices, storage
choice, persist_memory, show_progress / events, pydantic and scoped inputs, run_map_async."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
import pytest
from pipemap.runner import AsyncMap, Pipeline, PipeFunc, pipefunc, run_map, run_map_async
from pipemap.runner.engine._events import ChunkDone, FunctionDone, RunFinished, RunStarted


@pipefunc("y", mapspec="x[i] -> y[i]")
def double(x):
    return 2 * x


@pipefunc("z", mapspec="y[i] -> z[i]")
def inc(y):
    return y + 1


@pipefunc("u", mapspec="v[i] -> u[i]")
def other(v):
    return -v


def test_output_names_forms() -> None:
    p = Pipeline([double, inc])
    for names in ("y", ["y"], {"y"}):
        r = run_map(p, {"x": [1, 2]}, output_names=names, parallel=False)
        assert list(r) == ["y"]
    p2 = Pipeline([double, inc, other])
    with pytest.raises(ValueError, match="Got extra inputs: `v`"):
        run_map(p2, {"x": [1], "v": [1]}, output_names="z", parallel=False)


def test_auto_subpipeline_skips_producer() -> None:
    p = Pipeline([double, inc])
    r = run_map(p, {"y": [10, 20]}, auto_subpipeline=True, parallel=False)
    assert list(r) == ["z"]
    assert r["z"].output.tolist() == [11, 21]
    with pytest.raises(ValueError, match="Got extra inputs"):
        run_map(p, {"x": [1], "y": [10, 20]}, parallel=False)


def test_fixed_indices_selects_elements(tmp_path) -> None:
    p = Pipeline([PipeFunc(lambda x, y: x + y, "z", mapspec="x[i], y[i] -> z[i]")])
    r = run_map(p, {"x": [1, 2, 3], "y": [4, 5, 6]}, fixed_indices={"i": slice(1, None)}, parallel=False)
    assert r["z"].output.tolist() == [None, 7, 9]
    run_map(p, {"x": [1, 2, 3], "y": [4, 5, 6]}, run_folder=tmp_path, fixed_indices={"i": 2}, parallel=False)
    run_map(p, {"x": [1, 2, 3], "y": [4, 5, 6]}, run_folder=tmp_path, fixed_indices={"i": 0}, resume=True, parallel=False)
    names = sorted(f.name for f in (tmp_path / "outputs" / "z").iterdir())
    assert names == ["__0__.pickle", "__2__.pickle", "shape.json"]


def test_fixed_indices_2d() -> None:
    p = Pipeline([PipeFunc(lambda x, y: (x, y), "z", mapspec="x[i], y[i, j] -> z[i, j]")])
    y = np.array([[4, 5], [6, 7], [8, 9]])
    r = run_map(p, {"x": [1, 2, 3], "y": y}, fixed_indices={"i": slice(1, None), "j": 0}, parallel=False)
    out = r["z"].output
    assert out[0, 0] is None and out[0, 1] is None and out[1, 1] is None and out[2, 1] is None
    assert tuple(out[1, 0]) == (2, 6) and tuple(out[2, 0]) == (3, 8)


def test_storage_without_folder_warns_and_uses_temp() -> None:
    with pytest.warns(UserWarning, match="storage requires a `run_folder`. Using temporary folder"):
        r = run_map(Pipeline([double]), {"x": [1, 2]}, storage="file_array", parallel=False)
    assert r["y"].output.tolist() == [2, 4]
    assert r["y"].store.folder is not None


def test_persist_memory(tmp_path) -> None:
    run_map(Pipeline([double]), {"x": [1]}, run_folder=tmp_path / "a", storage="dict", parallel=False)
    assert (tmp_path / "a" / "outputs" / "y" / "dict_array.cloudpickle").is_file()
    run_map(Pipeline([double]), {"x": [1]}, run_folder=tmp_path / "b", storage="dict", persist_memory=False, parallel=False)
    assert not (tmp_path / "b" / "outputs" / "y" / "dict_array.cloudpickle").exists()


def test_events_and_headless_progress() -> None:
    events: list = []
    r = run_map(Pipeline([double, inc]), {"x": list(range(100))}, parallel=False, show_progress="headless", callbacks=[events.append])
    assert isinstance(events[0], RunStarted)
    assert events[0].totals == {"y": 100, "z": 100}
    assert isinstance(events[-1], RunFinished) and events[-1].error is None
    done = [e for e in events if isinstance(e, ChunkDone) and e.output_name == "y"]
    assert sum(e.n_done for e in done) == 100
    assert [e.output_name for e in events if isinstance(e, FunctionDone)] == ["y", "z"]
    assert r["z"].output[99] == 199


def test_invalid_show_progress() -> None:
    with pytest.raises(ValueError, match="Invalid `show_progress"):
        run_map(Pipeline([double]), {"x": [1]}, parallel=False, show_progress="loud")


def test_pydantic_and_scoped_inputs() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Inputs(pydantic.BaseModel):
        x: list[int]

    assert run_map(Pipeline([double]), Inputs(x=[1, 2]), parallel=False)["y"].output.tolist() == [2, 4]
    f = PipeFunc(lambda a, b: a + b, "c", mapspec="foo.a[i] -> c[i]", renames={"a": "foo.a", "b": "foo.b"})
    r = run_map(Pipeline([f]), {"foo": {"a": [1, 2], "b": 10}}, parallel=False)
    assert r["c"].output.tolist() == [11, 12]


def test_pipeline_map_method() -> None:
    r = Pipeline([double, inc]).map({"x": [1, 2]}, parallel=False)
    assert r["z"].output.tolist() == [3, 5]


def test_async_map_in_a_script() -> None:
    p = Pipeline([double, inc])

    async def main():
        runner = run_map_async(p, {"x": [1, 2, 3]}, show_progress="headless")
        assert isinstance(runner, AsyncMap)
        with pytest.raises(RuntimeError, match="Cannot call `result\\(\\)` while an event loop is running"):
            runner.result()
        result = await runner.task
        return runner, result

    runner, result = asyncio.run(main())
    assert result["z"].output.tolist() == [3, 5, 7]
    assert runner.status()["state"] == "done"
    assert runner.status()["progress"]["z"]["completed"] == 3


def test_async_map_not_started() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runner = run_map_async(Pipeline([double]), {"x": [1, 2]}, start=False)
    with pytest.raises(RuntimeError, match="The task has not been started."):
        runner.task  # noqa: B018
    first = runner.result()
    assert first["y"].output.tolist() == [2, 4]
    assert runner.result() is first
    with pytest.warns(UserWarning, match="call `runner.result\\(\\)`"):
        runner.start()


def test_run_map_inside_running_loop() -> None:
    from concurrent.futures import ThreadPoolExecutor

    async def main():
        with ThreadPoolExecutor(2) as ex:  # a parallel run needs a loop: a private one in a thread
            return run_map(Pipeline([double]), {"x": [1, 2]}, storage="dict", executor=ex)

    assert asyncio.run(main())["y"].output.tolist() == [2, 4]


def test_pipefunc_pipeline_is_converted() -> None:
    pipefunc_mod = pytest.importorskip("pipefunc")

    @pipefunc_mod.pipefunc(output_name="y", mapspec="x[i] -> y[i]")
    def triple(x):
        return 3 * x

    r = run_map(pipefunc_mod.Pipeline([triple]), {"x": [1, 2]}, parallel=False)
    assert r["y"].output.tolist() == [3, 6]


def test_no_mapspecs_runs_inline_even_when_parallel() -> None:
    import os

    @pipefunc("b")
    def first(a):
        return os.getpid()

    @pipefunc("c")
    def second(b):
        return (b, os.getpid())

    r = run_map(Pipeline([first, second]), {"a": 1})
    assert r["c"].output == (os.getpid(), os.getpid())


def test_storage_dict_with_tuple_key_roundtrip(tmp_path) -> None:
    from pipemap.runner import RunInfo

    @pipefunc(("y1", "y2"), mapspec="x[i] -> y1[i], y2[i]")
    def split(x):
        return x, -x

    @pipefunc("z", mapspec="y1[i] -> z[i]")
    def ident(y1):
        return y1

    storage = {("y1", "y2"): "file_array", "": "shared_memory_dict"}
    r = run_map(Pipeline([split, ident]), {"x": [1, 2]}, run_folder=tmp_path, storage=storage, parallel=False)
    assert type(r["y1"].store).__name__ == "FileArray"
    assert type(r["z"].store).__name__ == "SharedMemoryDictArray"
    assert RunInfo.load(tmp_path).storage == storage


def test_profile_with_parallel_warns() -> None:
    pf = PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]", profile=True)
    with pytest.warns(UserWarning, match="`profile=True` is not supported with `parallel=True`"):
        run_map(Pipeline([pf]), {"x": [1]}, storage="dict")


def test_inputs_by_reference(tmp_path) -> None:
    from pipemap.storage import FileArray, FileValue

    xs = FileArray.from_data([1, 2, 3], tmp_path / "xs")
    offset = FileValue.from_data(100, tmp_path / "offset.cloudpickle")

    @pipefunc("y", mapspec="x[i] -> y[i]")
    def shift(x, offset):
        return x + offset

    @pipefunc("s")
    def plus(offset, y):
        return offset + int(np.sum(y))

    r = run_map(Pipeline([shift, plus]), {"x": xs, "offset": offset}, parallel=False)
    assert r["y"].output.tolist() == [101, 102, 103]
    assert r["s"].output == 406


def test_fixed_indices_resume_results_hold_only_the_fixed_positions(tmp_path) -> None:
    p = Pipeline([PipeFunc(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, fixed_indices={"i": 2}, parallel=False)
    r = run_map(p, {"x": [1, 2, 3]}, run_folder=tmp_path, fixed_indices={"i": 0}, resume=True, parallel=False)
    assert r["y"].output.tolist() == [2, None, None]
