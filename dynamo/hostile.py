"""Hostile input for the tests and benchmarks: a node in this process on a real socket, and a
client that sends frames byte for byte as given (broken ones too).

The node never imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack

from dynamo.cluster import free_ports
from dynamo.config import NodeConfig
from dynamo.node import Node
from dynamo.protocol import HEADER, pack


def single_node_config(data_dir: Path | None, **overrides: Any) -> NodeConfig:
    """One node that is its own cluster (N=R=W=1), quiet background work, a free port."""
    (port,) = free_ports(1)
    settings: dict[str, Any] = {
        "name": "n1",
        "listen": f"127.0.0.1:{port}",
        "data_dir": data_dir,
        "n": 1,
        "r": 1,
        "w": 1,
        "gossip_interval": 5.0,
        "anti_entropy_interval": 0,
        "tombstone_grace": -1,
    }
    settings.update(overrides)
    return NodeConfig(**settings)


@contextlib.asynccontextmanager
async def running(config: NodeConfig) -> AsyncIterator[Node]:
    """A started node, stopped (storage closed) on the way out."""
    node = Node(config)
    try:
        await node.start()
        yield node
    finally:
        await node.stop()


class RawClient:
    """One connection; frames go out exactly as given, replies come back decoded."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str) -> RawClient:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, msg: object) -> None:
        body = msgpack.packb(msg, use_bin_type=True)
        await self.send_bytes(HEADER.pack(len(body)) + body)

    async def reply(self, timeout: float = 5.0) -> dict[str, Any] | None:
        """The next reply, or None when the node closed the connection."""
        try:
            header = await asyncio.wait_for(self.reader.readexactly(HEADER.size), timeout)
            (length,) = HEADER.unpack(header)
            body = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        except asyncio.IncompleteReadError:
            return None
        reply: dict[str, Any] = msgpack.unpackb(body, raw=False)
        return reply

    async def request(self, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        await self.send_bytes(pack(msg))
        reply = await self.reply(timeout)
        if reply is None:
            raise ConnectionError("the node closed the connection")
        return reply

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
