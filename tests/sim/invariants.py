"""The invariants every simulated run must hold.

Checked as things happen (``tests.sim.run``):

- **ack-durable** — when a client gets an ok for a write or delete, at least W nodes' synced
  disks have seen its version (the design: a put is acknowledged only after W replicas have
  it on disk).
- **hint-delivered** — when a fallback drops a hint, the owner's synced disk holds
  everything the fallback held for the key (a hint is delivered or still held).

Checked at the end of the run, on its history with ``checkers.CausalRegister``:

- **no-lost-write** — every acknowledged write is in the final reads or superseded there.
- **no-resurrection** — no acknowledged delete's version comes back.
- **no-false-sibling** — no read holds a version beside one of its ancestors.
- **reads-valid** — no read returns a value never written, or one whose write failed.

And on the settled cluster:

- **converged** — within ``SETTLE_BOUND`` of the faults stopping, with no client traffic, all
  nodes agree on the ring, no hints or transfers are pending, every key's N replicas hold
  the same object (a copy elsewhere is ``no-stranded-copy``'s business).
- **ring-balanced** — the agreed ring holds exactly the valid members, each owning the
  same number of partitions give or take one.
- **no-stranded-copy** — no node outside a key's replicas holds a version its replicas lack
  (a copy a peer with an older ring wrote there after a join: left alone, it outlives the
  replicas' tombstone and brings the value back).
- **no-node-error** — no node logged an unexpected exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from checkers import CausalRegister
from dynamo import merkle
from dynamo.versions import merge

if TYPE_CHECKING:
    from tests.sim.cluster import Cluster
    from tests.sim.run import Run

NAMES = (
    "ack-durable",
    "hint-delivered",
    "no-lost-write",
    "no-resurrection",
    "no-false-sibling",
    "reads-valid",
    "converged",
    "ring-balanced",
    "no-stranded-copy",
    "no-node-error",
)


@dataclass(frozen=True)
class Violation:
    invariant: str
    detail: str
    at: float

    def __str__(self) -> str:
        return f"{self.invariant} (t={self.at:.3f}): {self.detail}"


def disagreements(cluster: Cluster) -> list[str]:
    """What still keeps the cluster from having settled (empty: it has)."""
    nodes = cluster.up()
    out: list[str] = []
    rings = {(n.state.ring_version, n.state.ring.owners if n.state.ring else None) for n in nodes}
    if len(rings) != 1 or next(iter(rings))[1] is None:
        return [f"nodes hold {len(rings)} different rings"]
    ring = nodes[0].state.ring
    assert ring is not None
    for node in nodes:
        if node.storage.hints:
            out.append(f"{node.name} holds hints for {sorted(node.storage.hints)}")
        if node.transfers:
            out.append(f"{node.name} has transfers pending ({len(node.transfers)} partitions)")
        me = node.state.members.get(node.name)
        if me is not None and me.status == "leaving":
            out.append(f"{node.name} is still leaving")
    n = cluster.settings.n
    held: dict[str, dict[str, bytes]] = {}
    for node in nodes:
        for key, obj in node.storage.scan(0, 1 << 32):
            held.setdefault(key, {})[node.name] = merkle.digest(obj)
    for key in sorted(held):
        replicas = ring.preference_list(key, n)
        copies = held[key]
        digests = {copies.get(r) for r in replicas}
        if len(digests) != 1:
            missing = [r for r in replicas if r not in copies]
            out.append(
                f"{key!r}: its replicas {'/'.join(replicas)} differ"
                + (f" ({'/'.join(missing)} without it)" if missing else "")
            )
    return out


def strays(cluster: Cluster) -> tuple[int, list[str]]:
    """Copies of keys left on nodes that are not among their replicas: how many (a read
    repair of the final reads may leave a hinted one), and those that hold versions the
    replicas lack."""
    nodes = cluster.up()
    ring = nodes[0].state.ring
    if ring is None:
        return 0, []
    n = cluster.settings.n
    count, stranded = 0, []
    for node in nodes:
        for key, obj in node.storage.scan(0, 1 << 32):
            replicas = ring.preference_list(key, n)
            if node.name in replicas:
                continue
            count += 1
            owner = cluster.node(replicas[0])
            held = owner.local_object(key) if owner is not None else obj
            if merkle.digest(merge(held, obj)) != merkle.digest(held):
                stranded.append(f"{key!r} on {node.name}: versions its replicas lack")
    return count, stranded


def ring_problems(cluster: Cluster) -> list[str]:
    nodes = cluster.up()
    ring = nodes[0].state.ring
    if ring is None:
        return ["no ring"]
    valid = {name for name, m in nodes[0].state.members.items() if m.status == "valid"}
    out = []
    if set(ring.nodes) != valid:
        out.append(f"the ring holds {sorted(ring.nodes)}, the valid members are {sorted(valid)}")
    load = ring.load()
    if max(load.values()) - min(load.values()) > 1:
        out.append(f"partitions per node {dict(sorted(load.items()))}: not balanced")
    return out


def check_all(sim: Run, node_errors: list[str]) -> int:
    """The end-of-run invariants (the as-it-happens ones were counted by the run); returns
    how many stray copies the settled cluster held."""
    sim.count("no-node-error")
    for text in node_errors[:3]:
        sim.violations.append(Violation("no-node-error", text, sim.virtual_time))
    result = CausalRegister().check(sim.history, {})
    d = result.details
    checks = {
        "no-lost-write": ("lost",),
        "no-resurrection": ("resurrected",),
        "no-false-sibling": ("false_conflicts",),
        "reads-valid": ("phantom", "failed_present"),
    }
    for name, fields in checks.items():
        sim.count(name)
        for f in fields:
            if d[f"{f}_count"]:
                sim.violations.append(
                    Violation(name, f"{d[f'{f}_count']} {f}: {d[f][:3]}", sim.virtual_time)
                )
    sim.count("converged")
    if not any(v.invariant == "converged" for v in sim.violations):
        sim.count("ring-balanced")
        for text in ring_problems(sim.cluster):
            sim.violations.append(Violation("ring-balanced", text, sim.virtual_time))
    if sim.settle_time is None:
        return 0
    sim.count("no-stranded-copy")
    count, stranded = strays(sim.cluster)
    for text in stranded[:3]:
        sim.violations.append(Violation("no-stranded-copy", text, sim.virtual_time))
    return count
