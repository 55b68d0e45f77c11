"""Durability of the set workload, after Jepsen's set-full checker.

Every acknowledged add must be in the final state of its key: the union of its final
reads (``checkers.calls.final_reads``; a read already merges siblings). For each
element the checker also finds when it became *stable* (the first read of its last
unbroken run of reads that show it) and, for a lost one, when it was *last seen*.

Anomalies (verdict false): ``lost`` (ok add, acknowledged before the last final read of
its key began, missing from the final state), ``unexpected`` (an element read that was
never added to that key), ``failed_present`` (an element whose add ended ``fail``
turned up in a read). Not anomalies: ``recovered`` (an ``info`` add in the final
state); ``unchecked`` (an ok add missing from the final state of a key with no final
read begun after its ack: the verdict is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import Call, calls, final_reads, outcome
from checkers.faults import timeline
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
        seen = _presence(reads)
        when = timeline(history)

        lost: list[dict[str, Any]] = []
        unchecked: list[int] = []
        recovered: list[int] = []
        stable_latencies: list[int] = []
        lost_latencies: list[int] = []
        for element, (inv, done) in adds.items():
            key, status = inv.get("key"), outcome((inv, done))
            final = finals.get(key)
            present = final is not None and element in final.values
            if status == "info" and present:
                recovered.append(element)
            if status != "ok" or done is None:
                continue
            ack = done["time"]
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
                        "windows": [w.name for w in when.active(ack)],
                    }
                )
        unexpected, failed_present = _strangers(reads, adds)
        lost.sort(key=lambda r: r["index"])
        details: dict[str, Any] = {
            "attempted": len(adds),
            "acknowledged": sum(1 for c in adds.values() if outcome(c) == "ok"),
            "final_keys": len(finals),
            "final_disagreements": sum(1 for f in finals.values() if not f.agreed),
            "stable_count": len(stable_latencies),
            **listed("lost", lost),
            **listed("recovered", sorted(recovered)),
            **listed("unexpected", unexpected),
            **listed("failed_present", failed_present),
            **listed("unchecked", sorted(unchecked)),
            "stable_latency": summary(stable_latencies),
            "lost_latency": summary(lost_latencies),
        }
        anomalies = len(lost) + len(unexpected) + len(failed_present)
        return Result(self.name, verdict(anomalies, len(unchecked)), details)


@dataclass
class _Presence:
    stable_from: dict[Any, int]
    last_seen: dict[Any, int]


def _presence(reads: Sequence[Call]) -> _Presence:
    """Per element: the start of its last unbroken run of reads, and when it was last seen."""
    by_key: dict[object, list[Call]] = {}
    for call in reads:
        by_key.setdefault(call[0].get("key"), []).append(call)
    run_start: dict[Any, int] = {}
    last_pos: dict[Any, int] = {}
    last_seen: dict[Any, int] = {}
    for key_reads in by_key.values():
        for pos, (inv, done) in enumerate(key_reads):
            assert done is not None
            for element in done["value"] or ():
                if last_pos.get(element) != pos - 1:
                    run_start[element] = inv["time"]
                last_pos[element] = pos
                last_seen[element] = done["time"]
    return _Presence(run_start, last_seen)


def _strangers(
    reads: Sequence[Call], adds: Mapping[Any, Call]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Elements read that no one added to that key, and elements of failed adds that were."""
    unexpected: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    reported: set[tuple[object, Any]] = set()
    for inv, done in reads:
        assert done is not None
        key = inv.get("key")
        for element in done["value"] or ():
            add = adds.get(element)
            if add is not None and add[0].get("key") == key and outcome(add) != "fail":
                continue
            if (key, element) in reported:
                continue
            reported.add((key, element))
            record = {"element": element, "key": key, "index": done["index"], "time": done["time"]}
            (unexpected if add is None or add[0].get("key") != key else failed).append(record)
    return unexpected, failed
