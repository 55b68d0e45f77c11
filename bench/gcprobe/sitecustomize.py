"""Times every cyclic-collector pass of a Python process and, at exit, writes per generation
the passes, their total and longest wall time, to ``$GCPROBE_DIR/<pid>.txt``.

Put this folder on ``PYTHONPATH`` and every Python process started with it loads it — the
nodes of a loopback cluster too:

    GCPROBE_DIR=/tmp/gc PYTHONPATH=bench/gcprobe flock /tmp/dh-cluster.lock \\
        .venv/bin/python bench/profile_node.py --no-profile --seconds 8
    cat /tmp/gc/*.txt

Wall time, not CPU: on a busy machine a pass can be preempted, and that is what a request
waiting behind it sees too. Without ``GCPROBE_DIR`` it does nothing.
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from pathlib import Path
from typing import Any

_OUT = os.environ.get("GCPROBE_DIR")
_started: list[float] = [0.0]
_passes: dict[int, list[float]] = {}


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    _passes.setdefault(info["generation"], []).append(time.perf_counter() - _started[0])


def _write() -> None:
    assert _OUT is not None
    lines = [f"pid {os.getpid()}: {len(gc.get_objects())} objects tracked at exit"]
    for generation, times in sorted(_passes.items()):
        lines.append(
            f"gen{generation}: {len(times)} passes, {sum(times) * 1e3:.1f} ms in all, "
            f"longest {max(times) * 1e3:.2f} ms"
        )
    path = Path(_OUT)
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{os.getpid()}.txt").write_text("\n".join(lines) + "\n")


if _OUT:
    gc.callbacks.append(_timed)
    atexit.register(_write)
