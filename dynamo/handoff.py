"""Hand-off: data moves to where it belongs.

Hinted hand-off (the paper's §4.6): a fallback keeps a hinted copy, durably, until the owner
it stood in for answers again; it then writes the copy to the owner and drops the hint only
after the owner acknowledged it on disk — and drops its own copy only when it is not a
replica of the key and holds no other hint for it.

Ownership hand-off: after the ring changes (a join or a leave), each node pushes the keys of
every partition whose replica set gained nodes to the newcomers; a node that is no longer a
replica of a partition pushes its keys to all the new replicas and deletes them once they are
acknowledged. A leaving node ends as ``left`` when it has handed everything off.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar

from dynamo import gossip
from dynamo.errors import BadRequest, DynamoError, one_round
from dynamo.ring import Ring
from dynamo.storage import prefix_range
from dynamo.versions import VersionedObject

if TYPE_CHECKING:
    from dynamo.node import Node

log = logging.getLogger("dynamo.handoff")
T = TypeVar("T")

BATCH = 64


def same(a: VersionedObject, b: VersionedObject) -> bool:
    return a.siblings == b.siblings and a.vv == b.vv


async def run(node: Node) -> None:
    while True:
        await asyncio.sleep(node.config.handoff_interval)
        with one_round("hand-off"):
            await deliver_hints(node)
            await run_transfers(node)


async def deliver_hints(node: Node) -> int:
    """One round of hinted hand-off; returns how many hints were delivered."""
    if node.state.ring is None:
        return 0
    due = [
        (key, target)
        for key, targets in list(node.storage.hints.items())
        for target in sorted(targets)
        if node.health.is_up(target)
    ]
    outcomes: Counter[str] = Counter()
    for chunk in _chunks(due, BATCH):
        outcomes.update(await asyncio.gather(*(_deliver(node, k, t) for k, t in chunk)))
    return outcomes["delivered"]


def _counted(node: Node, outcome: str) -> str:
    """Count a hint's outcome as it happens (in the same step as its unhint, so a status
    read between two deliveries sees counters and pending hints that agree)."""
    name = f"hints_{outcome}"
    node.stats[name] = node.stats.get(name, 0) + 1
    return outcome


async def _deliver(node: Node, key: str, target: str) -> str:
    """One hint: ``delivered`` to its node; ``rerouted`` (its node left the ring: the copy
    went to the key's replicas instead); ``failed``; or ``deferred`` (written meanwhile)."""
    obj = node.local_object(key)
    gone = target not in node.ring.nodes
    targets = node.replicas_of(key) if gone else [target]
    try:
        for t in targets:
            await node.replica_put(t, key, obj.replica_view())
    except DynamoError:
        return _counted(node, "failed")
    if not same(node.local_object(key), obj):
        return _counted(node, "deferred")  # deliver again next round
    node.storage.unhint(target, key)
    if key not in node.storage.hints and node.name not in node.replicas_of(key):
        node.drop_local(key)
    return _counted(node, "rerouted" if gone else "delivered")


def plan_transfers(node: Node, old: Ring | None, new: Ring) -> None:
    """Record, per partition, the nodes this node must push that partition's keys to."""
    n = node.config.n
    for p in range(new.partitions):
        before = set(old.partition_nodes(p, n)) if old is not None else set()
        after = new.partition_nodes(p, n)
        if node.name in after and node.name in before:
            targets = [t for t in after if t not in before]
        elif node.name in before:
            targets = list(after)
        else:
            continue
        if targets:
            node.transfers[p] = sorted(set(node.transfers.get(p, [])) | set(targets))


def resume_transfers(node: Node) -> None:
    """After a restart: partitions this node holds keys of but no longer replicates."""
    ring = node.ring
    for p in range(ring.partitions):
        replicas = ring.partition_nodes(p, node.config.n)
        if node.name not in replicas and any(
            k not in node.storage.hints
            for k, _ in node.storage.scan(*prefix_range(p, ring.partitions))
        ):
            node.transfers[p] = replicas


async def run_transfers(node: Node) -> None:
    for p in sorted(node.transfers):
        targets = node.transfers[p]
        if await transfer(node, p, targets) and node.transfers.get(p) is targets:
            node.transfers.pop(p)  # (a stray that came meanwhile replaced the entry)
    me = node.state.members.get(node.name)
    if not node.transfers and me is not None and me.status == "leaving":
        node.state.set_member(node.name, node.config.address, "left")
        node.meta.save("cluster_state", node.state.dumps())
        log.info("left the ring: every partition handed off")
        await gossip.broadcast(node)


async def transfer(node: Node, partition: int, targets: list[str]) -> bool:
    """Push a partition's keys to ``targets``; drop them here if this node no longer
    replicates the partition. True when everything was acknowledged."""
    ring = node.ring
    targets = [t for t in targets if t in ring.nodes and t != node.name]
    keep = node.name in ring.partition_nodes(partition, node.config.n)
    items = list(node.storage.scan(*prefix_range(partition, ring.partitions)))
    for chunk in _chunks(items, BATCH):
        results = await asyncio.gather(
            *(node.replica_put(t, k, obj.replica_view()) for k, obj in chunk for t in targets),
            return_exceptions=True,
        )
        if any(isinstance(r, BaseException) for r in results):
            return False
        node.stats["keys_transferred"] = node.stats.get("keys_transferred", 0) + len(chunk)
        if not keep:
            for key, obj in chunk:
                if key not in node.storage.hints and same(node.local_object(key), obj):
                    node.drop_local(key)
    return True


def stray(node: Node, key: str) -> None:
    """A peer whose ring is older wrote ``key`` here, where it no longer belongs: push the
    key's partition to its replicas and drop it here, as after a ring change (left alone,
    the copy could outlive the replicas' tombstone and bring the value back)."""
    ring = node.ring
    p = ring.partition_of(key)
    node.transfers[p] = sorted(
        set(node.transfers.get(p, [])) | set(ring.partition_nodes(p, node.config.n))
    )


def leave(node: Node) -> None:
    """Start leaving: hand our partitions to the others, then stop owning anything."""
    ring = node.ring
    if node.name not in ring.nodes:
        return
    if len(ring.nodes) == 1:
        raise BadRequest(f"{node.name} is the last node of the ring; it cannot leave")
    node.change_ring(ring.without_node(node.name), "leaving")


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
