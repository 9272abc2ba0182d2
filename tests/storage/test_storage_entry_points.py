"""Backends announced through the ``pipemap.storage`` entry-point group are found by id."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pipemap.storage._registry import StorageRegistry


def test_entry_point_backend_is_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ep_backend_mod.py").write_text(textwrap.dedent("""
        from pipemap.storage import DictArray

        class EntryPointStorage(DictArray):
            storage_id = "ep_backend"
    """))
    dist = tmp_path / "ep_backend-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-backend\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[pipemap.storage]\nep_backend = ep_backend_mod:EntryPointStorage\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = StorageRegistry()
    assert "ep_backend" in registry
    assert "ep_backend" in list(registry)
    cls = registry["ep_backend"]
    assert cls.__name__ == "EntryPointStorage"
    store = cls(None, (2,))
    store.dump((1,), "x")
    assert store.to_array().tolist() == [None, "x"]
    # built-ins keep priority over an entry point with the same id
    assert registry["file_array"].__name__ == "FileArray"
