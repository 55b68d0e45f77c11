"""A client beside one node: it asks that node's Sentinel where the primary is, then talks to it.

Sentinel's answer is asked before every call, as a client library following failovers does,
and it is the answer of the Sentinel on the client's own node: a client cut off with an old
primary keeps writing to it, as applications beside it would (Jepsen, 2013). Writes are
acknowledged when the primary has them, before any replica does; with ``wait`` > 0 the
client also sends ``WAIT`` and reports a write that reached fewer replicas as unknown.
"""

from __future__ import annotations

from systems.base import ReadResult
from systems.errors import Definite, Indefinite
from systems.redis.deploy import MASTER, SENTINEL_PORT
from systems.redis.resp import Connection, ReplyError


class RedisClient:
    def __init__(
        self, host: str, timeout: float, *, sentinel_port: int = SENTINEL_PORT, wait: int = 0
    ) -> None:
        self.timeout = timeout
        self.wait = wait
        self.sentinel = Connection(host, sentinel_port, timeout)
        self.server: Connection | None = None

    async def primary(self) -> Connection:
        """A connection to the primary this node's Sentinel names now."""
        try:
            reply = await self.sentinel.call("SENTINEL", "get-master-addr-by-name", MASTER)
        except (Definite, Indefinite) as e:  # nothing was sent to the store yet
            raise Definite(f"sentinel {self.sentinel.address}: {e}") from e
        if not isinstance(reply, list) or len(reply) != 2:
            raise Definite(f"sentinel {self.sentinel.address} names no primary")
        host, port = reply[0].decode(), int(reply[1])  # type: ignore[union-attr,arg-type]
        if self.server is None or (self.server.host, self.server.port) != (host, port):
            if self.server is not None:
                await self.server.close()
            self.server = Connection(host, port, self.timeout)
        return self.server

    async def _write(self, *args: str | int) -> object:
        server = await self.primary()
        reply = await server.call(*args)
        if self.wait > 0:
            try:
                acked = await server.call("WAIT", self.wait, int(self.timeout * 1000))
            except ReplyError as e:
                raise Indefinite(f"WAIT: {e}") from e
            if not isinstance(acked, int) or acked < self.wait:
                raise Indefinite(f"WAIT: {acked} of {self.wait} replicas have the write")
        return reply

    # sets

    async def add(self, key: str, element: int) -> None:
        await self._write("SADD", key, element)

    async def read_set(self, key: str) -> set[int]:
        reply = await (await self.primary()).call("SMEMBERS", key)
        return {int(x) for x in reply}  # type: ignore[union-attr,arg-type]

    # registers

    async def write(self, key: str, value: str, context: str | None = None) -> None:
        await self._write("SET", key, value)

    async def read(self, key: str) -> ReadResult:
        reply = await (await self.primary()).call("GET", key)
        return ReadResult([] if reply is None else [reply.decode()])  # type: ignore[union-attr]

    async def delete(self, key: str, context: str | None = None) -> None:
        await self._write("DEL", key)

    async def close(self) -> None:
        await self.sentinel.close()
        if self.server is not None:
            await self.server.close()
