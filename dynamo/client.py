"""Clients of a Dynamo cluster: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Given several nodes, a client talks to the first it can reach and fails over to the next only
when a node cannot be reached (the request was never sent); a request that was sent and then
timed out is not retried, since a retried put would make a second version.

Client-driven coordination (the paper's section 6.4): after ``AsyncClient.learn_ring`` the
client sends each key's request straight to the first reachable of the key's N replicas, so
a put is never forwarded and a get reads one copy locally. Routed requests carry the ring
version the client knows; a node on another version says so in its reply and the client
learns the ring again before its next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from dynamo.auth import proof
from dynamo.connection import Pool, split_address
from dynamo.errors import ConnectError, DynamoError, RemoteError, RequestTimeout, from_wire
from dynamo.protocol import DEFAULT_MAX_FRAME, HEADER, Message, pack
from dynamo.ring import Ring


@dataclass(frozen=True)
class GetResult:
    values: list[bytes]
    """The siblings: one value, several concurrent ones, or none (absent or deleted)."""
    context: str
    """Opaque; pass it to the next put or delete of the key to supersede what was read."""
    node: str
    """The address of the node that answered."""


@dataclass(frozen=True)
class PutResult:
    context: str
    node: str


@dataclass(frozen=True)
class PrefList:
    """A key's preference list as the node that answered sees it (the ``preflist`` op)."""

    owners: list[str]
    """The N nodes that own the key, in ring order."""
    fallbacks: list[str]
    """The rest of the extended list: who stands in, in order, when owners are down."""
    up: list[str]
    """The nodes of the list the answering node thinks up now (its failure detector)."""
    ring_version: int
    node: str


def _preflist(reply: Message, node: str) -> PrefList:
    return PrefList(
        list(reply["owners"]),
        list(reply["fallbacks"]),
        list(reply["up"]),
        int(reply["ring_version"]),
        node,
    )


def _nodes(nodes: str | Sequence[str]) -> list[str]:
    out = [nodes] if isinstance(nodes, str) else list(nodes)
    if not out:
        raise ValueError("a client needs at least one node address")
    for address in out:
        split_address(address)
    return out


