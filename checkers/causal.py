"""Causal durability and sibling handling, register workload.

A version's id is its write's value; a write's ``context`` names the versions it
supersedes. Version ``u`` is an *ancestor* of ``v`` when ``u`` is in ``v``'s context,
directly or through the contexts of the versions there. A version named in some
context was read, so it happened whatever its own write's outcome said.

The *final state* of a key is the union of its final reads (every node reads every
key once healed; ``checkers.calls.final_reads``).

- **lost**: an ok write ``w`` acknowledged before the last final read of its key began,
  where the final state holds neither ``w`` nor any descendant of ``w``, and no
  ``ok``/``info`` delete superseded ``w`` or a descendant (a tombstone cannot be read
  back, so a delete is taken at its word). Listed with the fault windows that
  overlapped its invoke→ack interval (``checkers.faults.during``). A descendant only
  counts through writes that are not ``fail``; one through an ``info`` write counts
  when that write (or a descendant of it) is in the final state.
- **stale_final**: a read marked ``final`` that holds neither an ok write acknowledged
  before it began nor a descendant of it (and no delete covers it), where the key's
  final state does: a client reading through that node sees the write lost.
- **superseded** (not an anomaly): ok writes gone from the final state, but covered by
  a descendant there or by a delete. On a store whose registers hold one value (test
  ``single_value``: etcd, Redis; ``Capabilities.single_value``) a later write replaces an
  earlier one whatever its context, so an ok write is also superseded when the final value's
  write (or, for an absent key, a delete) did not end before it began: one that may have
  been ordered after it. A final value written and acknowledged before the write began
  still makes it lost. **unchecked**: ok writes acknowledged after the
  final reads began and missing (the verdict is unknown).
- **resurrected**: the final state holds an ancestor of an ok delete acknowledged
  before the final reads began: the tombstone was lost.
- **phantom**: a read returned a version no one wrote to that key, or one whose write
  began only after the read had returned.
- **failed_present**: a read returned a version whose write ended ``fail``.
- **false conflict**: one read's siblings hold a version and one of its ancestors.

Also measured: siblings per read (max, p99) and the share of reads that saw 1, 2, 3
and 4+ versions (the Dynamo paper's §6.3 table; reads of an absent key are left out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers.calls import Call, Final, calls, final_reads, outcome, stale_record
from checkers.faults import during, timeline
from checkers.history import Op
from checkers.result import Result, listed, verdict
from checkers.stats import quantile, ratio


@dataclass(frozen=True)
class CausalRegister:
    name: str = "register"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        client = calls(history).client
        writes: dict[Any, Call] = {}
        deletes: list[Call] = []
        reads: list[Call] = []
        acknowledged = 0
        for call in client:
            inv, done = call
            f = inv["f"]
            if f == "read":
                if done is not None and done["type"] == "ok":
                    reads.append(call)
            elif f == "write":
                writes[inv["value"]] = call
                acknowledged += done is not None and done["type"] == "ok"
            elif f == "delete":
                deletes.append(call)
        versions = Versions(writes)
        finals = final_reads(reads)
        single = bool(test.get("single_value"))
        durability = _durability(writes, deletes, finals, versions, history, single)
        found = _scan_reads(reads, writes, versions)
        details: dict[str, Any] = {
            "writes": len(writes),
            "acknowledged": acknowledged,
            "deletes": len(deletes),
            "reads": len(reads),
            "final_keys": len(finals),
            "final_disagreements": sum(1 for f in finals.values() if not f.agreed),
            **durability,
            **listed("phantom", found.phantom),
            **listed("failed_present", found.failed_present),
            **listed("false_conflicts", found.false_conflicts),
            "siblings": _sibling_stats(found.sibling_counts),
        }
        anomalies = sum(
            details[f"{name}_count"]
            for name in (
                "lost",
                "stale_final",
                "resurrected",
                "phantom",
                "failed_present",
                "false_conflicts",
            )
        )
        return Result(self.name, verdict(anomalies, details["unchecked_count"]), details)


class Versions:
    """The supersession graph: each version's context, its write's invoke time, and the
    versions that superseded it (writes not known to have failed)."""

    def __init__(self, writes: Mapping[Any, Call]) -> None:
        self.context: dict[Any, Sequence[Any]] = {}
        self.born: dict[Any, int] = {}
        self.children: dict[Any, list[Any]] = {}
        self.origin: dict[Any, tuple[object, int]] = {}  # writes not known to have failed
        for v, (inv, done) in writes.items():
            context = self.context[v] = inv.get("context") or ()
            born = self.born[v] = inv["time"]
            if done is None or done["type"] != "fail":
                self.origin[v] = (inv.get("key"), born)
                for u in context:
                    self.children.setdefault(u, []).append(v)

    def ancestors(self, roots: Iterable[Any], not_before: int = -1) -> set[Any]:
        """Versions reachable through contexts from ``roots`` (roots excluded), skipping
        any whose write began before ``not_before``: an ancestor always began earlier."""
        return self._reach(roots, self.context, not_before)

    def descendants(self, roots: Iterable[Any]) -> set[Any]:
        return self._reach(roots, self.children, -1)

    def _reach(
        self, roots: Iterable[Any], edges: Mapping[Any, Sequence[Any]], not_before: int
    ) -> set[Any]:
        out: set[Any] = set()
        stack = [u for r in roots for u in edges.get(r, ())]
        while stack:
            u = stack.pop()
            if u in out or self.born.get(u, not_before) < not_before:
                continue
            out.add(u)
            stack.extend(edges.get(u, ()))
        return out


def _durability(
    writes: Mapping[Any, Call],
    deletes: Sequence[Call],
    finals: Mapping[object, Final],
    versions: Versions,
    history: Sequence[Op],
    single: bool = False,
) -> dict[str, Any]:
    deleted: dict[object, list[Call]] = {}
    for call in deletes:
        if outcome(call) != "fail":
            deleted.setdefault(call[0].get("key"), []).append(call)
    by_delete: dict[object, set[Any]] = {}
    for key, calls_ in deleted.items():
        named = {u for call in calls_ for u in call[0].get("context") or ()}
        by_delete[key] = named | versions.ancestors(named)
    held: dict[object, set[Any]] = {}
    covered: dict[object, set[Any]] = {}
    resurrected: list[dict[str, Any]] = []
    for key, final in finals.items():
        held[key] = set(final.values)
        covered[key] = held[key] | versions.ancestors(held[key])
        resurrected += _resurrections(key, held[key], deleted.get(key, ()), final, versions)
    for key, named in by_delete.items():
        covered[key] = covered.get(key, set()) | named

    when = timeline(history)
    lost: list[dict[str, Any]] = []
    superseded: list[Any] = []
    recovered: list[Any] = []
    unchecked: list[Any] = []
    nothing: set[Any] = set()
    for v, (inv, done) in writes.items():
        key = inv.get("key")
        status = "info" if done is None else done["type"]
        if status == "info" and v in covered.get(key, nothing):
            recovered.append(v)
        if status != "ok" or v in held.get(key, nothing):
            continue
        final = finals.get(key)
        if v in covered.get(key, nothing) or (
            single and _replaced(inv, held.get(key, nothing), writes, deleted.get(key, ()))
        ):
            superseded.append(v)
        elif final is None or done["time"] > final.began:
            unchecked.append(v)
        else:
            windows = during(when.overlapping(inv["time"], done["time"]))
            lost.append(_lost_record(v, key, inv, done, windows, versions))
    lost.sort(key=lambda r: r["index"])
    resurrected.sort(key=lambda r: r["delete_index"])
    stale = _stale_finals(writes, finals, covered, by_delete, versions)
    return {
        **listed("lost", lost),
        **listed("stale_final", stale),
        **listed("superseded", superseded),
        **listed("recovered", recovered),
        **listed("unchecked", unchecked),
        **listed("resurrected", resurrected),
    }


def _replaced(inv: Op, held: set[Any], writes: Mapping[Any, Call], deletes: Sequence[Call]) -> bool:
    """On a single-value register: whether what the final state holds (a value, or nothing
    after a delete) came from a call that did not end before ``inv`` began."""
    after = [writes[h] for h in held if h in writes] if held else list(deletes)
    return any(
        outcome(call) != "fail" and (call[1] is None or call[1]["time"] > inv["time"])
        for call in after
    )


def _stale_finals(
    writes: Mapping[Any, Call],
    finals: Mapping[object, Final],
    covered: Mapping[object, set[Any]],
    by_delete: Mapping[object, set[Any]],
    versions: Versions,
) -> list[dict[str, Any]]:
    """Final reads that hold neither an ok write acknowledged before they began nor a
    descendant of it (and no delete covers it), where the key's final state does (else
    the write is ``lost``). Reads that returned the same versions share one search."""
    acked: dict[object, list[tuple[Any, int]]] = {}
    for v, (inv, done) in writes.items():
        if done is not None and done["type"] == "ok":
            acked.setdefault(inv.get("key"), []).append((v, done["time"]))
    out: list[dict[str, Any]] = []
    nothing: set[Any] = set()
    for key, final in finals.items():
        required = acked.get(key)
        if not final.marked or not required:
            continue
        shown: dict[frozenset[Any], set[Any]] = {}
        for inv, done in final.calls:
            assert done is not None
            values = frozenset(done["value"] or ())
            if values not in shown:
                shown[values] = (
                    set(values) | versions.ancestors(values) | by_delete.get(key, nothing)
                )
            cover, began = shown[values], inv["time"]
            missing = [
                v for v, ack in required if ack <= began and v not in cover and v in covered[key]
            ]
            if missing:
                out.append(stale_record(key, inv, done, missing))
    out.sort(key=lambda r: r["index"])
    return out


def _lost_record(
    v: Any, key: object, inv: Op, done: Op, windows: list[dict[str, Any]], versions: Versions
) -> dict[str, Any]:
    return {
        "id": v,
        "key": key,
        "index": done["index"],
        "invoke_time": inv["time"],
        "ack_time": done["time"],
        "node": inv.get("node"),
        "windows": windows,
        "superseded_by": list(versions.children.get(v, ())),
    }


def _resurrections(
    key: object, held: set[Any], deletes: Iterable[Call], final: Final, versions: Versions
) -> list[dict[str, Any]]:
    """Ok deletes whose context holds, or descends from, a version the final read holds."""
    if not held:
        return []
    returned = held | versions.descendants(held)
    out = []
    for inv, done in deletes:
        if done is None or done["type"] != "ok" or done["time"] > final.began:
            continue
        context = set(inv.get("context") or ())
        if context & returned:
            back = held & (context | versions.ancestors(context))
            out.append({"key": key, "delete_index": done["index"], "versions": sorted(back)})
    return out


@dataclass
class _ReadFindings:
    phantom: list[dict[str, Any]] = field(default_factory=list)
    failed_present: list[dict[str, Any]] = field(default_factory=list)
    false_conflicts: list[dict[str, Any]] = field(default_factory=list)
    sibling_counts: list[int] = field(default_factory=list)


def _scan_reads(
    reads: Sequence[Call], writes: Mapping[Any, Call], versions: Versions
) -> _ReadFindings:
    """Every ok read once: its versions' origins, its false conflicts, its sibling count."""
    found = _ReadFindings()
    reported: set[tuple[object, Any]] = set()
    counts = found.sibling_counts
    origin = versions.origin
    conflicts: dict[tuple[Any, ...], list[dict[str, Any]]] = {}  # by sibling set: reads repeat
    for inv, done in reads:
        assert done is not None
        siblings = done["value"] or ()
        counts.append(len(siblings))
        key = inv.get("key")
        for v in siblings:
            o = origin.get(v)
            if (o is None or o[0] != key or o[1] > done["time"]) and (key, v) not in reported:
                reported.add((key, v))
                _stranger(v, key, done, writes.get(v), found)
        if len(siblings) > 1:
            seen = tuple(siblings)
            if seen not in conflicts:
                conflicts[seen] = _false_conflict(siblings, versions)
            if conflicts[seen]:
                found.false_conflicts.append(
                    {"key": key, "index": done["index"], "pairs": conflicts[seen]}
                )
    return found


