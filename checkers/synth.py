"""Synthetic histories from a model store, for testing the checkers and the bench.

The model is one correct, linearizable Dynamo-shaped store: a register key holds a
set of sibling versions and a write removes the versions its context names; a set
key holds elements. Client workers call it concurrently on one clock while a nemesis
opens and heals fault windows; after the last heal every written key gets a final
read, then each key's replicas are sampled until they agree.

The only anomalies it makes are the ones asked for, each a bug a Dynamo store can
have. ``lose_at`` names ordinals among the acknowledged writes (0 = the first ok write)
that the store drops. A dropped register write is never applied; a dropped set element
may be visible for a while first. What the store really lost comes back as
``Synthetic.lost``: the ground truth to check a checker against. ``stale_at`` names
acknowledged writes that one replica never got: the final reads through the stale node
(the first of ``nodes``; ``final_nodes`` of them read every key) miss them, the others
hold them; ``Synthetic.stale`` lists those still held at the end. ``resurrect_at``
names acknowledged deletes (0 = the first ok delete) whose tombstone the store loses:
what they superseded stays readable, and ``Synthetic.resurrected`` lists the versions
that a final read invoked after such a delete's ack returned. ``counters`` ends the history
with the nodes' counters (a ``harness`` ``node-counters`` op): each write acknowledged
inside a fault window stored one hint, all delivered but ``drop_hints`` of them, which
the first node dropped undelivered.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.history import Op

MS = 1_000_000
SECOND = 1_000 * MS
_SAMPLED_KEYS = 200
FAULT_KINDS = ("partition", "kill", "pause", "clock", "loss")
_STARTS = {
    "partition": ("start-partition", "stop-partition"),
    "kill": ("kill", "start"),
    "pause": ("pause", "resume"),
    "clock": ("bump-clock", "reset-clock"),
    "loss": ("start-loss", "stop-loss"),
}


@dataclass(frozen=True)
class Spec:
    workload: str = "register"
    ops: int = 10_000
    keys: int = 50
    concurrency: int = 10
    nodes: tuple[str, ...] = ("n1", "n2", "n3", "n4", "n5")
    faults: tuple[str, ...] = ("partition", "kill")
    fault_every: int = 2 * SECOND
    fault_for: int = 1 * SECOND
    lose_at: frozenset[int] = frozenset()
    stale_at: frozenset[int] = frozenset()
    resurrect_at: frozenset[int] = frozenset()
    counters: bool = False
    drop_hints: int = 0
    final_nodes: int = 1
    delete_share: float = 0.05
    samples: bool = True
    seed: int = 0


@dataclass
class Synthetic:
    history: list[Op]
    test: dict[str, Any]
    lost: list[Any] = field(default_factory=list)
    stale: list[Any] = field(default_factory=list)
    resurrected: list[Any] = field(default_factory=list)


class _Model:
    """What the store holds; every method returns the value a read would see."""

    def __init__(self, spec: Spec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.data: dict[str, set[Any]] = {}
        self.doomed: dict[str, set[Any]] = {}
        self.acked_writes = 0
        self.lost: list[Any] = []
        self.missed: dict[str, set[Any]] = {}
        self.acked_deletes = 0
        self.hints: dict[str, int] = {}
        self.zombies: dict[Any, int] = {}  # version -> ack time of the delete that lost it
        self.resurrected: set[Any] = set()

    def read(self, key: str, stale: bool = False) -> list[Any]:
        """What a read of ``key`` returns; ``stale``: through the replica that missed the
        ``stale_at`` writes."""
        doomed = self.doomed.get(key)
        if doomed and self.rng.random() < 0.3:
            self.data[key] -= doomed
            doomed.clear()
        held = self.data.get(key, set())
        return sorted(held - self.missed.get(key, set()) if stale else held)

    def stale(self) -> list[Any]:
        """The writes the stale replica missed that the store still holds."""
        return [v for key, vs in self.missed.items() for v in vs if v in self.data.get(key, ())]

    def write(self, key: str, value: Any, context: Iterable[Any], status: str, at: int = 0) -> None:
        if status == "ok" and value is None:
            n, self.acked_deletes = self.acked_deletes, self.acked_deletes + 1
            if n in self.spec.resurrect_at:
                self.zombies.update((v, at) for v in context if v not in self.zombies)
                return
        if status == "ok" and value is not None:
            n, self.acked_writes = self.acked_writes, self.acked_writes + 1
            if n in self.spec.lose_at:
                self.lost.append(value)
                if self.spec.workload != "set" or self.rng.random() < 0.5:
                    return
                self.doomed.setdefault(key, set()).add(value)
            elif n in self.spec.stale_at:
                self.missed.setdefault(key, set()).add(value)
        elif status == "fail" or (status == "info" and self.rng.random() < 0.5):
            return
        held = self.data.setdefault(key, set())
        if self.spec.workload == "kv":
            held.clear()
        held.difference_update(context)
        if value is not None:
            held.add(value)

    def settle(self) -> None:
        for key, doomed in self.doomed.items():
            self.data[key] -= doomed


class _Run:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.model = _Model(spec, self.rng)
        self.history: list[Op] = []
        self.events: list[tuple[int, int, int]] = []
        self.seq = 0
        self.process = list(range(spec.concurrency))
        self.next_process = spec.concurrency
        self.pending: dict[int, Op] = {}
        self.last_read: dict[int, tuple[str, list[Any]]] = {}
        self.written: set[str] = set()
        self.faulty_until = -1
        self.serial = 0
        self.now = 0

    def tail(self) -> int:
        """Ops still to come after the clients stop: heal, final reads and samples."""
        keys = len(self.written)
        samples = 9 * min(keys, _SAMPLED_KEYS) if self.spec.samples else 0
        return 2 + 2 * keys * self.spec.final_nodes + samples

    def emit(self, op: Op) -> Op:
        """Append ``op``; times are clamped so the history's clock never goes back."""
        self.now = op["time"] = max(op["time"], self.now)
        op["index"] = len(self.history)
        self.history.append(op)
        return op

    def schedule(self, t: int, worker: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, worker))

    # --- clients ---------------------------------------------------------------------

    def invoke(self, t: int, worker: int, final: str | None = None, node: str | None = None) -> int:
        """Emit an invoke (through ``node``, else a random one); returns how long the call
        will take."""
        rng, spec = self.rng, self.spec
        if final is None:
            key, f, value, context = self._choose(worker)
        else:
            key, f, value, context = final, "read", None, None
        op: Op = {"type": "invoke", "process": self.process[worker], "time": t, "f": f}
        op |= {"key": key, "value": value, "node": rng.choice(spec.nodes)}
        if node is not None:
            op["node"] = node
        if context is not None:
            op["context"] = context
        if final is not None:
            op["final"] = True
        self.pending[worker] = self.emit(op)
        slow = 10 if t < self.faulty_until else 1
        return int(rng.lognormvariate(0, 0.6) * MS * slow)

    def _key(self) -> int:
        """Zipf-like for kv (hot keys), uniform for set and register."""
        if self.spec.workload == "kv":
            return int(self.rng.paretovariate(1.2)) % self.spec.keys
        return self.rng.randrange(self.spec.keys)

    def _choose(self, worker: int) -> tuple[str, str, Any, list[Any] | None]:
        """(key, f, value, context) of a worker's next call. A register worker mostly
        writes back to the key it just read, superseding what it read."""
        self.serial += 1
        rng, workload = self.rng, self.spec.workload
        rmw = self.last_read.pop(worker, None)
        if rmw is not None and rng.random() < 0.9:
            key, context = rmw
            if context and rng.random() < self.spec.delete_share:
                return key, "delete", None, list(context)
            return key, "write", f"w-{self.serial}", list(context)
        key = f"{workload[0]}{self._key()}"
        roll = rng.random()
        if workload == "set":
            return (key, "add", self.serial, None) if roll < 0.6 else (key, "read", None, None)
        if workload == "kv":
            return (
                (key, "read", None, None)
                if roll < 0.5
                else (key, "write", f"v-{self.serial}", None)
            )
        return (key, "read", None, None) if roll < 0.7 else (key, "write", f"w-{self.serial}", [])

    def complete(self, t: int, worker: int, status: str | None = None) -> None:
        inv = self.pending.pop(worker)
        status = status or self._outcome(t)
        done: Op = {k: v for k, v in inv.items() if k != "index"} | {"type": status, "time": t}
        key, f = inv["key"], inv["f"]
        if f == "read" and status == "ok":
            stale = bool(inv.get("final")) and inv["node"] == self.spec.nodes[0]
            done["value"] = self.model.read(key, stale)
            zombies = self.model.zombies
            if inv.get("final"):
                self.model.resurrected.update(
                    v for v in done["value"] if v in zombies and zombies[v] < inv["time"]
                )
            if self.spec.workload != "set":
                done["context"] = list(done["value"])
            if self.spec.workload == "register":
                self.last_read[worker] = (key, done["value"])
        elif f != "read":
            if status == "ok" and t < self.faulty_until:
                hints = self.model.hints
                hints[inv["node"]] = hints.get(inv["node"], 0) + 1
            value = inv["value"]
            self.model.write(key, value, inv.get("context") or (), status, t)
            self.written.add(key)
        if status != "ok":
            done["error"] = "timeout" if status == "info" else "unavailable"
        self.emit(done)
        if status == "info":
            self.process[worker] = self.next_process
            self.next_process += 1

    def _outcome(self, t: int) -> str:
        roll = self.rng.random()
        if t < self.faulty_until:
            return "fail" if roll < 0.08 else "info" if roll < 0.1 else "ok"
        return "info" if roll < 0.001 else "ok"

    # --- nemesis and final phases ----------------------------------------------------

    def nemesis(self, t: int, f: str, value: Any) -> int:
        self.emit({"type": "invoke", "process": "nemesis", "time": t, "f": f, "value": value})
        t += MS
        self.emit({"type": "info", "process": "nemesis", "time": t, "f": f, "value": value})
        return t

    def fault_value(self, kind: str) -> Any:
        nodes = list(self.spec.nodes)
        self.rng.shuffle(nodes)
        half = len(nodes) // 2
        if kind == "partition":
            a, b = sorted(nodes[:half]), sorted(nodes[half:])
            return {n: b for n in a} | {n: a for n in b}
        if kind == "clock":
            return {nodes[0]: 0.25}
        if kind == "loss":
            return {"nodes": sorted(nodes[:half]), "probability": 0.2}
        return sorted(nodes[:1])

    def counters(self, t: int) -> None:
        first, hints = self.spec.nodes[0], self.model.hints
        value = {
            node: _counters(
                hints.get(node, 0) + (self.spec.drop_hints if node == first else 0),
                self.spec.drop_hints if node == first else 0,
            )
            for node in self.spec.nodes
        }
        self.emit(
            {"type": "ok", "process": "harness", "time": t, "f": "node-counters"} | {"value": value}
        )

    def samples(self, t: int) -> int:
        keys = sorted(self.written)[:_SAMPLED_KEYS]
        replicas = {key: sorted(self.rng.sample(self.spec.nodes, 3)) for key in keys}
        for round_ in range(3):
            t += 100 * MS
            for key in keys:
                held = self.model.read(key)
                for node in replicas[key]:
                    lagging = round_ == 0 and held and self.rng.random() < 0.3
                    value = held[:-1] if lagging else held
                    self.emit(
                        {"type": "ok", "process": "convergence", "time": t, "f": "read-local"}
                        | {"key": key, "node": node, "value": value}
                    )
                    t += 10_000
        return t


