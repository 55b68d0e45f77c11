"""An asyncio event loop on virtual time.

``SimLoop`` is asyncio's own selector loop with two changes: ``time()`` reads a counter, and
the selector never waits on the OS. When no callback is ready, the loop would sleep until its
next timer; here the clock jumps to that timer instead. So ``asyncio.sleep(60)`` costs no
real time, every timeout and interval of the node runs unchanged, and two runs that make the
same calls in the same order see the same times — the simulation is as deterministic as the
code it runs. The simulator does no real I/O: a loop with nothing ready and no timer is
stuck, and says so.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class Deadlock(RuntimeError):
    """Nothing is ready and no timer is set: the simulation can never move again."""


class _VirtualSelector(selectors.SelectSelector):
    """Registrations as usual (the loop's self-pipe); ``select`` moves the clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: SimLoop | None = None

    def select(self, timeout: float | None = None) -> list[Any]:
        loop = self.loop
        assert loop is not None
        if timeout is None:
            raise Deadlock(f"nothing to run and no timer at t={loop.time():.6f}")
        if timeout > 0:
            scheduled = loop._scheduled  # type: ignore[attr-defined]
            loop.now = max(loop.now + timeout, scheduled[0]._when if scheduled else 0.0)
        return []


class SimLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock is ``now`` (seconds, from 0)."""

    def __init__(self) -> None:
        selector = _VirtualSelector()
        self.now = 0.0
        super().__init__(selector)
        selector.loop = self

    def time(self) -> float:
        return self.now


def run(main: Any) -> Any:
    """Run a coroutine to completion on a fresh ``SimLoop``; close the loop after (any
    task still pending is cancelled first, so nothing leaks into the next run)."""
    loop = SimLoop()
    try:
        return loop.run_until_complete(main)
    finally:
        _cancel_all(loop)
        loop.close()


def _cancel_all(loop: SimLoop) -> None:
    """Cancel every pending task, again for tasks the cancelled ones start on their way out
    (a node's read repair spawned as a request ends), until none is left."""
    for _ in range(100):
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
