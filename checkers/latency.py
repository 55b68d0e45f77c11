"""Latency of ok client calls: completion time minus invoke time, in seconds.

Summaries (count, mean, p50, p95, p99, p999, max) for all ok calls, per ``f`` and per
class (``put``/``get``), each split into healthy and faulty time by the windows active
at invoke. ``fail`` and ``info`` calls are left out: an ``info`` latency is a timeout.
A measurement: true, or unknown without client calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import calls, columns, op_class
from checkers.faults import call_segments, timeline
from checkers.history import Op
from checkers.result import UNKNOWN, Result
from checkers.stats import summary

PHASES = ("healthy", "faulty")


@dataclass(frozen=True)
class Latency:
    name: str = "latency"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        index = calls(history)
        when = timeline(history)
        faulty = [bool(when.windows(s)) for s in range(-1, len(when.edges))]
        cells: dict[tuple[Any, bool], list[int]] = {}
        cols = columns(history)
        for f, result, start, end, segment in zip(
            cols.f, cols.outcome, cols.invoked, cols.completed, call_segments(history), strict=True
        ):
            if result == "ok":
                cells.setdefault((f, faulty[segment + 1]), []).append(end - start)
        for xs in cells.values():
            xs.sort()  # later sorts of concatenations then only merge these runs
        fs = sorted({f for f, _ in cells}, key=str)
        classes = sorted({c for f in fs if (c := op_class(f)) is not None})
        details = {
            "all": _split(cells, lambda f: True),
            "by_f": {f: _split(cells, lambda g, f=f: g == f) for f in fs},
            "by_class": {c: _split(cells, lambda g, c=c: op_class(g) == c) for c in classes},
        }
        return Result(self.name, True if index.client else UNKNOWN, details)


def _split(cells: Mapping[tuple[Any, bool], list[int]], chosen: Any) -> dict[str, Any]:
    healthy: list[int] = []
    faulty: list[int] = []
    for (f, is_faulty), xs in cells.items():
        if chosen(f):
            (faulty if is_faulty else healthy).extend(xs)
    return {
        "all": summary(healthy + faulty),
        "healthy": summary(healthy),
        "faulty": summary(faulty),
    }
