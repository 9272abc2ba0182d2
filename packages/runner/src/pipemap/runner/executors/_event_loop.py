"""A parallel run starts without an event loop and asks for one only when work leaves the parent.

``run_map`` drives its coroutine from synchronous code. A sequential run never suspends, so one
``send`` finishes it. A parallel run on pipemap's default pool often does not suspend either: its
functions are measured too cheap for the pool and run in the parent (``engine/_inline.py``), and
entering and leaving an event loop costs more than such a run's other fixed costs together (some
0.1-0.3 ms: task creation, the SIGINT handler, a loop turn, caches evicted). So the driver starts
the run like a sequential one; the first code that needs the loop (submitting to an executor,
running functions concurrently, waiting for upstream elements) awaits :func:`on_event_loop`,
which then suspends the run once with :data:`NEED_LOOP`; the driver hands the suspended coroutine
to a loop (an ``asyncio.Task`` resumes it). On a running loop (``run_map_async``, the driver's
own loop) :func:`on_event_loop` returns at once.

>>> async def run():
...     await on_event_loop()
...     return "on a loop"
>>> coro = run()
>>> coro.send(None) is NEED_LOOP  # no loop yet: the run asks for one
True
>>> import asyncio
>>> asyncio.run(coro)  # the loop's task resumes it
'on a loop'
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator

__all__ = ["NEED_LOOP", "on_event_loop"]


class _NeedLoop:
    """What a run started without an event loop yields to its driver to get one."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_LOOP"

    def __await__(self) -> Generator[object, None, None]:
        yield self


#: the one value a run started without an event loop yields (see :func:`on_event_loop`)
NEED_LOOP = _NeedLoop()


async def on_event_loop() -> None:
    """Return on a running event loop: at once when there is one, else after the driver started
    one (the run suspends once, yielding :data:`NEED_LOOP`)."""
    if asyncio._get_running_loop() is None:
        await NEED_LOOP
