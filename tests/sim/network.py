"""An in-memory network between simulated nodes (and their clients).

Every message is copied through msgpack, as the wire would, and arrives after a latency
drawn from the network's random source. What can go wrong, each driven by that source:

- **loss**: with probability ``loss`` a message (request or reply) vanishes; the sender
  times out.
- **duplication**: with probability ``duplicate`` a node-to-node request is delivered twice
  (the second reply is ignored) — replica writes and repairs must be idempotent.
- **delay**: with probability ``slow`` a message takes up to ``slow_delay`` seconds.
- **partitions**: a grudge (``node -> nodes it drops``) blocks directed links. A blocked link
  drops messages (iptables ``DROP``: the sender times out) or, when ``reject`` is set,
  refuses them at once (``REJECT``: a connect error).
- **crashes**: a request to a node that is down is refused; requests a node is serving when
  it crashes fail with a lost connection; a dead node's own requests are cancelled.

Clients (``client_request``) reach any live node: partitions cut nodes from each other, not
from the clients (as the harness's control node sees every node).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgpack

from dynamo.errors import ConnectError, DynamoError, RemoteError, RequestTimeout, from_wire
from dynamo.protocol import Message

PORT = 7000

Handler = Callable[[object], Awaitable[Message]]


def address_of(name: str) -> str:
    return f"{name}:{PORT}"


def name_of(address: str) -> str:
    return address.rpartition(":")[0]


def _wire(msg: object) -> bytes:
    return msgpack.packb(msg, use_bin_type=True)


def _unwire(blob: bytes) -> Any:
    return msgpack.unpackb(blob, raw=False)


@dataclass
class Endpoint:
    """One running incarnation of a node: how to serve it, what it is serving and waiting on."""

    name: str
    handler: Handler | None = None
    serving: dict[asyncio.Task[Message], asyncio.Future[Message]] = field(default_factory=dict)
    waiting: set[asyncio.Future[Message]] = field(default_factory=set)
    alive: bool = True


@dataclass
class Faults:
    loss: float = 0.0
    duplicate: float = 0.0
    slow: float = 0.0
    slow_delay: float = 0.5
    reject: bool = False
    grudge: dict[str, set[str]] = field(default_factory=dict)


class Network:
    def __init__(self, rng: random.Random, *, latency: tuple[float, float] = (0.0002, 0.002)):
        self.rng = rng
        self.latency = latency
        self.faults = Faults()
        self.endpoints: dict[str, Endpoint] = {}
        self.sent = 0

    # --- membership of the network ---------------------------------------------------------

    def attach(self, name: str) -> Endpoint:
        """A new incarnation of ``name`` on the network (its handler is set once it exists)."""
        self.detach(name)
        endpoint = Endpoint(name)
        self.endpoints[name] = endpoint
        return endpoint

    def detach(self, name: str) -> None:
        """The node's process died: its connections break, its own requests go nowhere."""
        endpoint = self.endpoints.pop(name, None)
        if endpoint is None:
            return
        endpoint.alive = False
        for task, fut in list(endpoint.serving.items()):
            task.cancel()
            if not fut.done():
                fut.set_exception(RemoteError(f"connection to {address_of(name)} lost"))
        endpoint.serving.clear()
        for fut in list(endpoint.waiting):
            fut.cancel()
        endpoint.waiting.clear()

    # --- faults ----------------------------------------------------------------------------

    def blocked(self, src: str, dst: str) -> bool:
        return dst in self.faults.grudge.get(src, ()) or src in self.faults.grudge.get(dst, ())

    def _delay(self) -> float:
        delay = self.rng.uniform(*self.latency)
        if self.faults.slow and self.rng.random() < self.faults.slow:
            delay += self.rng.uniform(0, self.faults.slow_delay)
        return delay

    def _lost(self) -> bool:
        return bool(self.faults.loss) and self.rng.random() < self.faults.loss

    # --- delivery --------------------------------------------------------------------------

    async def request(
        self, origin: Endpoint | None, dst: str, msg: dict[str, Any], timeout: float
    ) -> Message:
        """Send ``msg`` from ``origin`` (None: a client) to ``dst``; its reply or a typed
        error."""
        loop = asyncio.get_running_loop()
        src = origin.name if origin is not None else None
        if origin is not None and not origin.alive:
            raise ConnectError(f"{src} is down")  # a dead incarnation's leftover task
        fut: asyncio.Future[Message] = loop.create_future()
        blob = _wire(msg)
        self.sent += 1
        copies = 1
        if src is not None and self.faults.duplicate and self.rng.random() < self.faults.duplicate:
            copies = 2
        for _ in range(copies):
            loop.call_later(self._delay(), self._arrive, src, dst, blob, fut)
        timer = loop.call_later(timeout, _expire, fut, msg.get("op"), dst, timeout)
        if origin is not None:
            origin.waiting.add(fut)
        try:
            reply = await fut
        finally:
            timer.cancel()
            if origin is not None:
                origin.waiting.discard(fut)
        if not reply.get("ok"):
            raise from_wire(reply.get("error") or {})
        return reply

    def _arrive(self, src: str | None, dst: str, blob: bytes, fut: asyncio.Future[Message]) -> None:
        if fut.done():
            return
        if src is not None and self.blocked(src, dst):
            if self.faults.reject:
                fut.set_exception(ConnectError(f"cannot connect to {address_of(dst)}: refused"))
            return
        if src is not None and self._lost():
            return
        endpoint = self.endpoints.get(dst)
        if endpoint is None or endpoint.handler is None:
            fut.set_exception(ConnectError(f"cannot connect to {address_of(dst)}: refused"))
            return
        task = asyncio.ensure_future(endpoint.handler(_unwire(blob)))
        endpoint.serving[task] = fut
        task.add_done_callback(lambda t: self._answered(endpoint, src, t))

    def _answered(self, endpoint: Endpoint, src: str | None, task: asyncio.Task[Message]) -> None:
        fut = endpoint.serving.pop(task, None)
        if fut is None or task.cancelled() or not endpoint.alive:
            return
        if task.exception() is not None:
            reply: Message = {"ok": False, "error": _error(task.exception())}
        else:
            reply = task.result()
        if src is not None and (self.blocked(endpoint.name, src) or self._lost()):
            return
        blob = _wire(reply)
        asyncio.get_running_loop().call_later(self._delay(), _reply, fut, blob)


def _error(exc: BaseException | None) -> dict[str, object]:
    if isinstance(exc, DynamoError):
        return exc.to_wire()
    return RemoteError(repr(exc)).to_wire()


def _reply(fut: asyncio.Future[Message], blob: bytes) -> None:
    if not fut.done():
        fut.set_result(_unwire(blob))


def _expire(fut: asyncio.Future[Message], op: object, dst: str, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(RequestTimeout(f"{op} to {address_of(dst)}: no answer in {timeout:g}s"))


class SimTransport:
    """What a node sees of the network: the ``dynamo.node.Transport`` protocol."""

    def __init__(self, network: Network, endpoint: Endpoint) -> None:
        self.network = network
        self.endpoint = endpoint

    async def request(self, address: str, msg: dict[str, Any], timeout: float) -> Message:
        return await self.network.request(self.endpoint, name_of(address), msg, timeout)

    def close(self) -> None:
        pass
