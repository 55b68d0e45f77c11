"""The ceiling a Dynamo node in Python can reach: a process that speaks the node's wire
protocol and fans out like a quorum, with no storage, no versions and no background work.

    python bench/quorum_ceiling.py --name n1 --listen 127.0.0.1:7001 \\
        --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,...

``bench/node_vs_ceiling.py`` starts five of these beside a real cluster. A client ``get`` asks
the key's N=3 replicas (``replica_get``; the local one answers at once) and replies after R=2;
a ``put`` that lands on a node outside the key's replicas is forwarded to the first replica,
which sends ``replica_put`` to the other two and replies after W=2 (its own copy counts). So
the frames, hops and hashing are the node's; what is missing is everything a real node does
with them. Deliberately plain — a callback per frame, one ``transport.write`` per frame — and
self-contained (its own framing), so that optimising the node's wire code cannot move it.

``--durable DIR`` adds the one thing a durable node cannot leave out: a replica acknowledges a
write (the coordinator's own copy, and every ``replica_put``) only once it is on disk. Each
process appends its writes to one file through a writer thread that makes everything queued
since its last ``fdatasync`` durable as one batch — one ``pwrite`` into space zeroed a MiB
ahead, one ``fdatasync`` — and then runs the batch's acknowledgements on the loop: the
plainest group commit Python can do, the same discipline as the node's log engine. Nothing is
ever read back. What this costs over the bare ceiling is about the floor of durability in
Python on this disk (a commit that waited to gather bigger batches would spend less CPU and
add latency; the node does not wait either); what the node costs over it is the node.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import queue
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import msgpack

from dynamo.ring import Ring

HEADER = struct.Struct(">I")
N, R, W = 3, 2, 2
Reply = Callable[[dict[str, Any]], None]
Done = Callable[[], None]
PREALLOCATE = 1 << 20
"""Zeros written ahead of the end at a time, so most ``fdatasync``s journal no new size."""


def frame(msg: dict[str, Any]) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    return HEADER.pack(len(body)) + body


class Link(asyncio.Protocol):
    """One TCP connection, client-facing or to a peer: frames in, frames out."""

    def __init__(self, node: CeilingNode) -> None:
        self.node = node
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.queued: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for data in self.queued:
            self.transport.write(data)  # type: ignore[union-attr]
        self.queued.clear()

    def write(self, msg: dict[str, Any]) -> None:
        if self.transport is None:
            self.queued.append(frame(msg))
        else:
            self.transport.write(frame(msg))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        offset = 0
        while len(buf) - offset >= HEADER.size:
            (length,) = HEADER.unpack_from(buf, offset)
            end = offset + HEADER.size + length
            if len(buf) < end:
                break
            msg = msgpack.unpackb(bytes(buf[offset + HEADER.size : end]), raw=False)
            offset = end
            if "op" in msg:
                self.node.request(self, msg)
            else:
                self.node.replied(msg)
        del buf[:offset]


class Disk:
    """Group commit: a writer thread; each batch one ``pwrite`` and one ``fdatasync``, then
    its callbacks on the loop."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self.loop = loop
        self.size = 0
        self.allocated = 0
        self.queue: queue.SimpleQueue[tuple[bytes, Done]] = queue.SimpleQueue()
        threading.Thread(target=self.run, name="ceiling-writer", daemon=True).start()

    def write(self, key: str, obj: dict[str, Any], done: Done) -> None:
        """Append ``[key, obj]``; ``done`` runs on the loop once it is on disk."""
        self.queue.put((msgpack.packb([key, obj], use_bin_type=True), done))

    def run(self) -> None:
        try:
            self.commit_forever()
        except OSError as exc:  # a bench that stops acknowledging would only time out
            print(f"ceiling writer: {exc}", file=sys.stderr, flush=True)
            os._exit(1)

    def commit_forever(self) -> None:
        while True:
            batch = [self.queue.get()]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            data = b"".join(record for record, _ in batch)
            end = self.size + len(data)
            if end > self.allocated:
                os.pwrite(self.fd, bytes(end + PREALLOCATE - self.allocated), self.allocated)
                self.allocated = end + PREALLOCATE
            os.pwrite(self.fd, data, self.size)
            os.fdatasync(self.fd)
            self.size = end
            self.loop.call_soon_threadsafe(self.acknowledge, [done for _, done in batch])

    @staticmethod
    def acknowledge(callbacks: list[Done]) -> None:
        for done in callbacks:
            done()


