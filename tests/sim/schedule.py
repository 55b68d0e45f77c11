"""What happens in one simulated run: a list of timed steps, generated from a seed.

A ``Step`` is data (``at`` seconds of virtual time, a ``kind`` and its arguments), so a
schedule prints, shrinks and replays. Client steps name a process, key and node; each
process runs its steps in order, one at a time, as a Jepsen worker does. Fault steps name
what they break. Whatever is still broken when the steps end is healed by the run itself
(``tests.sim.run``), which then lets the cluster settle.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from dynamo.ring import Ring

CLIENT_KINDS = frozenset({"read", "write", "delete"})


@dataclass(frozen=True, order=True)
class Step:
    at: float
    kind: str
    args: tuple[Any, ...] = ()

    def __str__(self) -> str:
        return f"t={self.at:7.3f}  {self.kind:<10} {' '.join(_show(a) for a in self.args)}"

    def to_json(self) -> list[Any]:
        return [self.at, self.kind, *[_jsonable(a) for a in self.args]]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Step:
        at, kind, *args = raw
        return cls(float(at), str(kind), tuple(_tupled(a) for a in args))


@dataclass(frozen=True)
class Schedule:
    nodes: tuple[str, ...]
    keys: tuple[str, ...]
    processes: int
    steps: tuple[Step, ...] = field(default=())

    def with_steps(self, steps: list[Step] | tuple[Step, ...]) -> Schedule:
        return Schedule(self.nodes, self.keys, self.processes, tuple(sorted(steps)))

    def dumps(self) -> str:
        return json.dumps(
            {
                "nodes": list(self.nodes),
                "keys": list(self.keys),
                "processes": self.processes,
                "steps": [s.to_json() for s in self.steps],
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str) -> Schedule:
        raw = json.loads(text)
        steps = tuple(Step.from_json(s) for s in raw["steps"])
        return cls(tuple(raw["nodes"]), tuple(raw["keys"]), int(raw["processes"]), steps)

    def describe(self) -> str:
        head = f"nodes {' '.join(self.nodes)}; keys {' '.join(self.keys)}; {self.processes} clients"
        return "\n".join([head, *(f"  {s}" for s in self.steps)])


def _show(a: Any) -> str:
    if isinstance(a, dict):
        return "{" + ", ".join(f"{k}->{'/'.join(sorted(v))}" for k, v in sorted(a.items())) + "}"
    if isinstance(a, list | tuple):
        return ",".join(str(x) for x in a)
    return str(a)


def _jsonable(a: Any) -> Any:
    if isinstance(a, dict):
        return {k: sorted(v) for k, v in a.items()}
    if isinstance(a, tuple):
        return list(a)
    return a


def _tupled(a: Any) -> Any:
    if isinstance(a, dict):
        return {k: tuple(v) for k, v in a.items()}
    if isinstance(a, list):
        return tuple(a)
    return a


# --- generation ------------------------------------------------------------------------------

DURATION = 20.0
"""Seconds of virtual time a generated schedule spans (client ops and faults)."""


def generate(seed: int, *, partitions: int = 16, n: int = 3) -> Schedule:
    """A random schedule: 3-5 nodes, 2-5 keys, 2-4 clients and a few faults of every kind."""
    rng = random.Random(f"schedule:{seed}")
    nodes = tuple(f"n{i}" for i in range(1, rng.choice((3, 4, 4, 5, 5, 5)) + 1))
    keys = tuple(f"k{i}" for i in range(rng.randint(2, 5)))
    processes = rng.randint(2, 4)
    steps: list[Step] = []
    steps += _client_steps(rng, nodes, keys, processes)
    steps += _fault_steps(rng, nodes, keys, partitions, n)
    steps += _tail_steps(random.Random(f"tail:{seed}"), nodes, keys, processes, partitions, n)
    return Schedule(nodes, keys, processes, tuple(sorted(steps)))


def _client_steps(
    rng: random.Random, nodes: tuple[str, ...], keys: tuple[str, ...], processes: int
) -> list[Step]:
    steps = []
    for p in range(processes):
        t = rng.uniform(0, 0.5)
        while t < DURATION:
            key, via = rng.choice(keys), rng.choice(nodes)
            x = rng.random()
            if x < 0.45:
                steps.append(Step(round(t, 3), "read", (p, key, via)))
            elif x < 0.65:
                steps.append(Step(round(t, 3), "write", (p, key, via, False)))
            elif x < 0.9:
                steps.append(Step(round(t, 3), "write", (p, key, via, True)))
            else:
                steps.append(Step(round(t, 3), "delete", (p, key, via)))
            t += rng.expovariate(1 / 0.4)
    return steps


def owners(nodes: tuple[str, ...], key: str, partitions: int, n: int) -> list[str]:
    return Ring.balanced(nodes, partitions).preference_list(key, n)


def _fault_steps(
    rng: random.Random, nodes: tuple[str, ...], keys: tuple[str, ...], partitions: int, n: int
) -> list[Step]:
    """Faults in episodes that may overlap; at most one disk wipe per schedule (the correct
    node keeps every acknowledged write through any one wipe, not through two before
    repair) and at most one membership change."""
    steps: list[Step] = []
    wiped = changed = False
    joiner = f"n{len(nodes) + 1}"
    for _ in range(rng.randint(1, 5)):
        start = round(rng.uniform(0.5, DURATION - 2), 3)
        end = round(min(DURATION, start + rng.uniform(0.5, 8)), 3)
        kind = rng.choice(
            ("partition", "partition", "owners", "crash", "power", "wipe", "loss", "flap", "member")
        )
        if kind == "partition":
            shuffled = list(nodes)
            rng.shuffle(shuffled)
            cut = rng.randint(1, len(nodes) - 1)
            grudge = _halves(shuffled[:cut], shuffled[cut:])
            steps.append(Step(start, "partition", (grudge, rng.random() < 0.3)))
            steps.append(Step(end, "heal"))
        elif kind == "owners":
            own = owners(nodes, rng.choice(keys), partitions, n)
            grudge = {o: tuple(x for x in nodes if x != o) for o in own}
            steps.append(Step(start, "partition", (grudge, rng.random() < 0.3)))
            steps.append(Step(end, "heal"))
        elif kind == "crash":
            victim = rng.choice(nodes)
            steps.append(Step(start, "crash", (victim,)))
            steps.append(Step(end, "restart", (victim,)))
        elif kind == "power":
            victims = sorted(rng.sample(nodes, rng.randint(2, len(nodes))))
            steps.append(Step(start, "crash", tuple(victims)))
            steps.append(Step(end, "restart", tuple(victims)))
        elif kind == "wipe" and not wiped:
            wiped = True
            victim = rng.choice(nodes)
            steps.append(Step(start, "wipe", (victim,)))
            steps.append(Step(end, "restart", (victim,)))
        elif kind == "loss":
            rate = round(rng.choice((0.02, 0.1, 0.3)), 2)
            dup = round(rng.choice((0.0, 0.05, 0.2)), 2)
            steps.append(Step(start, "loss", (rate, dup)))
            steps.append(Step(end, "loss", (0.0, 0.0)))
        elif kind == "flap":
            a, b = rng.sample(nodes, 2)
            t, blocked = start, False
            while t < end:
                blocked = not blocked
                steps.append(Step(round(t, 3), "link", (a, b, blocked)))
                t += rng.uniform(0.1, 1.0)
            steps.append(Step(end, "link", (a, b, False)))
        elif kind == "member" and not changed:
            changed = True
            if len(nodes) > n and rng.random() < 0.5:
                steps.append(Step(start, "leave", (rng.choice(nodes),)))
            else:
                steps.append(Step(start, "join", (joiner,)))
    return steps


TAIL = 1 / 3
"""The share of schedules with a tail (drawn from a random source of its own, so the steps
before it are those the seed always had)."""
TAIL_OUTAGE = 10.0
"""Seconds an owner stays down after the tail's delete: longer than the tombstone grace and
a reaper's period together, so the reaper comes round while the owner cannot confirm."""


