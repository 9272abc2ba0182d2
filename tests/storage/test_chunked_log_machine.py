"""A hypothesis state machine on `chunked`'s write path, compared with a dict model (issue 20).

Interleaves single dumps (the log), bulk dumps (packs), reads through the writer and through a
fresh reader, persist, close, compaction (by the writer or by another object), and simulated
crashes that leave a torn record at the end of a log. Model: ``written`` holds every value the
writer stored; a crash happens after a flush (the kill tests cover losing the buffer), so the
model stays exact and a fresh reader after any flush point must equal it.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pipemap.storage import ChunkedArray
from pipemap.storage._chunklog import LOG_SUFFIX, _frame

SIZE = 24
CHUNK = 8
indices = st.integers(0, SIZE - 1)
values = st.one_of(st.integers(), st.text(max_size=5), st.tuples(st.integers(), st.booleans()), st.none())


class ChunkedLogMachine(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chunked_machine_"))
        self.store = ChunkedArray(self.folder, (SIZE,), chunk_size=CHUNK, max_packs=3)
        self.model: dict[int, object] = {}

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _fresh(self) -> ChunkedArray:
        return ChunkedArray(self.folder, (SIZE,), chunk_size=CHUNK)

    def _expected(self) -> list[object]:
        return [self.model.get(i, np.ma.masked) for i in range(SIZE)]

    @rule(i=indices, value=values)
    def dump(self, i: int, value: object) -> None:
        self.store.dump(i, value)
        self.model[i] = value

    @rule(pairs=st.lists(st.tuples(indices, values), min_size=1, max_size=6))
    def dump_many(self, pairs: list[tuple[int, object]]) -> None:
        self.store.dump_many([i for i, _ in pairs], [v for _, v in pairs])
        for i, v in pairs:
            self.model[i] = v

    @rule(i=indices)
    def read_own(self, i: int) -> None:
        assert self.store.get_many([i]) == [self.model.get(i, np.ma.masked)]

    @rule()
    def persist_then_fresh_read(self) -> None:
        self.store.persist()
        fresh = self._fresh()
        assert fresh.get_many(range(SIZE)) == self._expected()
        assert fresh.done_mask().tolist() == [i in self.model for i in range(SIZE)]

    @rule()
    def close(self) -> None:
        self.store.close()

    @rule()
    def compact_by_writer(self) -> None:
        self.store.compact()
        assert not list(self.folder.glob(f"c*/*{LOG_SUFFIX}"))

    @rule()
    def compact_by_other(self) -> None:
        self.store.flush()
        self._fresh().compact()  # the writer's open logs stay

    @precondition(lambda self: self.store._writer is not None and bool(self.store._writer.fds))
    @rule(data=st.data())
    def crash_with_torn_tail(self, data: st.DataObject) -> None:
        writer = self.store._writer
        assert writer is not None
        writer.flush()
        chunk = data.draw(st.sampled_from(sorted(writer.fds)))
        path = self.folder / f"c{chunk}" / writer.names[chunk]
        for fd in writer.fds.values():  # the process dies: its fds close, its flocks go
            os.close(fd)
        writer.fds.clear()
        writer.names.clear()
        writer.buffers.clear()
        writer.dirty = False
        self.store._writer = None
        payload = pickle.dumps("never served")
        head, crc = _frame(chunk * CHUNK, payload)
        record = head + payload + crc
        cut = data.draw(st.integers(1, len(record) - 1))
        with open(path, "ab") as handle:
            handle.write(record[:cut])
        self.store = ChunkedArray(self.folder, (SIZE,), chunk_size=CHUNK, max_packs=3)  # the restarted writer

    @invariant()
    def own_view_matches_model(self) -> None:
        if hasattr(self, "store"):
            assert self.store.get_many(range(SIZE)) == self._expected()


TestChunkedLogMachine = ChunkedLogMachine.TestCase
TestChunkedLogMachine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