class CeilingNode:
    def __init__(self, name: str, peers: dict[str, str], disk: Disk | None = None) -> None:
        self.name = name
        self.addresses = peers
        self.ring = Ring.balanced(peers)
        self.links: dict[str, Link] = {}
        self.ids = itertools.count(1)
        self.pending: dict[int, Reply] = {}
        self.actor = f"{name}.ceiling.1"
        self.connecting: set[asyncio.Task[object]] = set()
        self.disk = disk

    def peer(self, name: str) -> Link:
        link = self.links.get(name)
        if link is None or (link.transport is not None and link.transport.is_closing()):
            link = self.links[name] = Link(self)
            host, port = self.addresses[name].rsplit(":", 1)
            loop = asyncio.get_running_loop()
            connect = loop.create_connection(lambda: link, host, int(port))
            self.connecting.add(loop.create_task(connect))  # type: ignore[arg-type]
        return link

    def call(self, target: str, msg: dict[str, Any], on_reply: Reply) -> None:
        rid = next(self.ids)
        self.pending[rid] = on_reply
        msg["id"] = rid
        self.peer(target).write(msg)

    def replied(self, msg: dict[str, Any]) -> None:
        callback = self.pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if callback is not None:
            callback(msg)

    def request(self, link: Link, msg: dict[str, Any]) -> None:
        op, rid = msg.get("op"), msg.get("id")
        if op == "get":
            self.coordinate(link, rid, msg["key"], R, {"op": "replica_get", "key": msg["key"]})
        elif op == "put":
            replicas = self.ring.preference_list(msg["key"], N)
            if self.name not in replicas:
                fwd = {k: v for k, v in msg.items() if k != "id"}
                fwd["forwarded"] = True
                self.call(replicas[0], fwd, lambda reply: link.write({**reply, "id": rid}))
                return
            stamp = [self.actor, next(self.ids), time.time(), msg["value"]]
            obj = {"s": [stamp], "v": {self.actor: stamp[1]}}
            self.coordinate(link, rid, msg["key"], W, {"op": "replica_put", "key": msg["key"]}, obj)
        elif op == "replica_put" and self.disk is not None:
            self.disk.write(msg["key"], msg["obj"], lambda: link.write({"id": rid, "ok": True}))
        elif op == "replica_get":
            obj = {"s": [[self.actor, 1, 0.0, b"x" * 100]], "v": {self.actor: 1}}
            link.write({"id": rid, "ok": True, "obj": obj})
        elif op == "replica_put":
            link.write({"id": rid, "ok": True})
        elif op == "ring":
            reply = {"ring": list(self.ring.owners), "ring_version": 0, "n": N}
            link.write({"id": rid, "ok": True, "members": self.addresses, **reply})
        elif op == "ping":
            link.write({"id": rid, "ok": True, "name": self.name})
        else:
            link.write({"id": rid, "ok": False, "error": {"code": "bad_request", "message": op}})

    def coordinate(
        self,
        link: Link,
        rid: object,
        key: str,
        needed: int,
        template: dict[str, Any],
        obj: dict[str, Any] | None = None,
    ) -> None:
        """Send ``template`` to every replica but this one (which counts at once); reply to
        the client when ``needed`` have answered."""
        answered = [0]

        def one(reply: dict[str, Any]) -> None:
            answered[0] += 1
            if answered[0] == needed:
                values = [b"x" * 100] if template["op"] == "replica_get" else []
                link.write({"id": rid, "ok": True, "values": values, "context": "g6Rud"})

        for target in self.ring.preference_list(key, N):
            if target == self.name and obj is not None and self.disk is not None:
                self.disk.write(key, obj, lambda: one({}))
            elif target == self.name:
                one({})
            else:
                msg = dict(template)
                if obj is not None:
                    msg["obj"] = obj
                self.call(target, msg, one)


async def serve(name: str, listen: str, peers: dict[str, str], durable: str | None) -> None:
    loop = asyncio.get_running_loop()
    disk = Disk(os.path.join(durable, f"{name}.log"), loop) if durable else None
    node = CeilingNode(name, peers, disk)
    host, port = listen.rsplit(":", 1)
    server = await loop.create_server(lambda: Link(node), host, int(port), reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--peers", required=True, help="NAME=HOST:PORT,...")
    parser.add_argument("--durable", metavar="DIR", help="acknowledge writes after fdatasync")
    args = parser.parse_args()
    peers = dict(item.split("=", 1) for item in args.peers.split(","))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.name, args.listen, peers, args.durable))


if __name__ == "__main__":
    main()
