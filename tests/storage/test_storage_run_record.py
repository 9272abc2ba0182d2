"""RunRecord (run_info.json), open_store / open_run_folder, FileValue / DirectValue."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pipemap.storage import (
    DictArray,
    DirectValue,
    FileArray,
    FileValue,
    RunFolderError,
    RunRecord,
    mapped_outputs,
    open_run_folder,
    open_store,
    output_folder,
)


def make_record(folder: Path, storage="file_array", **overrides) -> RunRecord:
    fields = dict(  # noqa: C408
        inputs={"x": [1, 2, 3], "w": [10, 20]},
        defaults={"c": 5},
        all_output_names={"y", "z", "s"},
        shapes={"x": (3,), "w": (2,), "y": (3,), "z": (3, 2)},
        resolved_shapes={"x": (3,), "w": (2,), "y": (3,), "z": (3, 2)},
        internal_shapes=None,
        shape_masks={"y": (True,), "z": (True, True)},
        run_folder=folder,
        mapspecs_as_strings=["x[i] -> y[i]", "x[i], w[j] -> z[i, j]"],
        storage=storage,
    )
    fields.update(overrides)
    return RunRecord(**fields)


def test_json_layout(tmp_path: Path) -> None:
    record = make_record(tmp_path)
    record.dump()
    data = json.loads(RunRecord.path(tmp_path).read_text())
    assert "version" not in data  # pipemap's metadata lives in pipemap.json (format 2)
    assert data["all_output_names"] == ["s", "y", "z"]
    assert data["shapes"] == {"x": [3], "w": [2], "y": [3], "z": [3, 2]}
    assert data["internal_shapes"] is None
    assert data["storage"] == "file_array"
    assert data["error_handling"] == "raise"
    assert data["input_paths"] == {"x": "inputs/x.cloudpickle", "w": "inputs/w.cloudpickle"}
    assert data["defaults_path"] == "defaults/defaults.cloudpickle"
    assert data["run_folder"] == str(tmp_path.absolute())
    meta = json.loads((tmp_path / "pipemap.json").read_text())
    assert meta["version"] == 2 and "pipemap_version" in meta and "created_at" in meta
    assert not {"pipemap_version", "created_at", "bound_path"} & data.keys()
    assert (tmp_path / "inputs" / "x.cloudpickle").is_file()
    assert RunRecord.path(tmp_path).read_text().startswith("{\n    ")


def test_roundtrip_and_tuple_keys(tmp_path: Path) -> None:
    record = make_record(
        tmp_path,
        storage={("y1", "y2"): "file_array", "": "dict"},
        shapes={"x": (3,), ("y1", "y2"): (3, "?")},
        resolved_shapes={"x": (3,), ("y1", "y2"): (3, 4)},
        shape_masks={("y1", "y2"): (True, False)},
        internal_shapes={"y1": ("?",)},
        mapspecs_as_strings=["x[i] -> y1[i, j], y2[i, j]"],
        all_output_names={"y1", "y2"},
        error_handling="continue",
    )
    record.dump()
    assert json.loads(RunRecord.path(tmp_path).read_text())["storage"] == {"y1,y2": "file_array", "": "dict"}
    loaded = RunRecord.load(tmp_path)
    assert loaded.storage == {("y1", "y2"): "file_array", "": "dict"}
    assert loaded.shapes == {"x": (3,), ("y1", "y2"): (3, "?")}
    assert loaded.resolved_shapes[("y1", "y2")] == (3, 4)
    assert loaded.internal_shapes == {"y1": ("?",)}
    assert loaded.inputs == record.inputs and loaded.defaults == {"c": 5}
    assert loaded.error_handling == "continue"
    assert loaded.storage_id_for("y2") == "file_array"
    store = open_store(loaded, "y2")
    assert isinstance(store, FileArray)
    assert (store.shape, store.internal_shape, store.shape_mask) == ((3,), (4,), (True, False))
    assert store.folder == tmp_path.absolute() / "outputs" / "y2"


def test_moved_folder_and_open_run_folder(tmp_path: Path) -> None:
    record = make_record(tmp_path / "a", storage={"z": "dict", "": "file_array"})
    record.dump()
    y = open_store(record, "y")
    y.dump_many(range(3), [2, 4, 6])
    z = open_store(record, "z")
    assert isinstance(z, DictArray)
    z.dump((0, 1), "zz")
    z.persist()
    FileValue(output_folder(tmp_path / "a", "s").with_suffix(".cloudpickle")).dump(12)
    shutil.move(tmp_path / "a", tmp_path / "b")
    loaded, stores = open_run_folder(tmp_path / "b")
    assert loaded.run_folder == (tmp_path / "b").absolute()
    assert sorted(stores) == ["s", "y", "z"]
    assert stores["y"].to_array().tolist() == [2, 4, 6]
    assert stores["z"].to_array()[0, 1] == "zz"
    assert isinstance(stores["s"], FileValue) and stores["s"].load() == 12


def test_subclass_load_returns_subclass(tmp_path: Path) -> None:
    class RunInfoLike(RunRecord):
        def extra(self) -> int:
            return len(self.inputs)

    make_record(tmp_path).dump()
    loaded = RunInfoLike.load(tmp_path)
    assert isinstance(loaded, RunInfoLike) and loaded.extra() == 2
    loaded.resolved_shapes["y"] = (4,)  # mutable


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="is not a run folder: it does not exist"):
        RunRecord.load(tmp_path / "nope")
    with pytest.raises(RunFolderError, match="has no `run_info.json`"):
        RunRecord.load(tmp_path)
    make_record(tmp_path).dump()
    path = RunRecord.path(tmp_path)
    data = json.loads(path.read_text())

    def write(d) -> None:
        path.write_text(json.dumps(d))

    write({**data, "version": 99})
    with pytest.raises(RunFolderError, match="format version 99"):
        RunRecord.load(tmp_path)
    meta_path = tmp_path / "pipemap.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "version": 99}))
    write(data)
    with pytest.raises(RunFolderError, match=r"pipemap.json` has format version 99"):
        RunRecord.load(tmp_path)
    meta_path.write_text(json.dumps(meta))
    write({k: v for k, v in data.items() if k != "shapes"})
    with pytest.raises(RunFolderError, match="missing the required field `shapes`"):
        RunRecord.load(tmp_path)
    write({**data, "mapspecs_as_strings": "x[i] -> y[i]"})
    with pytest.raises(RunFolderError, match="field `mapspecs_as_strings` has type str"):
        RunRecord.load(tmp_path)
    write(data)
    (tmp_path / "inputs" / "x.cloudpickle").write_bytes(b"\x80\x05broken")
    with pytest.raises(RunFolderError, match="Could not load input `x`"):
        RunRecord.load(tmp_path)
    path.write_text("{not json")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        RunRecord.load(tmp_path)


def test_legacy_pipefunc_layout(tmp_path: Path) -> None:
    """A version-less run_info.json with absolute paths and no error_handling loads."""
    make_record(tmp_path).dump()
    path = RunRecord.path(tmp_path)
    data = json.loads(path.read_text())
    (tmp_path / "pipemap.json").unlink()
    del data["error_handling"]
    data["pipefunc_version"] = "0.93.2"
    data["input_paths"] = {k: f"/old/place/run/{v}" for k, v in data["input_paths"].items()}
    path.write_text(json.dumps(data))
    loaded = RunRecord.load(tmp_path)
    assert loaded.error_handling == "raise" and loaded.inputs["w"] == [10, 20]
    assert loaded.pipemap_version == "0.93.2"


def test_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="path separator"):
        output_folder(tmp_path, "a/b")
    with pytest.raises(ValueError, match="path separator"):
        output_folder(tmp_path, "..")
    record = make_record(tmp_path, inputs={"../evil": 1})
    with pytest.raises(ValueError, match="path separator"):
        record.dump()


def test_open_store_rejects_single_outputs(tmp_path: Path) -> None:
    record = make_record(tmp_path)
    with pytest.raises(ValueError, match="`s` is not a mapped output"):
        open_store(record, "s")


def test_mapped_outputs_parsing() -> None:
    specs = ["a[i], b[j] -> c[i, j]", "... -> g[k]", "foo.bar[i] -> baz.qux[i]", "c[i, :] -> d[i], e[i]"]
    assert mapped_outputs(specs) == {"c": ("c",), "baz.qux": ("baz.qux",), "d": ("d", "e"), "e": ("d", "e")}


def test_values(tmp_path: Path) -> None:
    fv = FileValue(tmp_path / "o" / "v.cloudpickle")
    assert not fv.exists()
    fv.dump(np.arange(3))
    assert fv.exists() and fv.load().tolist() == [0, 1, 2]
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["v.cloudpickle"]  # no temporaries left
    dv = DirectValue()
    assert not dv.exists()
    dv.value = None
    assert dv.exists() and dv.value is None