def _counters(stored: int, dropped: int) -> dict[str, int]:
    return {
        "hints_stored": stored,
        "hints_delivered": stored - dropped,
        "hints_failed": dropped,
        "hints_dropped": dropped,
        "read_repairs": 0,
        "ae_keys_repaired": 0,
        "tombstones_reaped": 0,
    }


def generate(spec: Spec) -> Synthetic:
    """A history of about ``spec.ops`` ops from the model store, with its ground truth."""
    run = _Run(spec)
    t = 0
    for worker in range(spec.concurrency):
        run.schedule(t + worker * 100_000, worker)
    invoking = [True] * spec.concurrency
    next_fault, healing, kinds = spec.fault_every, None, list(spec.faults)
    while run.events:
        t, _, worker = heapq.heappop(run.events)
        if kinds and healing is None and t >= next_fault and invoking[0]:
            kind = kinds.pop(0)
            kinds.append(kind)
            start, stop = _STARTS[kind]
            value = run.fault_value(kind)
            t = run.nemesis(t, start, value)
            run.faulty_until = t + spec.fault_for
            healing = (stop, value if kind in ("kill", "pause") else None)
        elif healing is not None and t >= run.faulty_until:
            t = run.nemesis(t, *healing)
            healing, next_fault = None, t + spec.fault_every
        if worker in run.pending:
            run.complete(t, worker)
            if len(run.history) < spec.ops - run.tail():
                run.schedule(t + int(run.rng.expovariate(1.0) * MS), worker)
            else:
                invoking[worker] = False
        else:
            run.schedule(t + run.invoke(t, worker), worker)
    if healing is not None:
        t = run.nemesis(max(t, run.faulty_until), *healing)
    run.model.settle()
    readers = spec.nodes[: spec.final_nodes] if spec.final_nodes > 1 else (None,)
    for key in sorted(run.written):
        for node in readers:
            t = run.now + MS
            run.complete(t + run.invoke(t, 0, final=key, node=node), 0, status="ok")
    if spec.samples:
        run.samples(run.now)
    if spec.counters:
        run.counters(run.now + MS)
    return Synthetic(
        run.history, _test(spec), run.model.lost, run.model.stale(), sorted(run.model.resurrected)
    )


def _test(spec: Spec) -> dict[str, Any]:
    return {
        "name": f"synthetic-{spec.workload}",
        "workload": spec.workload,
        "nemesis": list(spec.faults),
        "nodes": list(spec.nodes),
        "mode": "siblings",
        "n": 3,
        "r": 2,
        "w": 2,
        "time_limit": None,
        "seed": spec.seed,
        "concurrency": spec.concurrency,
    }
