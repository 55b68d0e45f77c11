"""Live progress: a one-line rich display on a terminal, plain lines in CI and logs."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from harness.runner import Tally

PLAIN_EVERY = 5.0


class Progress:
    """Shows ops/s, ok/fail/info counts, the phase and the fault in force."""

    def __init__(self, mode: str = "auto", stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        if mode == "auto":
            interactive = self.stream.isatty() and not os.environ.get("CI")
            mode = "live" if interactive else "plain"
        self.mode = mode
        self._start = time.monotonic()
        self._last_line = 0.0
        self._last_phase = ""
        self._prev = (self._start, 0)
        self._rate = 0.0
        self._live: Any = None

    def start(self) -> None:
        self._start = time.monotonic()
        self._prev = (self._start, 0)
        if self.mode == "live":
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                "", console=Console(file=self.stream), refresh_per_second=4, transient=False
            )
            self._live.start()

    def text(self, t: Tally) -> str:
        elapsed = time.monotonic() - self._start
        return (
            f"[{elapsed:6.1f}s] {t.phase:<11} {self._rate:7.0f} ops/s  "
            f"ok {t.ok}  fail {t.fail}  info {t.info}  fault: {t.fault}"
        )

    def update(self, t: Tally) -> None:
        now = time.monotonic()
        done = t.ok + t.fail + t.info
        then, before = self._prev
        if now - then >= 1.0:
            self._rate = (done - before) / (now - then)
            self._prev = (now, done)
        if self.mode == "live" and self._live is not None:
            self._live.update(self.text(t))
        elif self.mode == "plain" and (
            now - self._last_line >= PLAIN_EVERY or t.phase != self._last_phase
        ):
            self._last_line, self._last_phase = now, t.phase
            print(self.text(t), file=self.stream, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
