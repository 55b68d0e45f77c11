"""Anti-entropy: replicas of a partition compare Merkle trees and exchange only the keys
that differ (the paper's §4.7).

Each round takes the next partition this node replicates and compares it with each other
live replica: roots first (one message), then the 256 leaves, then the keys under the leaves
that differ. For every differing key both sides end with the merge of both objects. Trees are
cached per partition until a key of the partition changes. Background work yields to
requests: a round is skipped while the node is busy (the paper's admission control, §6.5).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dynamo import merkle, schema
from dynamo.errors import BadRequest, one_round
from dynamo.storage import prefix_range
from dynamo.versions import merge

if TYPE_CHECKING:
    from dynamo.node import Node

CONCURRENCY = 32


def tree(node: Node, partition: int) -> merkle.Tree:
    ring = node.ring
    if not 0 <= partition < ring.partitions:
        raise BadRequest(f"no partition {partition} (the ring has {ring.partitions})")
    cached = node.trees.get(partition)
    if cached is None:
        items = node.storage.scan(*prefix_range(partition, ring.partitions))
        cached = merkle.build(((k, merkle.digest(o)) for k, o in items), ring.partitions)
        node.trees[partition] = cached
    return cached


def progress(node: Node) -> Iterator[tuple[str, object]]:
    for name in ("ae_exchanges", "ae_keys_repaired", "ae_rounds"):
        yield name.removeprefix("ae_"), node.stats.get(name, 0)
    yield "last_round", node.stats.get("ae_last_round")


async def run(node: Node) -> None:
    interval = node.config.anti_entropy_interval
    if interval <= 0:
        return
    cursor = 0
    while True:
        await asyncio.sleep(interval)
        if node.busy or node.state.ring is None:
            continue
        partitions = node.ring.replicated_partitions(node.name, node.config.n)
        if not partitions:
            continue
        partition = partitions[cursor % len(partitions)]
        cursor += 1
        with one_round("anti-entropy"):
            await sync_partition(node, partition)


async def sync_partition(node: Node, partition: int) -> int:
    """Compare one partition with every other live replica; return keys repaired."""
    repaired = 0
    for peer in node.ring.partition_nodes(partition, node.config.n):
        if peer != node.name and node.health.is_up(peer):
            repaired += await exchange(node, partition, peer)
    node.stats["ae_rounds"] = node.stats.get("ae_rounds", 0) + 1
    node.stats["ae_last_round"] = int(time.time())  # type: ignore[assignment]
    return repaired


async def exchange(node: Node, partition: int, peer: str) -> int:
    node.stats["ae_exchanges"] = node.stats.get("ae_exchanges", 0) + 1
    ours = tree(node, partition)
    reply = await node.call(peer, {"op": "ae_root", "partition": partition})
    if schema.digest(reply.get("root"), f"{peer}'s root") == ours.root:
        return 0
    reply = await node.call(peer, {"op": "ae_leaves", "partition": partition})
    leaves = merkle.differing_leaves(ours, schema.leaf_digests(reply.get("leaves"), peer))
    reply = await node.call(peer, {"op": "ae_keys", "partition": partition, "leaves": leaves})
    our_keys: dict[str, bytes] = {}
    for leaf in leaves:
        our_keys.update(ours.keys[leaf])
    keys = merkle.differing_keys(our_keys, schema.key_digests(reply.get("keys"), peer))
    for i in range(0, len(keys), CONCURRENCY):
        await asyncio.gather(*(_reconcile(node, peer, k) for k in keys[i : i + CONCURRENCY]))
        await asyncio.sleep(0)  # let requests in between batches
    node.stats["ae_keys_repaired"] = node.stats.get("ae_keys_repaired", 0) + len(keys)
    return len(keys)


async def _reconcile(node: Node, peer: str, key: str) -> None:
    """Both sides end with the merge of both objects."""
    reply = await node.call(peer, {"op": "replica_get", "key": key})
    theirs = schema.versioned_object(reply.get("obj"), f"{peer}'s copy", limits=node.limits)
    await node.apply_replica(key, theirs)
    merged = merge(node.local_object(key), theirs, lww=node.lww).replica_view()
    if merged.siblings != theirs.siblings or merged.vv != theirs.vv:
        await node.replica_put(peer, key, merged)
