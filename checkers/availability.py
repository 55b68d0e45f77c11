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
from itertools import islice
from typing import Any

from checkers.calls import Call, calls, columns, op_class
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
        cols = columns(history)
        by_cell: Counter[tuple[Any, Any, str, int]] = Counter(
            zip(cols.f, cols.node, cols.outcome, call_segments(history), strict=True)
        )
        groups = _groups(by_cell, when)
        nodes = _nodes(test, groups["by_node"])
        runs = _failure_runs(index.completed, self.min_gap)
        records = sorted(
            (_run_record(run, windows) for run in runs), key=lambda r: r["first_index"]
        )
        details: dict[str, Any] = {
            **groups,
            "recovery": _recovery(index.completed, windows, nodes),
            **listed("unavailable", records),
            "unavailable_healthy_count": sum(1 for r in records if not r["faults"]),
        }
        return Result(self.name, True if index.client else UNKNOWN, details)


def _nodes(test: Mapping[str, Any], by_node: Mapping[str, Any]) -> list[str]:
    """The nodes calls went to, with the test's nodes when they go by the same names
    (a test may list hosts by address while calls name nodes ``n1``…)."""
    seen = {n for n in by_node if n != "unknown"}
    listed = {n for n in test.get("nodes") or () if isinstance(n, str)}
    return sorted(seen | listed if seen & listed else seen)


def _failure_runs(completed: Sequence[Call], min_gap: int) -> list[tuple[list[Op], bool]]:
    """Runs of non-ok completions of one ``f`` lasting ``min_gap`` or more, each with
    whether an ok completion of that ``f`` ended it."""
    open_runs: dict[Any, list[Op]] = {}
    runs: list[tuple[list[Op], bool]] = []
    for inv, done in completed:
        if done["type"] != "ok":
            open_runs.setdefault(inv["f"], []).append(done)
        elif open_runs and (run := open_runs.pop(inv["f"], None)) is not None:
            runs.append((run, True))
    runs += [(run, False) for run in open_runs.values()]
    return [(run, ended) for run, ended in runs if run[-1]["time"] - run[0]["time"] >= min_gap]


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
        add("by_node", "unknown" if node is None else node, result, n)
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
    completed: Sequence[Call], windows: Sequence[Window], nodes: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """For each healed window: seconds from the heal to each node's first ok completion
    (None if none came). One sweep over the completions from the first heal on."""
    heals = sorted((w.end, w.name) for w in windows if w.healed)
    out: dict[str, dict[str, float | None]] = {name: dict.fromkeys(nodes) for _, name in heals}
    if not heals:
        return out
    waiting: dict[Any, list[tuple[int, str]]] = {}
    next_heal = 0
    start = bisect_left(completed, heals[0][0], key=lambda call: call[1]["time"])
    for inv, done in islice(completed, start, None):
        t = done["time"]
        while next_heal < len(heals) and heals[next_heal][0] <= t:
            for node in nodes:
                waiting.setdefault(node, []).append(heals[next_heal])
            next_heal += 1
        if done["type"] == "ok" and (pending := waiting.pop(inv.get("node"), None)):
            for healed_at, name in pending:
                out[name][inv["node"]] = (t - healed_at) * NS
        if next_heal == len(heals) and not waiting:
            break
    return out
