"""Multiplexed connections to nodes, for node-to-node calls and the asyncio client."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from dynamo.auth import proof
from dynamo.errors import ConnectError, DynamoError, RemoteError, RequestTimeout, from_wire
from dynamo.protocol import DEFAULT_MAX_FRAME, FrameProtocol, Message


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` (or ``"[v6]:port"``) to ``(host, port)``; ``ValueError`` if malformed."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a HOST:PORT address: {address!r}")
    return host.strip("[]"), int(port)


class Connection:
    """One TCP connection carrying many requests at once, matched to replies by id."""

    def __init__(
        self, address: str, *, max_frame: int = DEFAULT_MAX_FRAME, secret: bytes | None = None
    ) -> None:
        self.address = address
        self._secret = secret
        self._max_frame = max_frame
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Message]] = {}
        self._protocol: FrameProtocol | None = None
        self.closed = False

    async def open(self, timeout: float) -> None:
        host, port = split_address(self.address)
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: FrameProtocol(
                        self._on_frame, self._on_close, max_frame=self._max_frame
                    ),
                    host,
                    port,
                ),
                timeout,
            )
        except (TimeoutError, OSError) as exc:
            self.closed = True
            reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else exc.strerror or exc
            raise ConnectError(f"cannot connect to {self.address}: {reason}") from exc
        self._protocol = protocol
        if self._secret is not None:
            try:
                hello = await self.request({"op": "hello"}, timeout)
                challenge = hello.get("challenge")
                if not isinstance(challenge, bytes):
                    raise RemoteError(f"{self.address} sent no challenge")
                await self.request({"op": "auth", "proof": proof(self._secret, challenge)}, timeout)
            except DynamoError:
                self.close()
                raise

    def _on_frame(self, msg: object) -> None:
        if not isinstance(msg, dict):
            return
        fut = self._waiting.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if fut is not None and not fut.done():
            fut.set_result(msg)
        elif msg.get("id") is None and not msg.get("ok", True):
            self._fail_all(from_wire(msg.get("error") or {}))

    def _on_close(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_all(RemoteError(f"connection to {self.address} lost"))

    def _fail_all(self, error: DynamoError) -> None:
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(error)

    async def request(self, msg: dict[str, Any], timeout: float) -> Message:
        """Send one request and wait for its reply; raise the reply's error, typed."""
        if self.closed or self._protocol is None:
            raise ConnectError(f"connection to {self.address} is closed")
        rid = next(self._ids)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Message] = loop.create_future()
        self._waiting[rid] = fut
        self._protocol.send({**msg, "id": rid})
        timer = loop.call_later(timeout, _expire, fut, msg.get("op"), self.address, timeout)
        try:
            reply = await fut
        finally:
            timer.cancel()
            self._waiting.pop(rid, None)
        if not reply.get("ok"):
            raise from_wire(reply.get("error") or {})
        return reply

    def close(self) -> None:
        self.closed = True
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()


def _expire(fut: asyncio.Future[Message], op: object, address: str, timeout: float) -> None:
    """A timer instead of ``asyncio.wait_for``, which costs a task per request."""
    if not fut.done():
        fut.set_exception(RequestTimeout(f"{op} to {address}: no answer in {timeout:g}s"))


class Pool:
    """One shared connection per address, reopened when it breaks."""

    def __init__(
        self,
        *,
        connect_timeout: float = 1.0,
        max_frame: int = DEFAULT_MAX_FRAME,
        secret: bytes | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self._max_frame = max_frame
        self._secret = secret
        self._conns: dict[str, Connection] = {}
        self._opening: dict[str, asyncio.Future[Connection]] = {}

    async def get(self, address: str) -> Connection:
        conn = self._conns.get(address)
        if conn is not None and not conn.closed:
            return conn
        opening = self._opening.get(address)
        if opening is not None:
            return await asyncio.shield(opening)
        fut: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        self._opening[address] = fut
        try:
            conn = Connection(address, max_frame=self._max_frame, secret=self._secret)
            await conn.open(self.connect_timeout)
            self._conns[address] = conn
            fut.set_result(conn)
            return conn
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: the waiters above get it too
            raise
        finally:
            del self._opening[address]

    async def request(self, address: str, msg: dict[str, Any], timeout: float) -> Message:
        conn = await self.get(address)
        return await conn.request(msg, timeout)

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
