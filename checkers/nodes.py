"""What the nodes counted about themselves, and the hinted hand-off check built on it.

The harness asks every node for its counters (``dynamo status``) at the end of a run,
and may ask before a node is killed or wiped too (a new incarnation starts from zero),
and records each round as one op::

    {"process": "harness", "type": "ok", "f": "node-counters", "time": ...,
     "value": {"n1": {"hints_stored": 12, "hints_delivered": 12, "hints_failed": 3,
                      "hints_dropped": 0, "read_repairs": 40, "ae_keys_repaired": 7,
                      "tombstones_reaped": 2},
               "n2": {"error": "connection refused"}}}

``node_counters`` reports each node's last report and the totals over nodes (a
measurement: true). ``hints`` is false when any report of any node counted a hint
dropped undelivered, or when a node's last report does not close (``vanished``: hints
loaded + stored exceed delivered + rerouted + dropped + pending — a hint that went
without a trace, the silent drop a node does not own up to); ``"unknown"`` when a node's
last report is an error or lacks ``hints_dropped``; true otherwise. Both are
``"not measured"`` without such an op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import calls
from checkers.history import HARNESS, Op
from checkers.result import UNKNOWN, Result, listed, not_measured

NODE_COUNTERS = "node-counters"
COUNTERS = (
    "hints_loaded",
    "hints_stored",
    "hints_delivered",
    "hints_rerouted",
    "hints_failed",
    "hints_dropped",
    "hints_pending",
    "read_repairs",
    "ae_keys_repaired",
    "tombstones_reaped",
)


CAME = ("hints_loaded", "hints_stored")
WENT = ("hints_delivered", "hints_rerouted", "hints_dropped", "hints_pending")
"""A node's hints close when what came (found on disk at start, stored since) equals what
went (delivered, rerouted to the replicas of a node that left, given up) plus what is
still pending."""


def vanished(counters: Mapping[str, Any]) -> int | None:
    """Hints the node neither delivered, rerouted, gave up nor still holds (None: the node
    does not report all of ``CAME`` and ``WENT``)."""
    values = [counters.get(name) for name in (*CAME, *WENT)]
    if not all(isinstance(v, int) for v in values):
        return None
    came, went = sum(values[: len(CAME)]), sum(values[len(CAME) :])  # type: ignore[arg-type]
    return came - went


def reports(history: Sequence[Op]) -> list[Op]:
    """The ``node-counters`` ops of the harness, in history order."""
    return [
        op
        for op in calls(history).observed
        if op.get("process") == HARNESS and op.get("f") == NODE_COUNTERS
    ]


def _per_node(ops: Sequence[Op]) -> dict[str, Mapping[str, Any]]:
    last: dict[str, Mapping[str, Any]] = {}
    for op in ops:
        for node, counters in (op.get("value") or {}).items():
            last[node] = counters if isinstance(counters, Mapping) else {"error": str(counters)}
    return dict(sorted(last.items()))


@dataclass(frozen=True)
class NodeCounters:
    name: str = "node_counters"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        ops = reports(history)
        if not ops:
            return not_measured(self.name, f"{NODE_COUNTERS} op")
        nodes = _per_node(ops)
        totals = {
            c: sum(v.get(c, 0) for v in nodes.values() if isinstance(v.get(c, 0), int))
            for c in COUNTERS
        }
        unreported = sorted(n for n, v in nodes.items() if "error" in v)
        details = {"reports": len(ops), "nodes": nodes, "totals": totals}
        return Result(self.name, True, details | listed("unreported", unreported))


@dataclass(frozen=True)
class Hints:
    name: str = "hints"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        ops = reports(history)
        if not ops:
            return not_measured(self.name, f"{NODE_COUNTERS} op")
        dropped: list[dict[str, Any]] = []
        for op in ops:
            for node, counters in sorted((op.get("value") or {}).items()):
                n = counters.get("hints_dropped") if isinstance(counters, Mapping) else None
                if isinstance(n, int) and n > 0:
                    dropped.append({"node": node, "hints_dropped": n, "index": op["index"]})
        nodes = _per_node(ops)
        unknown = sorted(n for n, v in nodes.items() if not isinstance(v.get("hints_dropped"), int))
        pending = {
            n: v["hints_pending"]
            if isinstance(v.get("hints_pending"), int)
            else v.get("hints_stored", 0) - v.get("hints_delivered", 0) - v.get("hints_dropped", 0)
            for n, v in nodes.items()
            if n not in unknown
        }
        gone = [
            {"node": n, "hints": gap}
            for n, v in nodes.items()
            if (gap := vanished(v)) is not None and gap > 0
        ]
        details = {
            **listed("dropped", dropped),
            **listed("vanished", gone),
            **listed("unknown_nodes", unknown),
            "pending": pending,
        }
        valid = False if dropped or gone else UNKNOWN if unknown else True
        return Result(self.name, valid, details)
