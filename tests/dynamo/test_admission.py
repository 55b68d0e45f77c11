"""Bounds on requests in flight: a connection at its bound, or any connection while the node is
at its total, is not read any more; the frames wait (in the kernel) and are all answered once
requests finish. The node never holds more requests than its bounds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dynamo.hostile import RawClient, running, single_node_config
from dynamo.node import Node
from dynamo.protocol import pack


def hold_pings(node: Node) -> tuple[asyncio.Event, list[int]]:
    """Make every ping wait for the event; record how many are in flight at once."""
    release = asyncio.Event()
    seen: list[int] = []
    original = node.op_ping

    async def held(msg: dict[str, Any]) -> dict[str, Any]:
        seen.append(node.admission.inflight)
        await release.wait()
        return await original(msg)

    node.op_ping = held  # type: ignore[method-assign]
    return release, seen


async def settle(node: Node, inflight: int) -> None:
    for _ in range(200):
        if node.admission.inflight == inflight:
            await asyncio.sleep(0.05)
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{node.admission.inflight} in flight, expected {inflight}")


async def first_reply(node: Node) -> bool:
    client = await RawClient.open(node.config.listen)
    reply = await client.request({"id": 1, "op": "ping"})
    await client.close()
    return bool(reply["ok"])


async def flood(node: Node, pings: int) -> RawClient:
    """A new connection that sends ``pings`` pings in one write."""
    client = await RawClient.open(node.config.listen)
    await client.send_bytes(b"".join(pack({"id": i, "op": "ping"}) for i in range(pings)))
    return client


def test_a_connection_at_its_bound_is_not_read_until_replies_go_out(tmp_path: Path) -> None:
    """Then: a paused connection that closes frees its requests once they are answered."""
    config = single_node_config(None, max_inflight_per_connection=4, max_inflight=6)

    async def scenario() -> None:
        async with running(config) as node:
            release, seen = hold_pings(node)
            first = await flood(node, 40)
            await settle(node, 4)
            assert node.admission.paused == 1 and len(node._tasks) <= 4

            second = await flood(node, 40)
            await settle(node, 6)  # the total bound: 4 + 2
            assert node.admission.paused == 2

            release.set()
            for client in (first, second):
                ids = set()
                for _ in range(40):
                    reply = await client.reply()
                    assert reply is not None and reply["ok"], reply
                    ids.add(reply["id"])
                assert ids == set(range(40))
                await client.close()
            assert max(seen) <= 6
            await settle(node, 0)
            assert node.admission.paused == 0

            release.clear()
            gone = await flood(node, 10)
            await settle(node, 4)
            await gone.close()
            release.set()
            await settle(node, 0)
            assert node.admission.paused == 0
            assert (await first_reply(node)) is True

    asyncio.run(scenario())


def get_big(rid: int) -> bytes:
    return pack({"id": rid, "op": "get", "key": "big"})


def test_a_client_that_does_not_read_its_replies_is_not_read_either() -> None:
    value = b"v" * (256 * 1024)
    config = single_node_config(None)

    async def scenario() -> None:
        async with running(config) as node:
            writer = await RawClient.open(config.listen)
            assert (await writer.request({"id": 0, "op": "put", "key": "big", "value": value}))[
                "ok"
            ]
            await writer.close()
            sluggard = await RawClient.open(config.listen)  # reads nothing until the end
            for batch in range(30):
                ids = range(batch * 10 + 1, batch * 10 + 11)
                await sluggard.send_bytes(b"".join(get_big(i) for i in ids))
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)
            served = node.stats["get"]
            assert served < 150, f"{served} replies of 256 KiB buffered for a client not reading"
            for _ in range(300):  # and every request is answered once it reads
                reply = await sluggard.reply()
                assert reply is not None and reply["values"] == [value]
            assert node.stats["get"] == 300
            await sluggard.close()

    asyncio.run(scenario())
