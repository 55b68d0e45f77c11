"""A client bound to one etcd member, through its JSON gateway.

A set is one key per element under the set's prefix (``<set>/<element>``), so adding is a
plain put that no concurrent add can overwrite, and reading is one range over the prefix.
Registers are put / range / delete of one key. Every read is etcd's default, linearizable
(it goes through the leader); a member cut off from the majority cannot answer it.

A read that etcd answers *unavailable* (an election under way: "leader changed", "no
leader", "request timed out") is retried until the client's timeout is spent, as etcd's own
Go client retries its read-only requests: a range changes nothing, so one election right
after a heal no longer fails the final reads. Writes and deletes are never retried.
"""

from __future__ import annotations

import asyncio
from typing import Any

from systems.base import ReadResult
from systems.etcd.gateway import UNAVAILABLE, Gateway, GatewayError, b64, prefix_end, unb64

CLIENT_PORT = 2379


class EtcdClient:
    def __init__(self, host: str, timeout: float, *, port: int = CLIENT_PORT) -> None:
        self.gateway = Gateway(host, port, timeout)

    # sets

    async def add(self, key: str, element: int) -> None:
        await self.gateway.call("kv/put", {"key": b64(f"{key}/{element}"), "value": b64("1")})

    async def read_set(self, key: str) -> set[int]:
        prefix = f"{key}/"
        span = {"key": b64(prefix), "range_end": b64(prefix_end(prefix)), "keys_only": True}
        got = await self._range(span)
        return {int(unb64(kv["key"])[len(prefix) :]) for kv in got.get("kvs", ())}

    # registers

    async def write(self, key: str, value: str, context: str | None = None) -> None:
        await self.gateway.call("kv/put", {"key": b64(key), "value": b64(value)})

    async def read(self, key: str) -> ReadResult:
        got = await self._range({"key": b64(key)})
        kvs = got.get("kvs") or ()
        return ReadResult([unb64(kvs[0]["value"])] if kvs else [])

    async def delete(self, key: str, context: str | None = None) -> None:
        await self.gateway.call("kv/deleterange", {"key": b64(key)})

    async def _range(self, body: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.gateway.timeout
        delay = 0.05
        while True:
            try:
                return await self.gateway.call("kv/range", body)
            except GatewayError as e:
                if e.code != UNAVAILABLE or loop.time() + delay >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(2 * delay, 0.5)

    async def close(self) -> None:
        await self.gateway.close()
