"""The history recorder: one clock for every worker and the nemesis, one writer.

Ops are appended to ``history.jsonl`` as they happen (one JSON object a line, flushed per
line), so a crashed or interrupted run keeps everything recorded up to that moment.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

TAIL_ORDER = ("key", "value", "node", "context", "error")  # after index type process time f
_encode = json.JSONEncoder(separators=(",", ":")).encode


class Clock:
    """Nanoseconds since the test started, from the monotonic clock."""

    def __init__(self) -> None:
        self.origin = time.monotonic_ns()

    def now(self) -> int:
        return time.monotonic_ns() - self.origin


class HistoryWriter:
    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def record(self, type: str, process: int | str, f: str, **fields: Any) -> dict[str, Any]:
        """Stamp index and time on an op, write it, and return it."""
        with self._lock:
            op: dict[str, Any] = {
                "index": self.count,
                "type": type,
                "process": process,
                "time": self.clock.now(),
                "f": f,
            }
            for k in TAIL_ORDER:
                if k in fields:
                    op[k] = fields.pop(k)
            op.update(fields)
            self._file.write(_encode(op) + "\n")
            self._file.flush()
            self.count += 1
            return op

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()
                os.fsync(self._file.fileno())
                self._file.close()
