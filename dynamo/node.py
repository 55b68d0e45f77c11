"""The node process: accepts requests on one port, coordinates gets and puts, serves as a
replica for its peers, and keeps its data durable."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import time
from typing import Any

from dynamo import coordinator
from dynamo.config import NodeConfig
from dynamo.connection import Pool, split_address
from dynamo.errors import BadRequest, ConnectError, DynamoError, QuorumError, RemoteError
from dynamo.protocol import FrameProtocol, Message, validate
from dynamo.ring import Ring
from dynamo.storage import MemoryStorage, SqliteStorage, Storage
from dynamo.versions import (
    VersionedObject,
    decode,
    decode_context,
    encode,
    encode_context,
    merge,
)

log = logging.getLogger("dynamo.node")

ACTOR_LEASE = 1024


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.name = config.name
        self.lww = config.mode == "lww"
        self.request_timeout = config.request_timeout
        self.members = config.members
        self.ring = Ring.balanced(self.members, config.partitions)
        self.storage: Storage = (
            SqliteStorage(config.data_dir / "data.sqlite", buffered=config.buffered)
            if config.data_dir is not None
            else MemoryStorage()
        )
        self.pool = Pool(connect_timeout=config.connect_timeout, max_frame=config.max_frame)
        self.incarnation = self._incarnation()
        self._actor_seq, self._actor_lease = 0, 0
        self.started = time.time()
        self.stats: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- identity -------------------------------------------------------------------------

    def _incarnation(self) -> str:
        """A random id made when the data directory is first used: a node whose disk was
        wiped comes back as a new incarnation, so its actors are never reused."""
        value = self.storage.meta_get("incarnation")
        if value is None:
            value = secrets.token_hex(3)
            self.storage.meta_set("incarnation", value)
        return value

    def actor_for(self, obj: VersionedObject) -> str:
        if obj.actor is not None:
            return obj.actor
        if self._actor_seq >= self._actor_lease:
            stored = int(self.storage.meta_get("actor_lease") or 0)
            self._actor_seq = stored
            self._actor_lease = stored + ACTOR_LEASE
            self.storage.meta_set("actor_lease", str(self._actor_lease))
        self._actor_seq += 1
        return f"{self.name}.{self.incarnation}.{self._actor_seq}"

    # --- the replica side ------------------------------------------------------------------

    def replicas_of(self, key: str) -> list[str]:
        return self.ring.preference_list(key, self.config.n)

    def local_object(self, key: str) -> VersionedObject:
        return self.storage.get(key) or VersionedObject()

    def store_local(self, key: str, obj: VersionedObject) -> asyncio.Future[None]:
        return self.storage.put(key, obj)

    def apply_replica(self, key: str, incoming: VersionedObject) -> asyncio.Future[None]:
        """Merge a peer's copy into ours and write it (read, merge and enqueue with no await
        between them, so concurrent writes to the key cannot interleave)."""
        local = self.local_object(key)
        merged = merge(local, incoming, lww=self.lww)
        merged.actor = local.actor
        return self.storage.put(key, merged)

    async def replica_get(self, target: str, key: str) -> VersionedObject:
        if target == self.name:
            return self.local_object(key).replica_view()
        reply = await self._peer(target, {"op": "replica_get", "key": key})
        return decode(reply["obj"])

    async def replica_put(self, target: str, key: str, obj: VersionedObject) -> None:
        if target == self.name:
            await self.apply_replica(key, obj)
            return
        await self._peer(target, {"op": "replica_put", "key": key, "obj": encode(obj)})

    async def _peer(self, target: str, msg: dict[str, Any]) -> Message:
        address = self.members.get(target)
        if address is None:
            raise ConnectError(f"unknown node {target!r}")
        return await self.pool.request(address, msg, self.request_timeout)

    # --- request handling ------------------------------------------------------------------

    async def handle(self, msg: Message) -> Message:
        op = msg["op"]
        self.stats[op] = self.stats.get(op, 0) + 1
        handler = getattr(self, f"op_{op}")
        result: Message = await handler(msg)
        return result

    async def op_ping(self, msg: Message) -> Message:
        return {"name": self.name}

    async def op_get(self, msg: Message) -> Message:
        key = msg["key"]
        if msg.get("local"):
            obj = self.local_object(key)
        else:
            obj = await coordinator.get(self, key, self._quorum(msg, "r"))
        return {"values": obj.values, "context": encode_context(obj.vv)}

    async def op_put(self, msg: Message) -> Message:
        return await self._write(msg, msg["value"])

    async def op_delete(self, msg: Message) -> Message:
        return await self._write(msg, None)

    async def _write(self, msg: Message, value: bytes | None) -> Message:
        key = msg["key"]
        try:
            context = decode_context(msg.get("context"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        w = self._quorum(msg, "w")
        if self.name not in self.replicas_of(key):
            if msg.get("forwarded"):
                raise RemoteError(f"{self.name} was forwarded a write of {key!r} it does not own")
            return await self._forward(msg)
        obj = await coordinator.put(self, key, value, context, w)
        return {"context": encode_context(obj.vv)}

    async def _forward(self, msg: Message) -> Message:
        """Hand a write to the first reachable replica of the key, which coordinates it."""
        unreachable = []
        for target in self.replicas_of(msg["key"]):
            try:
                forwarded = {k: v for k, v in msg.items() if k != "id"}
                reply = await self._peer(target, {**forwarded, "forwarded": True})
                return {k: v for k, v in reply.items() if k not in ("id", "ok")}
            except ConnectError as exc:
                unreachable.append(f"{target}: {exc}")
        raise QuorumError(
            f"no replica of {msg['key']!r} reachable ({'; '.join(unreachable)})", definite=True
        )

    def _quorum(self, msg: Message, which: str) -> int:
        value = msg.get(which)
        if value is None:
            return int(getattr(self.config, which))
        if not 1 <= value <= self.config.n:
            raise BadRequest(f"{which} must be between 1 and n={self.config.n}, not {value}")
        return int(value)

    async def op_replica_get(self, msg: Message) -> Message:
        return {"obj": encode(self.local_object(msg["key"]).replica_view())}

    async def op_replica_put(self, msg: Message) -> Message:
        try:
            incoming = decode(msg["obj"])
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        await self.apply_replica(msg["key"], incoming)
        return {}

    async def op_status(self, msg: Message) -> Message:
        return self.status()

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.config.address,
            "incarnation": self.incarnation,
            "pid": os.getpid(),
            "mode": self.config.mode,
            "n": self.config.n,
            "r": self.config.r,
            "w": self.config.w,
            "buffered": self.config.buffered,
            "members": {name: {"address": addr} for name, addr in sorted(self.members.items())},
            "partitions": self.ring.partitions,
            "partitions_owned": self.ring.owned(self.name),
            "partitions_replicated": len(self.ring.replicated_partitions(self.name, self.config.n)),
            "keys": self.storage.count(),
            "wall_clock": time.time(),
            "uptime": time.time() - self.started,
            "requests": dict(sorted(self.stats.items())),
        }

    # --- the server ------------------------------------------------------------------------

    def _connection(self) -> FrameProtocol:
        proto: FrameProtocol

        def on_frame(raw: object) -> None:
            task = asyncio.ensure_future(self._serve(raw, proto))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        proto = FrameProtocol(on_frame, max_frame=self.config.max_frame)
        return proto

    async def _serve(self, raw: object, proto: FrameProtocol) -> None:
        rid = raw.get("id") if isinstance(raw, dict) else None
        try:
            msg = validate(raw, max_value=self.config.max_value)
            reply: Message = {"id": rid, "ok": True, **(await self.handle(msg))}
        except DynamoError as exc:
            reply = {"id": rid, "ok": False, "error": exc.to_wire()}
        except Exception as exc:  # a bug must cost one request, never the node
            log.exception("request %r failed", raw if isinstance(raw, dict) else "?")
            reply = {"id": rid, "ok": False, "error": RemoteError(repr(exc)).to_wire()}
        proto.send(reply)

    async def start(self) -> None:
        host, port = split_address(self.config.listen)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connection, host, port, reuse_address=True)
        log.info(
            "node %s listening on %s (n=%d r=%d w=%d mode=%s, %d members, incarnation %s)",
            self.name,
            self.config.listen,
            self.config.n,
            self.config.r,
            self.config.w,
            self.config.mode,
            len(self.members),
            self.incarnation,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.request_timeout)
        self.pool.close()
        self.storage.close()
        log.info("node %s stopped", self.name)


async def serve(config: NodeConfig) -> None:
    """Run a node until SIGTERM or SIGINT, then stop cleanly."""
    node = Node(config)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await node.stop()
