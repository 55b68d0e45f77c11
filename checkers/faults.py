"""Fault windows, read off the nemesis ops of a history.

A window runs from the completion of the op that starts a fault to the completion of
the op that heals it, or to the end of the history. ``kill`` and ``pause`` are tracked
per node: their window stays open while any node is still down. A nemesis op that
ended ``fail`` did nothing; one the history never completed counts from its invoke.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers.calls import calls, columns
from checkers.history import Op, derived

OPENS = {
    "start-partition": "partition",
    "start-owners": "partition",
    "kill": "kill",
    "wipe": "wipe",
    "power-off": "power",
    "pause": "pause",
    "bump-clock": "clock",
    "strobe-clock": "clock",
    "start-loss": "loss",
}
CLOSES = {
    "stop-partition": "partition",
    "stop-owners": "partition",
    "start": "kill",
    "start-wiped": "wipe",
    "power-on": "power",
    "resume": "pause",
    "reset-clock": "clock",
    "stop-loss": "loss",
}
PER_NODE = frozenset({"kill", "pause", "wipe", "power"})
_ALL = "*"


@dataclass(frozen=True)
class Window:
    """One fault, e.g. ``partition#2``: when it held and which nodes it touched."""

    name: str
    kind: str
    start: int
    end: int
    healed: bool
    nodes: tuple[str, ...]
    values: tuple[Any, ...]
    start_index: int
    end_index: int | None

    def covers(self, t: int) -> bool:
        return self.start <= t < self.end

    def overlaps(self, start: int, end: int) -> bool:
        return self.start <= end and start < self.end

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "healed": self.healed,
            "nodes": list(self.nodes),
            "values": list(self.values),
            "start_index": self.start_index,
            "end_index": self.end_index,
        }


def nodes_named(value: object) -> set[str]:
    """Node names in a nemesis value: a list, a grudge, ``{node: offset}``, ``{"nodes": …}``."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list | tuple):
        return {v for v in value if isinstance(v, str)}
    if isinstance(value, dict):
        if "nodes" in value:
            return nodes_named(value["nodes"])
        out = {k for k in value if isinstance(k, str)}
        for v in value.values():
            if isinstance(v, list | tuple):
                out |= nodes_named(v)
        return out
    return set()


@dataclass
class _Open:
    start: int
    start_index: int
    nodes: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    values: list[Any] = field(default_factory=list)


def fault_windows(history: Sequence[Op]) -> list[Window]:
    """Every fault window of the history, ordered by start (built once per ``History``)."""
    return derived(history, "fault_windows", _windows)


def _windows(history: Sequence[Op]) -> list[Window]:
    index = calls(history)
    open_: dict[str, _Open] = {}
    closed: list[tuple[str, _Open, int, bool, int | None]] = []
    for invoke, done in index.nemesis:
        if done is not None and done["type"] == "fail":
            continue
        op = done or invoke
        f = invoke["f"]
        value = done["value"] if done is not None and done.get("value") is not None else None
        value = invoke.get("value") if value is None else value
        named = nodes_named(value)
        if (kind := OPENS.get(f)) is not None:
            w = open_.setdefault(kind, _Open(op["time"], op["index"]))
            w.nodes |= named
            w.down |= named or {_ALL}
            w.values.append(value)
        elif (kind := CLOSES.get(f)) is not None and kind in open_:
            w = open_[kind]
            if kind in PER_NODE and named and _ALL not in w.down:
                w.down -= named
            else:
                w.down.clear()
            if not w.down:
                closed.append((kind, open_.pop(kind), op["time"], True, op["index"]))
    for kind, w in open_.items():
        closed.append((kind, w, max(index.end_time, w.start), False, None))
    closed.sort(key=lambda c: (c[1].start, c[1].start_index))
    counts: dict[str, int] = {}
    out = []
    for kind, w, end, healed, end_index in closed:
        counts[kind] = counts.get(kind, 0) + 1
        out.append(
            Window(
                name=f"{kind}#{counts[kind]}",
                kind=kind,
                start=w.start,
                end=end,
                healed=healed,
                nodes=tuple(sorted(w.nodes)),
                values=tuple(w.values),
                start_index=w.start_index,
                end_index=end_index,
            )
        )
    return out


def final_heal(windows: Sequence[Window]) -> int | None:
    """When the last fault ended, or None without faults."""
    return max((w.end for w in windows), default=None)


class Timeline:
    """Which windows are active at a time, answered by bisection over their edges.

    Time is cut at every window edge into segments; ``segment(t)`` names the one
    holding ``t`` (-1 before the first edge), so a caller can tally per segment and
    expand to windows once per segment rather than once per op.
    """

    def __init__(self, windows: Sequence[Window]) -> None:
        self._edges = sorted({w.start for w in windows} | {w.end for w in windows})
        self._active: list[tuple[Window, ...]] = [
            tuple(w for w in windows if w.covers(t)) for t in self._edges
        ]

    @property
    def edges(self) -> list[int]:
        return self._edges

    def segment(self, t: int) -> int:
        return bisect_right(self._edges, t) - 1

    def windows(self, segment: int) -> tuple[Window, ...]:
        return self._active[segment] if segment >= 0 else ()

    def active(self, t: int) -> tuple[Window, ...]:
        return self.windows(self.segment(t))

    def overlapping(self, start: int, end: int) -> tuple[Window, ...]:
        """The windows active at some time in ``[start, end]`` (a call's invoke to its
        completion), in start order: the union over the segments that span it."""
        seen: dict[str, Window] = {}
        for segment in range(max(self.segment(start), 0), self.segment(end) + 1):
            for w in self._active[segment]:
                seen.setdefault(w.name, w)
        return tuple(sorted(seen.values(), key=lambda w: (w.start, w.start_index)))

    def segments(self, times: Iterable[int]) -> list[int]:
        edges = self._edges
        return [bisect_right(edges, t) - 1 for t in times]


def during(windows: Iterable[Window]) -> list[dict[str, Any]]:
    """The windows as a lost write lists them: name, kind, the nodes the fault named
    (its targets), start and end (ns since the test started) and whether it healed. An
    empty list means the write met no fault."""
    return [
        {
            "name": w.name,
            "kind": w.kind,
            "nodes": list(w.nodes),
            "start": w.start,
            "end": w.end,
            "healed": w.healed,
        }
        for w in windows
    ]


def timeline(history: Sequence[Op]) -> Timeline:
    return derived(history, "timeline", lambda h: Timeline(fault_windows(h)))


def call_segments(history: Sequence[Op]) -> list[int]:
    """The timeline segment each client call was invoked in, parallel to its calls."""

    def build(h: Sequence[Op]) -> list[int]:
        return timeline(h).segments(columns(h).invoked)

    return derived(history, "call_segments", build)
