"""Bad run folders, continued: output folders of another run's shape (and folders written before
shape records existed), and hand-edited mapspecs that do not parse. Every case ends in a clear
error naming the file or field, or in a correct result.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _badfolder_helpers import INPUTS, STATS, all_readers as _all_readers, assert_clear as _assert_clear, pipeline as _pipeline
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import RunFolderError, RunRecord, open_run_folder

pytestmark = pytest.mark.reliability


# --------------------------------------------------------------------------- outputs of another shape (item 6)
def _swap_in_foreign_z(tmp_path: Path, storage: str) -> Path:
    """``small/outputs/z`` (3 x 2) replaced by the `z` folder of a 7 x 3 run."""
    small, big = tmp_path / "small", tmp_path / "big"
    run_map(_pipeline(), INPUTS, run_folder=small, storage=storage, parallel=False)
    run_map(_pipeline(), {"x": list(range(7)), "w": [1, 2, 3]}, run_folder=big, storage=storage, parallel=False)
    shutil.rmtree(small / "outputs" / "z")
    shutil.copytree(big / "outputs" / "z", small / "outputs" / "z")
    return small


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".pipemap.lock"}


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_output_folder_of_another_shape_is_refused(tmp_path: Path, storage: str) -> None:
    import pipemap.io as pio

    small = _swap_in_foreign_z(tmp_path, storage)
    z_folder = small / "outputs" / "z"
    for load in (
        lambda: pio.load_outputs("z", run_folder=small),
        lambda: pio.load_all_outputs(small),
        lambda: pio.load_xarray_dataset(run_folder=small),
        lambda: pio.load_dataframe("z", run_folder=small),
        lambda: open_run_folder(small)[1]["z"].to_array(),
    ):
        with pytest.raises(RunFolderError) as info:
            load()
        msg = str(info.value)
        assert "`z`" in msg and str(z_folder) in msg and "(3, 2)" in msg and "(7, 3)" in msg, msg
    # resume: refused before any work, nothing in the folder touched (the functions are the stored
    # run's: a function with other code would be recomputed with its downstream, z's folder removed)
    (small / "outputs" / "y").rename(small / "outputs" / "y-moved")  # y would have to be recomputed first
    before = _snapshot(small)
    with pytest.raises(RunFolderError, match=r"`z`.*\(3, 2\).*\(7, 3\)"):
        run_map(_pipeline(), INPUTS, run_folder=small, storage=storage, parallel=False, resume=True)
    after = _snapshot(small)
    for record in ("run_info.json", "pipemap.json"):  # a resume rewrites the record first
        before.pop(record), after.pop(record)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing changed or lost
    assert not [k for k in set(after) - set(before) if k.endswith((".pickle", ".pack"))]  # nothing computed


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_output_folder_of_another_unresolved_shape_is_refused_on_resume(tmp_path: Path, storage: str) -> None:
    """A shape known only at run time ("?"): the check happens when it is resolved, before `y` runs."""
    calls: list = []

    def pipeline() -> Pipeline:
        return Pipeline(
            [
                PipeFunc(lambda n: list(range(n)), "x"),
                PipeFunc(lambda x: calls.append(x) or 2 * x, "y", mapspec="x[i] -> y[i]"),
            ]
        )

    run_map(pipeline(), {"n": 3}, run_folder=tmp_path / "a", storage=storage, parallel=False)
    run_map(pipeline(), {"n": 5}, run_folder=tmp_path / "b", storage=storage, parallel=False)
    shutil.rmtree(tmp_path / "a" / "outputs" / "y")
    shutil.copytree(tmp_path / "b" / "outputs" / "y", tmp_path / "a" / "outputs" / "y")
    calls.clear()
    with pytest.raises(RunFolderError, match=r"`y`.*\(3,\).*\(5,\)"):
        run_map(pipeline(), {"n": 3}, run_folder=tmp_path / "a", storage=storage, parallel=False, resume=True)
    assert calls == []
    import pipemap.io as pio

    with pytest.raises(RunFolderError, match=r"`y`.*\(3,\).*\(5,\)"):
        pio.load_outputs("y", run_folder=tmp_path / "a")


@pytest.mark.parametrize("storage", ["file_array", "chunked"])
def test_output_folders_without_shape_record_still_load_and_resume(tmp_path: Path, storage: str) -> None:
    """Folders written before the shape record existed (or by pipefunc) are read as before."""
    import pipemap.io as pio

    folder = tmp_path / "run"
    run_map(_pipeline(), INPUTS, run_folder=folder, storage=storage, parallel=False)
    records = list((folder / "outputs").rglob("shape.json"))
    assert {p.parent.name for p in records} == {"y", "z"}
    for p in records:
        p.unlink()
    assert pio.load_outputs("z", run_folder=folder).tolist() == [[20, 40], [40, 80], [60, 120]]
    (folder / "outputs" / "s.cloudpickle").unlink()
    r = run_map(_pipeline(), INPUTS, run_folder=folder, storage=storage, parallel=False, resume=True)
    assert r["s"].output == 360


# --------------------------------------------------------------------------- mapspecs that do not parse (item 7)
@pytest.mark.parametrize("bad", ["x[i -> y[i]", "x[i] -> y(i)", "x[i] -> [i]", "x[i] -> y[j]", "x[i] y[i]"])
def test_run_info_mapspec_that_does_not_parse(tmp_path: Path, bad: str) -> None:
    import pipemap.io as pio

    folder = tmp_path / "run"
    run_map(_pipeline(), INPUTS, run_folder=folder, parallel=False)
    path = folder / "run_info.json"
    data = json.loads(path.read_text())
    data["mapspecs_as_strings"][0] = bad
    path.write_text(json.dumps(data))
    loaders = {
        "load_outputs(y)": lambda: pio.load_outputs("y", run_folder=folder),
        "load_outputs(z)": lambda: pio.load_outputs("z", run_folder=folder),
        "load_all_outputs": lambda: pio.load_all_outputs(folder),
        "load_xarray_dataset": lambda: pio.load_xarray_dataset(run_folder=folder),
        "load_dataframe": lambda: pio.load_dataframe("z", run_folder=folder),
        "RunRecord.load": lambda: RunRecord.load(folder),
        "open_run_folder": lambda: open_run_folder(folder),
    }
    for name, load in loaders.items():
        with pytest.raises(RunFolderError) as info:
            load()
        msg = str(info.value)
        assert str(path) in msg and repr(bad) in msg and "mapspecs_as_strings" in msg, f"{name}: {msg}"
    _assert_clear(_all_readers(folder), f"mapspec {bad!r}")


def test_badfolder_statistics_report() -> None:
    print(f"\nreliability bad-folder figures: {STATS}")
