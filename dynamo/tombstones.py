"""Deletes that never resurrect: a tombstone is kept until every replica has it, then reaped.

A delete writes a tombstone (a sibling with no value) that supersedes what the client read.
Dropping it too early would let a replica that missed the delete — or a hinted copy still
waiting for hand-off — bring the old value back, since nothing would cover its dot any more.
So the first owner of a key reaps a tombstone only when

1. the tombstone is older than ``tombstone_grace`` (in-flight writes and repairs have landed),
2. every one of the key's N owners is up and holds exactly the same tombstone, and
3. no member of the cluster holds a hint for the key (all must answer);

then each owner deletes its copy only if it is still that same tombstone.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from dynamo import merkle
from dynamo.errors import DynamoError, one_round
from dynamo.versions import VersionedObject

if TYPE_CHECKING:
    from dynamo.node import Node


def is_tombstone(obj: VersionedObject) -> bool:
    return bool(obj.siblings) and all(s.deleted for s in obj.siblings)


def noticed(node: Node, key: str, obj: VersionedObject) -> None:
    """Called on every local write: remember keys whose object became a tombstone."""
    if is_tombstone(obj):
        node.tombstones.add(key)
    else:
        node.tombstones.discard(key)


async def run(node: Node) -> None:
    grace = node.config.tombstone_grace
    if grace < 0:
        return
    if node.state.ring is not None:  # tombstones left from before a restart
        for key, obj in node.storage.scan(0, 1 << 32):
            noticed(node, key, obj)
    while True:
        await asyncio.sleep(max(0.2, min(grace, 5.0)))
        if node.busy or node.state.ring is None:
            continue
        for key in sorted(node.tombstones)[:256]:
            with one_round("reaping"):
                await reap(node, key)


async def reap(node: Node, key: str) -> bool:
    obj = node.local_object(key)
    if not is_tombstone(obj):
        node.tombstones.discard(key)
        return False
    owners = node.replicas_of(key)
    if owners[0] != node.name:
        return False
    if node.clock() - max(s.timestamp for s in obj.siblings) < node.config.tombstone_grace:
        return False
    try:
        reaped = await _reap_everywhere(node, key, obj, owners)
    except DynamoError:
        reaped = False  # an owner or a member did not answer: it may hold the old value
    if not reaped:
        node.stats["tombstones_deferred"] = node.stats.get("tombstones_deferred", 0) + 1
    return reaped


async def _reap_everywhere(node: Node, key: str, obj: VersionedObject, owners: list[str]) -> bool:
    mine = merkle.digest(obj)
    copies = await asyncio.gather(*(node.replica_get(o, key) for o in owners))
    if any(merkle.digest(c) != mine for c in copies):
        return False
    peers = [m for m in node.members if m != node.name]
    answers = await asyncio.gather(*(node.call(p, {"op": "hint_check", "key": key}) for p in peers))
    if key in node.storage.hints or any(a.get("hinted") is not False for a in answers):
        return False
    others = [o for o in owners if o != node.name]
    await asyncio.gather(
        *(node.call(o, {"op": "replica_reap", "key": key, "digest": mine}) for o in others)
    )
    reap_local(node, key, mine)
    node.stats["tombstones_reaped"] = node.stats.get("tombstones_reaped", 0) + 1
    return True


def reap_local(node: Node, key: str, expected: bytes) -> bool:
    """Delete our copy if it is still exactly the tombstone the reaper saw."""
    obj = node.local_object(key)
    if not is_tombstone(obj) or merkle.digest(obj) != expected:
        return False
    node.tombstones.discard(key)
    node.drop_local(key)
    return True
