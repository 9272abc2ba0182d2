"""DictArray reopened on a persisted folder before its shape is known (a resume of a "?" shape)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipemap.storage import DictArray


def test_persisted_elements_wait_for_the_shape(tmp_path: Path) -> None:
    first = DictArray(tmp_path, (3, 2))
    first.dump((0, 1), "a")
    first.dump((2, 0), "b")
    first.persist()
    again = DictArray(tmp_path, ("?", "?"))  # the run resolves the shape later
    again.shape = (3, 2)
    assert again.done_mask().tolist() == [False, True, False, False, True, False]
    assert again[2, 0] == "b"


def test_persisted_elements_outside_the_resolved_shape_are_refused(tmp_path: Path) -> None:
    first = DictArray(tmp_path, (3,))
    first.dump((2,), "c")
    first.persist()
    again = DictArray(tmp_path, ("?",))
    again.shape = (2,)
    with pytest.raises(ValueError, match=r"holds elements outside the shape \(2,\); the run folder is damaged"):
        again.done_mask()
