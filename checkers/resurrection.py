"""Resurrection: a value whose acknowledged delete superseded it must never be read again.

A delete is a client call ``f: "delete"`` on a ``key`` whose ``context`` names the
version ids it supersedes: those the client read just before (``value`` is null). Once
the delete is acknowledged (its ``ok``), those versions and every ancestor of them
(through the contexts of the writes, as in ``checkers.causal``) are *dead*. A read of
the key invoked after that ack may return nothing, versions the delete did not name
(concurrent writes, writes begun later), or their descendants; a dead version in it is
**resurrected** when the read is a final one (after heal and settle; verdict false): a
tombstone was lost, reaped too early, or outvoted by a replica that never saw it.

A read *during the run* that returns a dead version is a stale read, not a resurrection:
under a sloppy quorum a delete acknowledged by fallbacks (or by owners the failure
detector still counts down just after a heal) is not yet on the replicas another read
asks, exactly as an acknowledged write need not be — Dynamo promises neither
read-your-writes nor read-your-deletes. Those reads are listed as
``stale_after_delete`` (with how long after the ack) and change no verdict; a delete
that never reaches them shows in the final reads.

Verdict: false on any resurrection; true when at least one acknowledged delete had a
final read of its key invoked after its ack; ``"unknown"`` when none had; ``"not
measured"`` when no delete was acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import Call, calls
from checkers.causal import Versions
from checkers.history import Op
from checkers.result import UNKNOWN, Result, listed, not_measured
from checkers.stats import NS


@dataclass(frozen=True)
class Resurrection:
    name: str = "resurrection"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        client = calls(history).client
        writes: dict[Any, Call] = {}
        deletes: list[Call] = []
        reads: dict[object, list[Call]] = {}
        for call in client:
            inv, done = call
            f = inv["f"]
            if f == "write":
                writes[inv["value"]] = call
            elif f == "delete" and done is not None and done["type"] == "ok":
                deletes.append(call)
            elif f == "read" and done is not None and done["type"] == "ok":
                reads.setdefault(inv.get("key"), []).append(call)
        if not deletes:
            return not_measured(self.name, "acknowledged delete")
        versions = Versions(writes)
        by_key: dict[object, list[Call]] = {}
        for call in deletes:
            by_key.setdefault(call[0].get("key"), []).append(call)
        found: list[dict[str, Any]] = []
        checked: set[int] = set()
        for key, key_deletes in by_key.items():
            found += _scan(key, key_deletes, reads.get(key, ()), versions, checked)
        found.sort(key=lambda r: (r["read_index"], r["delete_index"]))
        resurrected = [r for r in found if r["final"]]
        details: dict[str, Any] = {
            "deletes": len(deletes),
            "deletes_read_after": len(checked),
            **listed("resurrected", resurrected),
            **listed("stale_after_delete", [r for r in found if not r["final"]]),
        }
        valid = False if resurrected else True if checked else UNKNOWN
        return Result(self.name, valid, details)


def _scan(
    key: object,
    deletes: list[Call],
    reads: Sequence[Call],
    versions: Versions,
    checked: set[int],
) -> list[dict[str, Any]]:
    """One pass over a key's reads in invoke order, the dead versions growing as the
    deletes acknowledged before each read are taken in (``checked`` gets the index of
    each delete some final read followed). Every read that returned a dead version is
    listed, marked ``final`` or not."""
    deletes = sorted(deletes, key=lambda c: c[1]["time"] if c[1] else 0)
    dead: dict[Any, Op] = {}  # version -> the ack of the first delete that killed it
    taken = marked = 0
    out: list[dict[str, Any]] = []
    for inv, done in reads:
        assert done is not None
        final = bool(inv.get("final") or done.get("final"))
        while taken < len(deletes) and _acked(deletes[taken]) < inv["time"]:
            d_inv, d_done = deletes[taken]
            context = set(d_inv.get("context") or ())
            for v in context | versions.ancestors(context):
                dead.setdefault(v, d_done)
            taken += 1
        if final and taken > marked:
            checked.update(_acked_index(d) for d in deletes[marked:taken])
            marked = taken
        back = [v for v in done["value"] or () if v in dead]
        if back:
            ack = dead[back[0]]
            out.append(
                {
                    "key": key,
                    "versions": back,
                    "delete_index": ack["index"],
                    "read_index": done["index"],
                    "node": inv.get("node"),
                    "final": final,
                    "after": (inv["time"] - ack["time"]) * NS,
                }
            )
    return out


def _acked(call: Call) -> int:
    assert call[1] is not None
    return call[1]["time"]


def _acked_index(call: Call) -> int:
    assert call[1] is not None
    return call[1]["index"]