def _stranger(v: Any, key: object, done: Op, write: Call | None, found: _ReadFindings) -> None:
    if write is None:
        reason = "never written"
    elif write[0].get("key") != key:
        reason = "written to another key"
    elif write[0]["time"] > done["time"]:
        reason = "written after the read returned"
    else:
        found.failed_present.append({"id": v, "key": key, "index": done["index"]})
        return
    found.phantom.append({"id": v, "key": key, "index": done["index"], "reason": reason})


def _false_conflict(siblings: Sequence[Any], versions: Versions) -> list[dict[str, Any]]:
    """(version, ancestor) pairs among one read's siblings: one search from all of them,
    pairs named only on a hit."""
    present = set(siblings)
    oldest = min(versions.born.get(v, 0) for v in siblings)
    if not present & versions.ancestors(present, not_before=oldest):
        return []
    pairs = sorted(
        (v, u) for v in present for u in versions.ancestors((v,), not_before=oldest) & present
    )
    return [{"version": v, "ancestor": u} for v, u in pairs]


def _sibling_stats(counts: list[int]) -> dict[str, Any]:
    """Versions per read: max, p99 and mean over reads of a present key, and the share
    of those that saw 1, 2, 3 and 4+ versions."""
    histogram = Counter(counts)
    empty = histogram.pop(0, 0)
    seen = len(counts) - empty
    share = {str(n): ratio(histogram[n], seen) for n in (1, 2, 3)}
    share["4+"] = ratio(sum(k for n, k in histogram.items() if n >= 4), seen)
    ordered = sorted(c for c in counts if c)
    return {
        "reads": len(counts),
        "empty": empty,
        "max": ordered[-1] if ordered else None,
        "p99": quantile(ordered, 0.99) if ordered else None,
        "mean": sum(ordered) / seen if seen else None,
        "share": share,
    }
