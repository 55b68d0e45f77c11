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

from checkers.calls import Call, calls, op_class
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
        runs, ok_times = _runs_and_ok_times(index.completed, self.min_gap)
        records = sorted(
            (_run_record(run, windows) for run in runs), key=lambda r: r["first_index"]
        )
        details: dict[str, Any] = {
            **groups,
            "recovery": _recovery(ok_times, windows, nodes),
            **listed("unavailable", records),
            "unavailable_healthy_count": sum(1 for r in records if not r["faults"]),
        }
        return Result(self.name, True if index.client else UNKNOWN, details)


def _runs_and_ok_times(
    completed: Sequence[Call], min_gap: int
) -> tuple[list[tuple[list[Op], bool]], dict[Any, list[int]]]:
    """Runs of non-ok completions of one ``f`` lasting ``min_gap`` or more (each with
    whether an ok ended it), and each node's ok completion times, in one pass."""
    open_runs: dict[Any, list[Op]] = {}
    runs: list[tuple[list[Op], bool]] = []
    ok_times: dict[Any, list[int]] = {}
    for inv, done in completed:
        f = inv["f"]
        if done["type"] == "ok":
            ok_times.setdefault(inv.get("node"), []).append(done["time"])
            run = open_runs.pop(f, None)
            if run and run[-1]["time"] - run[0]["time"] >= min_gap:
                runs.append((run, True))
        else:
            open_runs.setdefault(f, []).append(done)
    runs += [
        (run, False) for run in open_runs.values() if run[-1]["time"] - run[0]["time"] >= min_gap
    ]
    return runs, ok_times


def _run_record(run: tuple[list[Op], bool], windows: Sequence[Window]) -> dict[str, Any]:
    ops, healed = run
    start, end = ops[0]["time"], ops[-1]["time"]
    return {
        "f": ops[0]["f"],
        "first_index": ops[0]["index"],
        "last_index": ops[-1]["index"],
        "start": start,
        "end": end,
        "duration": (end - start) * NS,
        "ops": len(ops),
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
    ok_times: Mapping[Any, list[int]], windows: Sequence[Window], nodes: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """For each healed window: seconds from the heal to each node's first ok completion."""
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