def _value(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _get_msg(key: str, r: int | None, local: bool) -> dict[str, Any]:
    msg: dict[str, Any] = {"op": "get", "key": key}
    if r is not None:
        msg["r"] = r
    if local:
        msg["local"] = True
    return msg


def _write_msg(op: str, key: str, **fields: Any) -> dict[str, Any]:
    return {"op": op, "key": key, **{k: v for k, v in fields.items() if v is not None}}


class Routes:
    """What a client knows of the ring: enough to put a key's replicas first."""

    def __init__(self) -> None:
        self.ring: Ring | None = None
        self.version = -1
        self.n = 0
        self.addresses: dict[str, str] = {}
        self.stale = False

    def learn(self, reply: Message) -> None:
        """Take a node's ``ring`` answer; ``RemoteError`` if it is not one."""
        try:
            owners, members = reply["ring"], reply["members"]
            ring = Ring(tuple(str(o) for o in owners)) if owners else None
            addresses = {str(k): str(v) for k, v in members.items()}
            n, version = int(reply["n"]), int(reply["ring_version"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RemoteError(f"not a ring answer: {exc!r}") from None
        self.ring, self.addresses, self.n, self.version = ring, addresses, n, version
        self.stale = False

    def order(self, key: str, nodes: list[str]) -> list[str]:
        """The key's replicas (their addresses, in preference order), then the other nodes."""
        if self.ring is None:
            return nodes
        first = [
            a
            for name in self.ring.preference_list(key, self.n)
            if (a := self.addresses.get(name)) is not None
        ]
        return first + [a for a in nodes if a not in first]

    def note(self, reply: Message) -> None:
        """A node on another ring version says so: learn the ring before the next request."""
        version = reply.get("ring_version")
        if version is not None and version != self.version:
            self.stale = True


class Client:
    """A blocking client; safe to share between threads (one request at a time)."""

    def __init__(
        self,
        nodes: str | Sequence[str],
        timeout: float = 5.0,
        *,
        connect_timeout: float = 1.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        secret: bytes | None = None,
    ) -> None:
        """``secret``: the cluster secret, needed only for ``admin`` (``dynamo.auth``)."""
        self.nodes = _nodes(nodes)
        self.timeout = timeout
        self.secret = secret
        self.connect_timeout = connect_timeout
        self.max_frame = max_frame
        self._sock: socket.socket | None = None
        self._node: str | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def get(self, key: str, *, r: int | None = None, local: bool = False) -> GetResult:
        reply, node = self._request(_get_msg(key, r, local))
        return GetResult(list(reply["values"]), reply["context"], node)

    def put(
        self, key: str, value: bytes | str, context: str | None = None, *, w: int | None = None
    ) -> PutResult:
        reply, node = self._request(
            _write_msg("put", key, value=_value(value), context=context or None, w=w)
        )
        return PutResult(reply["context"], node)

    def delete(self, key: str, context: str, *, w: int | None = None) -> PutResult:
        reply, node = self._request(_write_msg("delete", key, context=context, w=w))
        return PutResult(reply["context"], node)

    def preflist(self, key: str) -> PrefList:
        reply, node = self._request({"op": "preflist", "key": key})
        return _preflist(reply, node)

    def status(self) -> dict[str, Any]:
        reply, _ = self._request({"op": "status"})
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    def admin(self, action: str) -> dict[str, Any]:
        """``join``: bring this (outside) node into the ring; ``leave``: hand its data off
        and leave the ring."""
        reply, _ = self._request({"op": f"admin_{action}"})
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    def ping(self) -> str:
        reply, _ = self._request({"op": "ping"})
        return str(reply["name"])

    def _request(self, msg: dict[str, Any]) -> tuple[Message, str]:
        with self._lock:
            unreachable = []
            start = self.nodes.index(self._node) if self._node in self.nodes else 0
            for address in self.nodes[start:] + self.nodes[:start]:
                try:
                    sock = self._connect(address)
                except ConnectError as exc:
                    unreachable.append(str(exc))
                    continue
                return self._exchange(sock, msg), address
            raise ConnectError("; ".join(unreachable))

    def _connect(self, address: str) -> socket.socket:
        if self._sock is not None and self._node == address:
            return self._sock
        self.close()
        try:
            sock = socket.create_connection(split_address(address), self.connect_timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {address}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._node = sock, address
        if self.secret is not None:
            try:
                challenge = self._exchange(sock, {"op": "hello"}).get("challenge")
                if not isinstance(challenge, bytes):
                    raise RemoteError(f"{address} sent no challenge")
                self._exchange(sock, {"op": "auth", "proof": proof(self.secret, challenge)})
            except BaseException:
                self.close()
                raise
        return sock

    def _exchange(self, sock: socket.socket, msg: dict[str, Any]) -> Message:
        rid = next(self._ids)
        try:
            sock.settimeout(self.timeout)
            sock.sendall(pack({**msg, "id": rid}))
            while True:
                reply = self._read_frame(sock)
                if reply.get("id") == rid or reply.get("id") is None:
                    break
        except TimeoutError:
            self.close()
            raise RequestTimeout(
                f"{msg['op']}: no answer from {self._node} in {self.timeout:g}s"
            ) from None
        except OSError as exc:
            node = self._node
            self.close()
            raise RemoteError(f"{msg['op']}: connection to {node} failed: {exc}") from exc
        if not reply.get("ok"):
            if reply.get("id") is None:
                self.close()
            raise from_wire(reply.get("error") or {})
        return reply

    def _read_frame(self, sock: socket.socket) -> Message:
        (length,) = HEADER.unpack(self._read_exactly(sock, HEADER.size))
        if length > self.max_frame:
            raise OSError(f"reply frame of {length} bytes is over the limit")
        reply = msgpack.unpackb(self._read_exactly(sock, length), raw=False)
        if not isinstance(reply, dict):
            raise OSError("reply is not a map")
        return reply

    @staticmethod
    def _read_exactly(sock: socket.socket, size: int) -> bytes:
        chunks, remaining = [], size
        while remaining:
            chunk = sock.recv(remaining)
            if not chunk:
                raise ConnectionError("connection closed by the node")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio client: many requests in flight on one connection per node."""

    def __init__(
        self,
        nodes: str | Sequence[str],
        timeout: float = 5.0,
        *,
        connect_timeout: float = 1.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        secret: bytes | None = None,
    ) -> None:
        self.nodes = _nodes(nodes)
        self.timeout = timeout
        self._pool = Pool(connect_timeout=connect_timeout, max_frame=max_frame, secret=secret)
        self._preferred = 0
        self.routes = Routes()
        self._routed = False

    async def learn_ring(self) -> None:
        """Route every later request to its key's replicas (and keep the ring current)."""
        reply, _ = await self._request({"op": "ring"})
        self.routes.learn(reply)
        self._routed = True

    async def get(self, key: str, *, r: int | None = None, local: bool = False) -> GetResult:
        reply, node = await self._request(_get_msg(key, r, local), key)
        return GetResult(list(reply["values"]), reply["context"], node)

    async def put(
        self, key: str, value: bytes | str, context: str | None = None, *, w: int | None = None
    ) -> PutResult:
        reply, node = await self._request(
            _write_msg("put", key, value=_value(value), context=context or None, w=w), key
        )
        return PutResult(reply["context"], node)

    async def delete(self, key: str, context: str, *, w: int | None = None) -> PutResult:
        reply, node = await self._request(_write_msg("delete", key, context=context, w=w), key)
        return PutResult(reply["context"], node)

    async def preflist(self, key: str) -> PrefList:
        reply, node = await self._request({"op": "preflist", "key": key})
        return _preflist(reply, node)

    async def status(self) -> dict[str, Any]:
        reply, _ = await self._request({"op": "status"})
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    async def _request(self, msg: dict[str, Any], key: str | None = None) -> tuple[Message, str]:
        if key is not None and self._routed:
            if self.routes.stale:
                with contextlib.suppress(DynamoError):
                    await self.learn_ring()
            msg["ring_version"] = self.routes.version
            reply, address = await self._send(msg, self.routes.order(key, self.nodes), False)
            self.routes.note(reply)
            return reply, address
        count = len(self.nodes)
        order = [self.nodes[(self._preferred + i) % count] for i in range(count)]
        return await self._send(msg, order, True)

    async def _send(
        self, msg: dict[str, Any], order: list[str], sticky: bool
    ) -> tuple[Message, str]:
        """To the first node of ``order`` that can be reached (``sticky``: and stay there)."""
        unreachable = []
        for address in order:
            try:
                conn = await self._pool.get(address)
            except ConnectError as exc:
                unreachable.append(str(exc))
                continue
            if sticky:
                self._preferred = self.nodes.index(address)
            return await conn.request(msg, self.timeout), address
        raise ConnectError("; ".join(unreachable))

    async def close(self) -> None:
        self._pool.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
