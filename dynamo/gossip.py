"""Gossip: every ``gossip_interval`` a node swaps cluster state with one random peer, so
membership and ring changes reach everyone in O(log n) rounds; down peers are probed so the
failure detector takes them back as soon as they answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from dynamo import schema
from dynamo.errors import DynamoError, QuorumError, one_round

if TYPE_CHECKING:
    from dynamo.node import Node

log = logging.getLogger("dynamo.gossip")


async def exchange(node: Node, peer: str) -> None:
    reply = await node.call(
        peer, {"op": "gossip", "state": node.state.to_wire()}, node.config.gossip_interval * 2
    )
    node.absorb(schema.cluster_state(reply.get("state"), f"{peer}'s state"))


def peers(node: Node) -> list[str]:
    known = set(node.members) | set(node.config.seeds)
    return sorted(known - {node.name})


async def run(node: Node) -> None:
    rnd = node.rng
    while True:
        await asyncio.sleep(node.config.gossip_interval * rnd.uniform(0.8, 1.2))
        up = [p for p in peers(node) if node.health.is_up(p)]
        if up:
            with one_round("gossip"):
                await exchange(node, rnd.choice(up))


async def probe(node: Node) -> None:
    """Ping every peer the failure detector holds down, so it is taken back when it answers."""
    while True:
        await asyncio.sleep(node.config.gossip_interval)
        down = node.health.down()
        if down:
            await asyncio.gather(
                *(_ping(node, p) for p in down if p in peers(node)), return_exceptions=True
            )


async def _ping(node: Node, peer: str) -> None:
    with contextlib.suppress(DynamoError):
        await node.call(peer, {"op": "ping"}, min(0.5, node.request_timeout))


async def broadcast(node: Node) -> None:
    """Push our state to every peer at once (after a join or leave), best effort."""
    await asyncio.gather(*(exchange(node, p) for p in peers(node)), return_exceptions=True)


async def join(node: Node) -> None:
    """Learn the ring from the seeds, then claim partitions by strategy 3."""
    if node.state.ring is not None and node.name in node.state.ring.nodes:
        return
    for seed in peers(node):
        with contextlib.suppress(DynamoError):
            await exchange(node, seed)
            if node.state.ring is not None:
                break
    if node.state.ring is None:
        raise QuorumError("no seed answered with a ring; cannot join", definite=True)
    new_ring = node.state.ring.with_node(node.name)
    log.info("joining: taking %d partitions", len(new_ring.owned(node.name)))
    node.change_ring(new_ring, "valid")
