"""Durability of the set workload, after Jepsen's set-full checker.

Every acknowledged add must be in the final state of its key: the union of its final
reads (``checkers.calls.final_reads``; a read already merges siblings), and in each of
those final reads on its own (a client reading through that node sees it gone). For each
element the checker also finds when it became *stable* (the first read of its last
unbroken run of reads that show it) and, for a lost one, when it was *last seen* and
which fault windows overlapped its invoke→ack interval (``checkers.faults.during``).

Anomalies (verdict false): ``lost`` (ok add, acknowledged before the last final read of
its key began, missing from the final state), ``stale_final`` (a read marked ``final``
that misses an ok add acknowledged before it began which another final read of the key
holds; an add that every final read misses is ``lost``), ``unexpected`` (an element read that was
never added to that key), ``failed_present`` (an element whose add ended ``fail``
turned up in a read). Not anomalies: ``recovered`` (an ``info`` add in the final
state); ``unchecked`` (an ok add missing from the final state of a key with no final
read begun after its ack: the verdict is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers.calls import Call, Final, calls, final_reads, outcome, stale_record
from checkers.faults import during, timeline
from checkers.history import Op
from checkers.result import Result, listed, verdict
from checkers.stats import summary


@dataclass(frozen=True)
class SetFull:
    name: str = "set"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        client = calls(history).client
        adds = {inv["value"]: (inv, done) for inv, done in client if inv["f"] == "add"}
        reads = [c for c in client if c[0]["f"] == "read" and outcome(c) == "ok"]
        finals = final_reads(reads)
        seen = _scan(reads, adds)
        when = timeline(history)

        lost: list[dict[str, Any]] = []
        unchecked: list[int] = []
        recovered: list[int] = []
        stable_latencies: list[int] = []
        lost_latencies: list[int] = []
        acked: dict[object, list[tuple[Any, int]]] = {}
        for element, (inv, done) in adds.items():
            key, status = inv.get("key"), outcome((inv, done))
            final = finals.get(key)
            present = final is not None and element in final.values
            if status == "info" and present:
                recovered.append(element)
            if status != "ok" or done is None:
                continue
            ack = done["time"]
            acked.setdefault(key, []).append((element, ack))
            if present:
                stable_latencies.append(max(0, seen.stable_from[element] - ack))
            elif final is None or ack > final.began:
                unchecked.append(element)
            else:
                last_seen = seen.last_seen.get(element)
                if last_seen is not None:
                    lost_latencies.append(max(0, last_seen - ack))
                lost.append(
                    {
                        "element": element,
                        "key": key,
                        "index": done["index"],
                        "invoke_time": inv["time"],
                        "ack_time": ack,
                        "last_seen": last_seen,
                        "windows": during(when.overlapping(inv["time"], ack)),
                    }
                )
        unexpected, failed_present = seen.unexpected, seen.failed_present
        lost.sort(key=lambda r: r["index"])
        stale = stale_finals(finals, acked)
        details: dict[str, Any] = {
            "attempted": len(adds),
            "acknowledged": sum(1 for c in adds.values() if outcome(c) == "ok"),
            "final_keys": len(finals),
            "final_disagreements": sum(1 for f in finals.values() if not f.agreed),
            "stable_elements": len(stable_latencies),
            **listed("lost", lost),
            **listed("stale_final", stale),
            **listed("recovered", sorted(recovered)),
            **listed("unexpected", unexpected),
            **listed("failed_present", failed_present),
            **listed("unchecked", sorted(unchecked)),
            "stable_latency": summary(stable_latencies),
            "lost_latency": summary(lost_latencies),
        }
        anomalies = len(lost) + len(stale) + len(unexpected) + len(failed_present)
        return Result(self.name, verdict(anomalies, len(unchecked)), details)


def stale_finals(
    finals: Mapping[object, Final], acked: Mapping[object, Sequence[tuple[Any, int]]]
) -> list[dict[str, Any]]:
    """The final reads that miss an element acknowledged (``(element, ack time)`` by key)
    before they began, where the key's final state holds it (else it is ``lost``), in
    history order."""
    out: list[dict[str, Any]] = []
    for key, final in finals.items():
        required = acked.get(key)
        if not final.marked or not required:
            continue
        for inv, done in final.calls:
            assert done is not None
            held = set(done["value"] or ())
            began = inv["time"]
            missing = [
                e for e, ack in required if ack <= began and e not in held and e in final.values
            ]
            if missing:
                out.append(stale_record(key, inv, done, missing))
    out.sort(key=lambda r: r["index"])
    return out


@dataclass
class _Scan:
    stable_from: dict[Any, int] = field(default_factory=dict)
    last_seen: dict[Any, int] = field(default_factory=dict)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    failed_present: list[dict[str, Any]] = field(default_factory=list)


def _scan(reads: Sequence[Call], adds: Mapping[Any, Call]) -> _Scan:
    """Each key's reads in order, as set differences from the read before: an element
    that appears starts a run (and is checked against the adds once); one that vanishes
    was last seen by the read before. Work is per change, not per element read, so
    reads returning a key's whole set stay cheap."""
    by_key: dict[object, list[Call]] = {}
    for call in reads:
        by_key.setdefault(call[0].get("key"), []).append(call)
    scan = _Scan()
    reported: set[tuple[object, Any]] = set()
    for key, key_reads in by_key.items():
        held: set[Any] = set()
        before = 0
        for inv, done in key_reads:
            assert done is not None
            now = set(done["value"] or ())
            for element in held - now:
                scan.last_seen[element] = before
            for element in now - held:
                scan.stable_from[element] = inv["time"]
                add = adds.get(element)
                if add is not None and add[0].get("key") == key and outcome(add) != "fail":
                    continue
                if (key, element) not in reported:
                    reported.add((key, element))
                    record = {"element": element, "key": key, "index": done["index"]}
                    record["time"] = done["time"]
                    stranger = add is None or add[0].get("key") != key
                    (scan.unexpected if stranger else scan.failed_present).append(record)
            held, before = now, done["time"]
        for element in held:
            scan.last_seen[element] = before
    return scan