def _tail_steps(
    rng: random.Random,
    nodes: tuple[str, ...],
    keys: tuple[str, ...],
    processes: int,
    partitions: int,
    n: int,
) -> list[Step]:
    """After the clients stop: one key read and deleted through an owner just as another of
    its owners crashes, so the delete is acknowledged without that owner (and without a
    hint: the coordinator has not yet seen it fail); the owner, still holding the old value,
    comes back only after the tombstone is old enough to reap."""
    if rng.random() >= TAIL:
        return []
    key = rng.choice(keys)
    own = owners(nodes, key, partitions, n)
    victim = rng.choice(own[1:])  # not the first owner: that one reaps
    via = rng.choice([o for o in own if o != victim])
    at = DURATION + 1.0
    proc = rng.randrange(processes)
    return [
        Step(at, "read", (proc, key, via)),
        Step(at + 0.3, "crash", (victim,)),
        Step(at + 0.301, "delete", (proc, key, via)),
        Step(round(at + 0.3 + TAIL_OUTAGE, 3), "restart", (victim,)),
    ]


def _halves(a: list[str], b: list[str]) -> dict[str, tuple[str, ...]]:
    grudge = {x: tuple(sorted(b)) for x in a}
    grudge.update({x: tuple(sorted(a)) for x in b})
    return grudge
