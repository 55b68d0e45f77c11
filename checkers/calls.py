"""Pairing each invoke with its completion: the calls the other checkers read.

A call is ``(invoke, completion)``; the completion is ``None`` when the history ended
before it came, which counts as ``info`` (it may or may not have happened), as in
Jepsen. Convergence samples need no invoke, so they are kept as single ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers.history import CONVERGENCE, NEMESIS, OBSERVERS, Op, derived

Call = tuple[Op, Op | None]

PUT_FS = frozenset({"write", "add", "delete"})
GET_FS = frozenset({"read"})


@dataclass(frozen=True)
class Calls:
    """``client`` and ``nemesis`` calls in invoke order; ``completed``: the client calls
    that completed, in completion order; ``samples``: convergence samples;
    ``observed``: the completions of the other observer processes (``anti-entropy``,
    ``harness``), in history order."""

    client: list[Call]
    nemesis: list[Call]
    completed: list[Call]
    samples: list[Op]
    end_time: int
    observed: list[Op] = field(default_factory=list)


@dataclass(frozen=True)
class Columns:
    """The client calls as parallel columns (invoke order), for checkers and plots that
    scan every call: one pass over the dicts here, then zips over plain lists."""

    f: list[Any]
    node: list[Any]
    outcome: list[str]
    invoked: list[int]
    completed: list[int | None]


def columns(history: Sequence[Op]) -> Columns:
    return derived(history, "columns", _columns)


def _columns(history: Sequence[Op]) -> Columns:
    client = calls(history).client
    fs: list[Any] = []
    nodes: list[Any] = []
    outcomes: list[str] = []
    invoked: list[int] = []
    completed: list[int | None] = []
    for inv, done in client:
        fs.append(inv["f"])
        nodes.append(inv.get("node"))
        invoked.append(inv["time"])
        if done is None:
            outcomes.append("info")
            completed.append(None)
        else:
            outcomes.append(done["type"])
            completed.append(done["time"])
    return Columns(fs, nodes, outcomes, invoked, completed)


def outcome(call: Call) -> str:
    """``ok``, ``fail`` or ``info`` (also for a call the history never completed)."""
    done = call[1]
    return "info" if done is None else done["type"]


def op_class(f: object) -> str | None:
    """``put`` for writes of any kind, ``get`` for reads, else None."""
    if f in PUT_FS:
        return "put"
    if f in GET_FS:
        return "get"
    return None


def calls(history: Sequence[Op]) -> Calls:
    """The history's calls, built once per ``History``."""
    return derived(history, "calls", _pair)


def _pair(history: Sequence[Op]) -> Calls:
    client: list[Call] = []
    nemesis: list[Call] = []
    samples: list[Op] = []
    completed: list[Call] = []
    observed: list[Op] = []
    pending: dict[object, tuple[list[Call], int]] = {}
    for op in history:
        p = op["process"]
        if p in OBSERVERS:
            if op["type"] != "invoke":
                (samples if p == CONVERGENCE else observed).append(op)
            continue
        if op["type"] == "invoke":
            into = nemesis if p == NEMESIS else client
            pending[p] = (into, len(into))
            into.append((op, None))
        elif (slot := pending.pop(p, None)) is not None:
            into, i = slot
            call = into[i] = (into[i][0], op)
            if into is client:
                completed.append(call)
    end_time = history[-1]["time"] if history else 0
    return Calls(client, nemesis, completed, samples, end_time, observed)


@dataclass(frozen=True)
class Final:
    """A key's final state: the union of what its final reads (``calls``) returned (the
    runner reads every key from every node once healed), when the last of them began,
    whether they all returned the same thing, and whether they were marked ``final``
    (else ``calls`` is the key's last ok read alone)."""

    values: frozenset[Any]
    began: int
    reads: int
    agreed: bool
    calls: tuple[Call, ...] = ()
    marked: bool = False


def final_reads(reads: Sequence[Call]) -> dict[object, Final]:
    """Each key's final state from its ok reads marked ``final``; a key with none falls
    back to its last ok read (histories without a final phase)."""
    marked: dict[object, list[Call]] = {}
    last: dict[object, Call] = {}
    for call in reads:
        inv, done = call
        if done is None or done["type"] != "ok" or inv["f"] != "read":
            continue
        key = inv.get("key")
        last[key] = call
        if done.get("final") or inv.get("final"):
            marked.setdefault(key, []).append(call)
    out: dict[object, Final] = {}
    for key, call in last.items():
        chosen = marked.get(key, [call])
        seen = [frozenset(done["value"] or ()) for _, done in chosen if done is not None]
        out[key] = Final(
            values=frozenset().union(*seen),
            began=max(inv["time"] for inv, _ in chosen),
            reads=len(chosen),
            agreed=len(set(seen)) == 1,
            calls=tuple(chosen),
            marked=key in marked,
        )
    return out


MISSING_LISTED = 100
"""How many missing elements one ``stale_final`` record lists; ``missing_count`` is exact."""


def stale_record(key: object, inv: Op, done: Op, missing: Sequence[Any]) -> dict[str, Any]:
    return {
        "key": key,
        "node": inv.get("node"),
        "index": done["index"],
        "time": inv["time"],
        "missing": list(missing[:MISSING_LISTED]),
        "missing_count": len(missing),
    }
