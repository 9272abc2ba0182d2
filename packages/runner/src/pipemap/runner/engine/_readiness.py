"""Element-level readiness for eager scheduling: which chunks of a function may start now.

A :class:`StoredTracker` follows one mapped producer function while it runs: the parent marks
the linear indices it reports stored (after the parent wrote them, or after the worker that
wrote them returned), and keeps the length of the contiguous stored prefix. A :class:`Gate`
belongs to one consumer function: per producer, the highest producer linear index each of the
consumer's elements reads (an over-approximation of the set it reads: a ``:`` slot reads the
whole axis). A consumer element is ready when, for every producer, that highest index lies in
the producer's stored prefix (or the producer finished).

>>> import asyncio
>>> t = StoredTracker()
>>> t.begin(4)
>>> gate = Gate([(t, np.array([0, 1, 3, 3]))])
>>> gate.ready_count(range(4), 0, 4)
0
>>> t.mark(range(0, 2)); gate.ready_count(range(4), 0, 4)
2
>>> t.finish(); gate.ready_count(range(4), 2, 2)
2
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np


class StoredTracker:
    """Which elements of one producer function are stored (readable by any worker).

    >>> t = StoredTracker(); t.begin(3); t.mark([1]); t.prefix
    0
    >>> t.mark(range(0, 1)); t.prefix
    2
    """

    __slots__ = ("_waiters", "finished", "mask", "prefix", "size", "started")

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.size = 0
        self.mask: np.ndarray = np.zeros(0, dtype=bool)
        self.prefix = 0
        self._waiters: list[asyncio.Future] = []

    def begin(self, size: int, stored: np.ndarray | None = None) -> None:
        """The producer starts: ``size`` elements, ``stored`` those already stored (resume)."""
        self.size = size
        self.mask = np.zeros(size, dtype=bool) if stored is None else np.array(stored, dtype=bool)
        self.prefix = 0
        self._advance()
        self.started = True
        self._wake()

    def mark(self, linear: Any) -> None:
        """The elements ``linear`` (range or int array) are now stored."""
        if self.finished or not self.started:
            return
        if isinstance(linear, range):
            self.mask[linear.start : linear.stop] = True
        else:
            self.mask[np.asarray(linear, dtype=np.int64)] = True
        self._advance()
        self._wake()

    def finish(self) -> None:
        """The producer function finished: every element it will ever write is stored."""
        self.started = True
        self.finished = True
        self.prefix = self.size
        self._wake()

    def _advance(self) -> None:
        mask, p, n = self.mask, self.prefix, self.size
        while p < n:
            block = mask[p : p + 4096]
            if block.all():
                p += len(block)
                continue
            p += int(np.argmin(block))
            break
        self.prefix = p

    def add_waiter(self, fut: asyncio.Future) -> None:
        self._waiters.append(fut)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)


class Gate:
    """Readiness of one consumer function's elements (see the module docstring).

    ``needs``: pairs (tracker, highest producer index per consumer linear index), or
    (tracker, None) when the consumer needs the whole producer.
    """

    __slots__ = ("needs",)

    def __init__(self, needs: Sequence[tuple[StoredTracker, np.ndarray | None]]) -> None:
        self.needs = list(needs)

    def ready_count(self, todo: Any, position: int, size: int) -> int:
        """How many of ``todo[position : position + size]`` are ready, counted from the front."""
        open_needs = [(t, hi) for t, hi in self.needs if not t.finished]
        if not open_needs:
            return size
        chunk = todo[position : position + size]
        ok: np.ndarray | None = None
        for tracker, hi in open_needs:
            if hi is None or not tracker.started:
                return 0
            part = hi[chunk.start : chunk.stop] if isinstance(chunk, range) else hi[np.asarray(chunk)]
            good = part < tracker.prefix
            ok = good if ok is None else ok & good
        assert ok is not None
        return len(ok) if ok.all() else int(np.argmin(ok))

    def waiter(self) -> asyncio.Future:
        """A future that completes at the next change of any producer this gate waits for."""
        fut = asyncio.get_running_loop().create_future()
        for tracker, _ in self.needs:
            if not tracker.finished:
                tracker.add_waiter(fut)
        if all(t.finished for t, _ in self.needs):
            fut.set_result(None)
        return fut


def highest_needed(selectors: np.ndarray, producer_shape: Sequence[int]) -> np.ndarray | None:
    """Per consumer element, the highest linear index of the producer array it reads.

    ``selectors`` (n, rank): the consumer's index into the producer array per element, -1 for a
    ``:`` slot (the whole axis). None when the rank does not match the producer's shape.

    >>> highest_needed(np.array([[0, -1], [1, -1]]), (2, 3)).tolist()
    [2, 5]
    >>> highest_needed(np.array([[-1, 1]]), (2, 3)).tolist()
    [4]
    """
    shape = [int(d) for d in producer_shape]
    if selectors.ndim != 2 or selectors.shape[1] != len(shape):
        return None
    if not shape:
        return np.zeros(len(selectors), dtype=np.int64)
    strides = np.ones(len(shape), dtype=np.int64)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    top = np.asarray(shape, dtype=np.int64) - 1
    sel = np.where(selectors < 0, top[None, :], selectors.astype(np.int64))
    return sel @ strides
