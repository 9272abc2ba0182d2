"""A run folder (or an output folder) deleted while a run writes into it.

Every folder-backed storage must refuse to write into a vanished output folder with an error that
names the output folder, so the run fails instead of reporting success; and no write may
re-create a half folder (an output folder without its metadata) in its place.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from pipemap.runner import PipeFunc, Pipeline, run_map
from pipemap.storage import ChunkedArray, FileArray, RunFolderLostError, get_storage_class

FOLDER_BACKED = ["file_array", "chunked", "zarr_file_array"]
N = 40
K = 17  # the element whose function deletes the run folder


def _deleting_pipeline(run_folder: Path) -> Pipeline:
    folder = str(run_folder)
    done = _done_marker(run_folder)

    def f(x: int) -> int:
        if x == K:  # other workers may be writing: repeat until a removal was not raced
            while os.path.exists(folder):
                shutil.rmtree(folder, ignore_errors=True)
            open(done, "w").close()  # noqa: SIM115
        return 2 * x

    return Pipeline([PipeFunc(f, "y", mapspec="x[i] -> y[i]"), PipeFunc(lambda y: y + 1, "z", mapspec="y[i] -> z[i]")])


def _done_marker(run_folder: Path) -> str:
    return str(run_folder.parent / "deleted")


def _wait_for_the_deletion(run_folder: Path) -> None:
    """The run may fail (another chunk's write) while element K still removes the folder."""
    deadline = time.monotonic() + 120
    while not os.path.exists(_done_marker(run_folder)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.exists(_done_marker(run_folder)), "element K never finished deleting the run folder"


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(max_workers=2) as ex:
        yield ex


@pytest.mark.parametrize("storage", FOLDER_BACKED)
@pytest.mark.parametrize("mode", ["sequential", "process_pool"])
def test_run_whose_folder_is_deleted_mid_run_fails_naming_the_folder(
    tmp_path: Path, storage: str, mode: str, pool: ProcessPoolExecutor
) -> None:
    run_folder = tmp_path / "run"
    kwargs = {"parallel": False} if mode == "sequential" else {"parallel": True, "executor": pool}
    # refused by the storage (its folder is gone) or, in a worker, already by the run's ownership
    # check (the folder's lock is gone with it)
    with pytest.raises((OSError, RunFolderLostError)) as info:
        run_map(_deleting_pipeline(run_folder), {"x": list(range(N))}, run_folder=run_folder, storage=storage,
                chunksizes=4, **kwargs)  # fmt: skip
    text = str(info.value) + " ".join(getattr(info.value, "__notes__", []))
    assert str(run_folder / "outputs") in text or isinstance(info.value, RunFolderLostError), text
    assert str(run_folder) in text and "no longer exists" in text, text
    _wait_for_the_deletion(run_folder)
    # nothing re-created a half folder: no output folder without its storage's metadata
    assert not (run_folder / "outputs" / "y").exists()
    assert not (run_folder / "outputs" / "z").exists()


@pytest.mark.parametrize("storage", FOLDER_BACKED)
@pytest.mark.parametrize("what", ["run_folder", "output_folder"])
def test_write_into_a_vanished_folder_raises_and_creates_nothing(tmp_path: Path, storage: str, what: str) -> None:
    run_folder = tmp_path / "run"
    folder = run_folder / "outputs" / "y"
    store = get_storage_class(storage)(folder, (10,))
    store.dump_many([0, 1], ["a", "b"])  # directories of the first chunk exist now
    shutil.rmtree(run_folder if what == "run_folder" else folder)
    for indices in ([2], [9]):  # an already known chunk, then a new one
        with pytest.raises(FileNotFoundError, match="no longer exists") as info:
            store.dump_many(indices, ["c"])
        assert str(folder) in str(info.value)
        assert not folder.exists()
    assert run_folder.exists() == (what == "output_folder")


@pytest.mark.parametrize("storage", FOLDER_BACKED)
def test_storage_unpickled_in_a_worker_after_the_folder_vanished_creates_nothing(tmp_path: Path, storage: str) -> None:
    import pickle

    folder = tmp_path / "run" / "outputs" / "y"
    store = get_storage_class(storage)(folder, (4,))
    blob = pickle.dumps(store)
    shutil.rmtree(tmp_path / "run")
    try:
        copy = pickle.loads(blob)
        copy.dump_many([0], [1])
    except FileNotFoundError as exc:
        assert str(folder) in str(exc)
    else:  # pragma: no cover - must not happen
        pytest.fail("wrote into a vanished folder")
    assert not (tmp_path / "run").exists()


def test_chunked_still_recreates_a_removed_chunk_directory(tmp_path: Path) -> None:
    """A chunk directory removed inside a live output folder is re-created (elements of other
    chunks are unaffected); only the output folder itself is never re-created."""
    store = ChunkedArray(tmp_path / "y", (10,), chunk_size=4)
    store.dump_many([1, 5], ["a", "b"])
    shutil.rmtree(tmp_path / "y" / "c0")
    store.dump_many([2], ["c"])
    assert store.get_many([1, 2, 5]) == [np.ma.masked, "c", "b"]


def test_file_array_error_names_output_and_elements(tmp_path: Path) -> None:
    store = FileArray(tmp_path / "run" / "outputs" / "y", (3,))
    shutil.rmtree(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match=r"outputs/y` no longer exists"):
        store.dump_many([0, 1], [1, 2])


@pytest.mark.parametrize("parallel", [False, True])
def test_single_output_of_a_deleted_run_folder_is_not_re_created(tmp_path: Path, parallel: bool) -> None:
    run_folder = tmp_path / "run"
    folder = str(run_folder)

    def total(x: list[int]) -> int:
        shutil.rmtree(folder)
        return sum(x)

    with pytest.raises(FileNotFoundError, match="no longer exists") as info:
        run_map(Pipeline([PipeFunc(total, "s")]), {"x": [1, 2]}, run_folder=run_folder, parallel=parallel)
    assert str(run_folder) in str(info.value)
    assert not run_folder.exists()


@pytest.mark.parametrize("storage", ["dict", "shared_memory_dict", "zarr_memory", "zarr_shared_memory"])
def test_memory_storage_does_not_persist_into_a_re_created_run_folder(tmp_path: Path, storage: str) -> None:
    """Memory storages persist at the end of the run: into a deleted run folder that fails
    (naming the output folder) instead of re-creating a half run folder."""
    run_folder = tmp_path / "run"
    with pytest.raises(FileNotFoundError, match="no longer exists") as info:
        run_map(_deleting_pipeline(run_folder), {"x": list(range(N))}, run_folder=run_folder, storage=storage,
                parallel=False)  # fmt: skip
    assert str(run_folder / "outputs") in str(info.value)
    _wait_for_the_deletion(run_folder)
    assert not run_folder.exists()
