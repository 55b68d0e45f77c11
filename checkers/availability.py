"""Availability: the share of client calls that succeeded, and when none did.

availability = ok / (ok + fail + info), for all calls, per ``f``, per class (``put``
= write/add/delete, ``get`` = read), per node, in healthy time, in faulty time, per
fault kind and per fault window. A call belongs to the windows active when it was
invoked. Also: after each healed window, how long each node took to answer its first
ok call, and the *unavailable windows*: runs of consecutive non-ok completions of one
``f`` lasting at least ``min_gap`` ns (from the first to the last completion of the run).

This is a measurement: its verdict is true (unknown without client calls). Bound it
with ``--expect`` (e.g. ``availability.write>=0.99``, ``unavailable.healthy==0``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import calls, op_class
from checkers.faults import Timeline, Window, call_segments, fault_windows, timeline
from checkers.history import Op
from checkers.result import UNKNOWN, Result, listed
from checkers.stats import NS, ratio

OUTCOMES = ("ok", "fail", "info")


def tally(counts: Mapping[str, int]) -> dict[str, Any]:
    ok, fail, info = (counts.get(k, 0) for k in OUTCOMES)
    return {"ok": ok, "fail": fail, "info": info, "availability": ratio(ok, ok + fail + info)}


@dataclass(frozen=True)
class Availability:
    name: str = "availability"
    min_gap: int = 1_000_000_000

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        index = calls(history)
        when = timeline(history)
        windows = fault_windows(history)
        by_cell: Counter[tuple[Any, Any, str, int]] = Counter(
            (inv["f"], inv.get("node"), "info" if done is None else done["type"], segment)
            for (inv, done), segment in zip(index.client, call_segments(history), strict=True)
        )
        groups = _groups(by_cell, when)
        nodes = list(test.get("nodes") or sorted(k for k in groups["by_node"] if k is not None))
        details: dict[str, Any] = {
            **groups,
            "recovery": _recovery(index.client, windows, nodes),
            **self._unavailable(index.completions, windows),
        }
        valid = True if index.client else UNKNOWN
        return Result(self.name, valid, details)

    def _unavailable(self, completions: Sequence[Op], windows: Sequence[Window]) -> dict[str, Any]:
        runs: dict[Any, list[Op]] = {}
        found: list[dict[str, Any]] = []

        def close(f: Any, healed: bool) -> None:
            run = runs.pop(f, None)
            if run and run[-1]["time"] - run[0]["time"] >= self.min_gap:
                found.append(_run_record(f, run, healed, windows))

        for op in completions:
            if op["type"] == "ok":
                close(op["f"], healed=True)
            else:
                runs.setdefault(op["f"], []).append(op)
        for f in list(runs):
            close(f, healed=False)
        found.sort(key=lambda r: r["first_index"])
        healthy = sum(1 for r in found if not r["faults"])
        return {**listed("unavailable", found), "unavailable_healthy_count": healthy}


def _run_record(f: Any, run: list[Op], healed: bool, windows: Sequence[Window]) -> dict[str, Any]:
    start, end = run[0]["time"], run[-1]["time"]
    return {
        "f": f,
        "first_index": run[0]["index"],
        "last_index": run[-1]["index"],
        "start": start,
        "end": end,
        "duration": (end - start) * NS,
        "ops": len(run),
        "recovered": healed,
        "faults": [w.name for w in windows if w.overlaps(start, end)],
    }


def _groups(by_cell: Counter[tuple[Any, Any, str, int]], when: Timeline) -> dict[str, Any]:
    """Fold the (f, node, outcome, segment) tallies into every grouping reported."""
    sums: dict[tuple[str, Any], Counter[str]] = {}

    def add(group: str, key: Any, result: str, n: int) -> None:
        sums.setdefault((group, key), Counter())[result] += n

    for (f, node, result, segment), n in by_cell.items():
        active = when.windows(segment)
        add("overall", None, result, n)
        add("by_f", f, result, n)
        if (cls := op_class(f)) is not None:
            add("by_class", cls, result, n)
        add("by_node", node, result, n)
        add("faulty" if active else "healthy", None, result, n)
        for kind in sorted({w.kind for w in active}):
            add("by_fault", kind, result, n)
        for w in active:
            add("by_window", w.name, result, n)
    out: dict[str, Any] = {
        "overall": tally(sums.get(("overall", None), {})),
        "healthy": tally(sums.get(("healthy", None), {})),
        "faulty": tally(sums.get(("faulty", None), {})),
    }
    for group in ("by_f", "by_class", "by_node", "by_fault", "by_window"):
        keys = sorted((k for g, k in sums if g == group), key=str)
        out[group] = {k: tally(sums[(group, k)]) for k in keys}
    return out


def _recovery(
    client: Sequence[tuple[Op, Op | None]], windows: Sequence[Window], nodes: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """For each healed window: seconds from the heal to each node's first ok completion."""
    ok_times: dict[Any, list[int]] = {}
    for inv, done in client:
        if done is not None and done["type"] == "ok":
            ok_times.setdefault(inv.get("node"), []).append(done["time"])
    for times in ok_times.values():
        times.sort()
    out: dict[str, dict[str, float | None]] = {}
    for w in windows:
        if not w.healed:
            continue
        per_node: dict[str, float | None] = {}
        for node in nodes:
            times = ok_times.get(node, [])
            i = bisect_left(times, w.end)
            per_node[node] = (times[i] - w.end) * NS if i < len(times) else None
        out[w.name] = per_node
    return out
