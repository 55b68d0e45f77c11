"""The counters ``status`` reports are counted where the thing happens: four nodes in this
process joined by an in-memory wire, driven step by step (no background loops), each counter
read before and after the one step that must move it by exactly one."""

from __future__ import annotations

import asyncio
from typing import Any

from dynamo import entropy, handoff, tombstones
from dynamo.config import NodeConfig
from dynamo.errors import ConnectError, from_wire
from dynamo.node import COUNTERS, Node
from dynamo.protocol import Message
from dynamo.storage import MemoryStorage
from dynamo.versions import VersionedObject

NAMES = ["n1", "n2", "n3", "n4"]
ADDRESSES = {n: f"127.0.0.1:{7000 + i}" for i, n in enumerate(NAMES)}


class Wire:
    """Every node's transport: a request is the target's ``respond``; a cut node is
    unreachable."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.cut: set[str] = set()

    async def request(self, address: str, msg: dict[str, Any], timeout: float) -> Message:
        node = self.nodes[address]
        if node.name in self.cut:
            raise ConnectError(f"{node.name} is cut off")
        reply = await node.respond(dict(msg))
        if not reply["ok"]:
            raise from_wire(reply["error"])
        return reply

    def close(self) -> None:
        pass


def cluster() -> tuple[Wire, dict[str, Node]]:
    wire = Wire()
    nodes = {}
    for name in NAMES:
        config = NodeConfig(name=name, listen=ADDRESSES[name], seeds=ADDRESSES, tombstone_grace=0.0)
        nodes[name] = wire.nodes[ADDRESSES[name]] = Node(
            config, storage=MemoryStorage(), transport=wire
        )
    return wire, nodes


def counters(node: Node) -> dict[str, int]:
    """The event counters (``hints_loaded`` and ``hints_pending`` are levels, read at start
    and now, not events: checked apart)."""
    levels = ("hints_loaded", "hints_pending")
    return {k: v for k, v in node.status()["counters"].items() if k not in levels}


def hints_close(node: Node) -> bool:
    """Hints loaded + stored = delivered + rerouted + dropped + pending."""
    c = node.status()["counters"]
    came = c["hints_loaded"] + c["hints_stored"]
    went = c["hints_delivered"] + c["hints_rerouted"] + c["hints_dropped"] + c["hints_pending"]
    return bool(came == went)


async def moves(node: Node, counter: str, step: Any) -> None:
    """``step`` (an awaitable) moves ``counter`` of ``node`` by one and no other counter."""
    before = counters(node)
    await step
    for _ in range(100):  # read repair runs in the background
        if counters(node)[counter] != before[counter]:
            break
        await asyncio.sleep(0.01)
    after = counters(node)
    assert after[counter] == before[counter] + 1, (counter, before, after)
    assert {k: v for k, v in after.items() if k != counter} == {
        k: v for k, v in before.items() if k != counter
    }


def test_every_counter_moves_where_its_event_happens() -> None:
    async def scenario() -> None:
        wire, nodes = cluster()
        first = nodes["n1"]
        key = "counted"
        owners = first.replicas_of(key)
        fallback = nodes[next(n for n in NAMES if n not in owners)]
        coordinator, other, absent = (nodes[o] for o in owners)
        assert set(counters(first)) == set(COUNTERS)

        # a write while one owner is down lands on the fallback with a hint
        wire.cut.add(absent.name)
        coordinator.health.failed(absent.name)
        put = coordinator.respond({"op": "put", "key": key, "value": b"v1"})
        await moves(fallback, "hints_stored", put)
        assert hints_close(fallback) and fallback.status()["counters"]["hints_pending"] == 1

        # hand-off while the owner is still unreachable fails; once it is back, delivers
        await moves(fallback, "hints_failed", handoff.deliver_hints(fallback))
        wire.cut.clear()
        fallback.health.answered(absent.name)
        coordinator.health.answered(absent.name)
        await moves(fallback, "hints_delivered", handoff.deliver_hints(fallback))

        # a hint for a node that left the ring goes to the key's replicas: rerouted
        await coordinator.respond({"op": "put", "key": "k2", "value": b"v"})
        fallback.apply_replica("k2", coordinator.local_object("k2"), hint=absent.name)
        fallback.state.set_ring(fallback.ring.without_node(absent.name))
        await moves(fallback, "hints_rerouted", handoff.deliver_hints(fallback))
        assert all(hints_close(n) for n in nodes.values())

        # a read that finds a replica without the write repairs it
        await other.drop_local(key)
        get = coordinator.respond({"op": "get", "key": key, "r": 3})
        await moves(coordinator, "read_repairs", get)

        # anti-entropy finds the key missing on a replica and repairs it
        await other.drop_local(key)
        partition = coordinator.ring.partition_of(key)
        await moves(coordinator, "ae_keys_repaired", entropy.sync_partition(coordinator, partition))

        # a delete, once every owner holds the tombstone, is reaped by the first owner
        context = (await coordinator.respond({"op": "get", "key": key}))["context"]
        await coordinator.respond({"op": "delete", "key": key, "context": context, "w": 3})
        reaper = nodes[owners[0]]
        await moves(reaper, "tombstones_reaped", tombstones.reap(reaper, key))
        for node in nodes.values():
            await node.stop()

    asyncio.run(scenario())


def test_hints_found_on_disk_at_start_are_counted_as_loaded() -> None:
    async def scenario() -> None:
        storage = MemoryStorage()
        await storage.put("k", VersionedObject(), "n4")
        await storage.put("k", VersionedObject(), "n5")
        config = NodeConfig(name="n1", listen=ADDRESSES["n1"], seeds=ADDRESSES)
        node = Node(config, storage=storage)
        assert node.status()["counters"]["hints_loaded"] == 2
        assert hints_close(node)

    asyncio.run(scenario())
