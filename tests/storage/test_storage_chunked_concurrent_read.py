"""A reader never loses sight of a stored chunked element while a writer merges packs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from pipemap.storage import get_storage_class


def test_done_mask_is_monotone_during_merges(tmp_path: Path) -> None:
    cls = get_storage_class("chunked")
    n = 1500
    reader_store = cls(tmp_path, (n,), chunk_size=n, max_packs=2)
    script = (
        "import numpy as np, sys\n"
        "from pipemap.storage import get_storage_class\n"
        f"s = get_storage_class('chunked')(sys.argv[1], ({n},), chunk_size={n}, max_packs=2)\n"
        f"for i in range({n}):\n"
        "    s.dump_many(np.array([i]), [i * 10])\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)])  # a real concurrent writer
    seen = np.zeros(n, dtype=bool)
    regressions = 0
    while writer.poll() is None:
        reader_store._reset_caches()
        mask = reader_store.done_mask()
        regressions += int(np.count_nonzero(seen & ~mask))  # once stored, always stored
        seen |= mask
    assert writer.returncode == 0
    reader_store._reset_caches()
    assert regressions == 0
    assert reader_store.done_mask().all()
    assert reader_store.get_many(np.arange(n)) == [i * 10 for i in range(n)]
