"""A third-party backend registered at run time passes the whole conformance suite."""

from __future__ import annotations

from typing import Any

import numpy as np
from pipemap.storage import MISSING, StorageBase, register_storage
from pipemap.storage.testing import StorageConformance


class SortedListStorage(StorageBase):
    """Toy backend: a dict {linear index: value}, only the three primitives implemented."""

    storage_id = "test_sorted_list"
    requires_serialization = False

    def __init__(self, folder: Any, shape: Any, internal_shape: Any = None, shape_mask: Any = None) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        self.items: dict[int, Any] = {}

    def _get_linear(self, index: int) -> Any:
        return self.items.get(index, MISSING)

    def _put_many(self, indices: np.ndarray, values: list[Any]) -> None:
        self.items.update(zip(indices.tolist(), values))

    def done_mask(self) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        mask[list(self.items)] = True
        return mask

    @property
    def dump_in_subprocess(self) -> bool:
        return False


register_storage(SortedListStorage)


class TestThirdPartyBackend(StorageConformance):
    storage_class = SortedListStorage
