"""The node process: accepts requests on one port, coordinates gets and puts, serves as a
replica for its peers, keeps its data durable, and runs the background work that makes it
Dynamo: gossip (``dynamo.gossip``), hinted and ownership hand-off (``dynamo.handoff``) and
Merkle anti-entropy (``dynamo.entropy``)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, Protocol

from dynamo import auth, coordinator, entropy, gossip, handoff, merkle, schema, tombstones
from dynamo.admission import Admission
from dynamo.auth import Session
from dynamo.config import NodeConfig
from dynamo.connection import Pool, split_address
from dynamo.errors import (
    BadRequest,
    ConnectError,
    DynamoError,
    QuorumError,
    RemoteError,
    RequestTimeout,
)
from dynamo.logstore import LogStorage
from dynamo.membership import ClusterState, Health, Member
from dynamo.merkle import Tree
from dynamo.meta import MetaWriter
from dynamo.protocol import FrameProtocol, Message
from dynamo.ring import Ring
from dynamo.storage import MemoryStorage, SqliteStorage, Storage
from dynamo.versions import (
    VersionedObject,
    decode_checked,
    decode_context,
    encode,
    encode_context,
    merge,
)

log = logging.getLogger("dynamo.node")

ACTOR_LEASE = 1024
COUNTERS = (
    "hints_stored",
    "hints_delivered",
    "hints_rerouted",
    "hints_dropped",
    "hints_failed",
    "hints_deferred",
    "read_repairs",
    "ae_keys_repaired",
    "keys_transferred",
    "tombstones_reaped",
    "tombstones_deferred",
)
"""What ``status`` reports under ``counters`` (0 until it first happens); each is counted
where it happens, in ``self.stats``. Beside them ``counters`` has ``hints_loaded`` (found on
disk at start, ``Node.hints_loaded``) and ``hints_pending`` (now); together they close: hints
loaded + stored = delivered + rerouted + dropped + pending (``checkers.nodes``).
No path of this node drops a hint undelivered, so ``hints_dropped`` stays 0."""
EARLY_ACK_DELAY = 0.2


class Transport(Protocol):
    """How a node sends requests to its peers: ``dynamo.connection.Pool`` over TCP, or the
    simulator's in-memory network (``tests/sim``)."""

    async def request(self, address: str, msg: dict[str, Any], timeout: float) -> Message: ...

    def close(self) -> None: ...


class Node:
    """One Dynamo node. The keyword arguments are seams for the simulator (``tests/sim``),
    which runs many nodes in one process: its own storage, network, wall clock and random
    source. Left out, the node uses SQLite (or memory), TCP, ``time.time`` and the OS's
    random source."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        storage: Storage | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        """Wall-clock time: LWW timestamps and tombstone ages."""
        self.rng = rng if rng is not None else random.SystemRandom()
        self.name = config.name
        self.lww = config.mode == "lww"
        self.request_timeout = config.request_timeout
        self.early_ack = config.unsafe_early_ack
        if config.secret is None and auth.OPEN_WITHOUT_SECRET:
            log.warning("no cluster secret (--secret-file): anyone may ask for peer operations")
        if self.early_ack:
            log.warning("--unsafe-early-ack: puts are acknowledged before they are durable")
        if storage is None:
            storage = open_storage(config)
        self.storage: Storage = storage
        self.pool: Transport = transport or Pool(
            connect_timeout=config.connect_timeout, max_frame=config.max_frame, secret=config.secret
        )
        self.meta = MetaWriter(storage)
        self.health = Health()
        self.incarnation = self._incarnation()
        self.state = self._initial_state()
        self._actor_seq, self._actor_lease = self._first_lease()
        self._life = f"{self.name}.{self.incarnation}."
        self._life_starts_after = self._actor_seq
        """Actors numbered above this one were made by this process (``actor_for``)."""
        self._next_lease: tuple[int, Future[None]] | None = None
        self.started = time.time()
        self.limits = schema.Limits(config.max_value)
        self.admission = Admission(config.max_inflight_per_connection, config.max_inflight)
        self.stats: dict[str, int] = {}
        self.hints_loaded = self._hints_pending()
        """Hints this incarnation found on disk (its counters start from zero)."""
        self.trees: dict[int, Tree] = {}
        """Merkle trees of partitions, updated key by key as keys change (``_tree_set``)."""
        self.tombstones: set[str] = set()
        """Keys whose local object is only tombstones: candidates for reaping."""
        self.transfers: dict[int, list[str]] = {}
        """Partitions whose data must still be pushed to new replicas after a ring change."""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight = 0
        self._loops: list[asyncio.Future[Any]] = []

    # --- identity and membership -----------------------------------------------------------

    def _incarnation(self) -> str:
        """A random id made when the data directory is first used: a node whose disk was
        wiped comes back as a new incarnation, so its actors are never reused."""
        value = self.storage.meta_get("incarnation")
        if value is None:
            value = f"{self.rng.getrandbits(24):06x}"
            self.storage.meta_set("incarnation", value)
        return value

    def _initial_state(self) -> ClusterState:
        """The last state this node saw (after a restart), else the seeds' ring if the node is
        one of them, else no ring: an outsider learns it by gossip and joins on request."""
        saved = self.storage.meta_get("cluster_state")
        state = _saved_state(saved) if saved is not None else None
        if state is not None:
            mine = state.members.get(self.name)
            if mine is not None and mine.address != self.config.address:
                state.set_member(self.name, self.config.address, mine.status)
            return state
        if self.name in self.config.seeds or not self.config.seeds:
            return ClusterState.bootstrap(self.config.members, self.config.partitions)
        members = {n: Member(a) for n, a in self.config.seeds.items()}
        members[self.name] = Member(self.config.address, "joining")
        return ClusterState(members)

    @property
    def ring(self) -> Ring:
        if self.state.ring is None:
            raise QuorumError(f"{self.name} has not joined a ring yet", definite=True)
        return self.state.ring

    @property
    def members(self) -> dict[str, str]:
        return self.state.addresses()

    def absorb(self, other: ClusterState) -> None:
        """Merge a gossiped state (checked by ``schema.cluster_state``); persist it and start
        hand-offs if the ring moved. A ring of another partition count is refused whole."""
        ours = self.state.ring
        if ours is not None and other.ring is not None and other.ring.partitions != ours.partitions:
            raise BadRequest(
                f"a ring of {other.ring.partitions} partitions; this cluster has {ours.partitions}"
            )
        before = self.state.dumps()
        old_ring = self.state.ring
        ring_changed = self.state.merge(other)
        mine = self.state.members.get(self.name)
        if mine is not None and mine.address != self.config.address:
            self.state.set_member(self.name, self.config.address, mine.status)
        if self.state.dumps() != before:
            self.meta.save("cluster_state", self.state.dumps())
        if ring_changed and self.state.ring is not None:
            log.info("ring v%d adopted", self.state.ring_version)
            handoff.plan_transfers(self, old_ring, self.state.ring)

    def change_ring(self, ring: Ring, status: str) -> None:
        """Adopt a ring this node computed (join or leave) and tell every member at once."""
        old_ring = self.state.ring
        self.state.set_member(self.name, self.config.address, status)  # type: ignore[arg-type]
        self.state.set_ring(ring)
        self.meta.save("cluster_state", self.state.dumps())
        handoff.plan_transfers(self, old_ring, ring)
        self.spawn(gossip.broadcast(self))

    # --- versions --------------------------------------------------------------------------

    def _first_lease(self) -> tuple[int, int]:
        """Actors are numbered from where the last lease on disk ended (the node may have
        used all of it before it stopped); this run's first lease is saved before it serves."""
        stored = int(self.storage.meta_get("actor_lease") or 0)
        self.storage.meta_set("actor_lease", str(stored + ACTOR_LEASE))
        return stored, stored + ACTOR_LEASE

    def actor_for(self, obj: VersionedObject) -> str:
        """The actor a new write of ``obj``'s key is made as: the key's actor if this process
        made it, else a fresh one. A node remembers every dot it made only since it started:
        a crash can lose its own copy of a write the other replicas acknowledged, and the same
        actor would then make that dot again for another value (Riak's kv679)."""
        if obj.actor is not None and self._made_by_this_process(obj.actor):
            return obj.actor
        if self._actor_seq >= self._actor_lease:
            self._renew_lease()
            assert self._next_lease is not None
            lease, saving = self._next_lease
            saving.result()  # at once, unless 512 fresh actors were taken in one commit
            self._actor_lease, self._next_lease = lease, None
        self._actor_seq += 1
        if self._actor_lease - self._actor_seq <= ACTOR_LEASE // 2:
            self._renew_lease()
        return f"{self.name}.{self.incarnation}.{self._actor_seq}"

    def _made_by_this_process(self, actor: str) -> bool:
        seq = actor[len(self._life) :] if actor.startswith(self._life) else ""
        return seq.isdigit() and int(seq) > self._life_starts_after

    def _renew_lease(self) -> None:
        """Save the next lease off the loop, half a lease before it is needed."""
        if self._next_lease is None:
            lease = self._actor_lease + ACTOR_LEASE
            self._next_lease = (lease, self.meta.save("actor_lease", str(lease)))

    # --- routing ---------------------------------------------------------------------------

    def replicas_of(self, key: str) -> list[str]:
        return self.ring.preference_list(key, self.config.n)

    def plan(self, key: str) -> coordinator.Plan:
        """Sloppy quorum: the first N healthy nodes of the key's extended preference list; a
        fallback carries a hint naming the owner it stands in for."""
        prefs = self.ring.preference_list(key)
        owners = prefs[: self.config.n]
        if not self.config.sloppy:
            return [(o, None) for o in owners]
        chosen = [p for p in prefs if p == self.name or self.health.is_up(p)][: self.config.n]
        fallbacks = [c for c in chosen if c not in owners]
        hints = dict(zip(fallbacks, [o for o in owners if o not in chosen], strict=False))
        return [(c, hints.get(c)) for c in chosen]

    # --- the replica side ------------------------------------------------------------------

    def local_object(self, key: str) -> VersionedObject:
        return self.storage.get(key) or VersionedObject()

    def store_local(
        self, key: str, obj: VersionedObject, hint: str | None = None
    ) -> asyncio.Future[None]:
        tombstones.noticed(self, key, obj)
        if hint is not None and hint not in self.storage.hints.get(key, ()):
            self.stats["hints_stored"] = self.stats.get("hints_stored", 0) + 1
        return self._tree_set(key, obj, self.storage.put(key, obj, hint))

    def apply_replica(
        self, key: str, incoming: VersionedObject, hint: str | None = None
    ) -> asyncio.Future[None]:
        """Merge a peer's copy into ours and write it (read, merge and enqueue with no await
        between them, so concurrent writes to the key cannot interleave)."""
        local = self.local_object(key)
        merged = merge(local, incoming, lww=self.lww)
        merged.actor = local.actor
        return self.store_local(key, merged, hint)

    def drop_local(self, key: str) -> asyncio.Future[None]:
        return self._tree_set(key, None, self.storage.delete(key))

    def _tree_set(
        self, key: str, obj: VersionedObject | None, written: asyncio.Future[None]
    ) -> asyncio.Future[None]:
        """Keep the key's partition tree (if one is cached) current; a write that fails
        drops the tree, to be built again from what the disk holds."""
        partition = self.ring.partition_of(key)
        tree = self.trees.get(partition)
        if tree is not None:
            tree.set(key, merkle.digest(obj) if obj is not None else None)
            written.add_done_callback(lambda f: self._tree_write_done(partition, f))
        return written

    def _tree_write_done(self, partition: int, written: asyncio.Future[None]) -> None:
        if not written.cancelled() and written.exception() is not None:
            self.trees.pop(partition, None)

    async def replica_get(self, target: str, key: str) -> VersionedObject:
        if target == self.name:
            return self.local_object(key).replica_view()
        reply = await self.call(target, {"op": "replica_get", "key": key})
        return schema.versioned_object(reply.get("obj"), f"{target}'s copy", limits=self.limits)

    async def replica_put(
        self, target: str, key: str, obj: VersionedObject, hint: str | None = None
    ) -> None:
        if target == self.name:
            await self.apply_replica(key, obj, hint)
            return
        msg: dict[str, Any] = {"op": "replica_put", "key": key, "obj": encode(obj)}
        if hint is not None:
            msg["hint"] = hint
        await self.call(target, msg)

    async def call(self, target: str, msg: dict[str, Any], timeout: float | None = None) -> Message:
        """A request to a peer; its outcome feeds the failure detector."""
        member = self.state.members.get(target)  # as ``members``, without building it
        address = (
            member.address
            if member is not None and member.status != "left"
            else self.config.seeds.get(target)
        )
        if address is None:
            raise ConnectError(f"unknown node {target!r}")
        try:
            reply = await self.pool.request(address, msg, timeout or self.request_timeout)
        except (ConnectError, RequestTimeout):
            self.health.failed(target)
            raise
        self.health.answered(target)
        return reply

    # --- request handling ------------------------------------------------------------------

    async def handle(self, msg: Message) -> Message:
        op = msg["op"]
        self.stats[op] = self.stats.get(op, 0) + 1
        handler: Callable[[Message], Awaitable[Message]] = getattr(self, f"op_{op}")
        return await handler(msg)

    async def op_ping(self, msg: Message) -> Message:
        return {"name": self.name}

    async def op_ring(self, msg: Message) -> Message:
        """What a client needs to send a key's requests to its replicas (``dynamo.client``)."""
        ring = self.state.ring
        return {
            "ring": list(ring.owners) if ring is not None else None,
            "ring_version": self.state.ring_version,
            "members": self.members,
            "n": self.config.n,
        }

    def _ring_note(self, msg: Message, reply: Message) -> Message:
        """A routing client on another ring version is told ours."""
        version = msg.get("ring_version")
        if version is not None and version != self.state.ring_version:
            reply["ring_version"] = self.state.ring_version
        return reply

    async def op_get(self, msg: Message) -> Message:
        key = msg["key"]
        if msg.get("local"):
            obj = self.local_object(key)
        else:
            obj = await coordinator.get(self, key, self._quorum(msg, "r"))
        return self._ring_note(msg, {"values": obj.values, "context": encode_context(obj.vv)})

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
        plan = self.plan(key)
        if self.name not in dict(plan):
            if msg.get("forwarded"):
                raise QuorumError(f"{self.name} will not store {key!r}", definite=True)
            return await self._forward(msg)
        if self.early_ack:  # the deliberately broken node: ack now, write a moment later
            self.spawn(self._write_behind(key, value, context, w))
            return {"context": encode_context(context)}
        obj = await coordinator.put(self, key, value, context, w, plan)
        return self._ring_note(msg, {"context": encode_context(obj.vv)})

    async def _write_behind(
        self, key: str, value: bytes | None, context: dict[str, int], w: int
    ) -> None:
        await asyncio.sleep(EARLY_ACK_DELAY)
        await coordinator.put(self, key, value, context, w)

    async def _forward(self, msg: Message) -> Message:
        """Hand a write to the first node of its plan that takes it; that node coordinates."""
        refused = []
        forwarded = {k: v for k, v in msg.items() if k != "id"}
        forwarded["forwarded"] = True
        for target, _ in self.plan(msg["key"]):
            try:
                reply = await self.call(target, forwarded)
                return {k: v for k, v in reply.items() if k not in ("id", "ok")}
            except DynamoError as exc:
                if not exc.definite:
                    raise
                refused.append(f"{target}: {exc}")
        raise QuorumError(f"no node took the write of {msg['key']!r} ({'; '.join(refused)})")

    def _quorum(self, msg: Message, which: str) -> int:
        value = msg.get(which)
        if value is None:
            return int(getattr(self.config, which))
        if not 1 <= value <= self.config.n:
            raise BadRequest(f"{which} must be between 1 and n={self.config.n}, not {value}")
        return int(value)

    async def op_preflist(self, msg: Message) -> Message:
        """The key's preference list as this node sees it: the N owners in ring order, the
        fallbacks after them, and which of them this node now thinks up. A client that
        must know who holds a key after joins or leaves asks; it does not recompute."""
        prefs = self.ring.preference_list(msg["key"])
        n = self.config.n
        return {
            "owners": prefs[:n],
            "fallbacks": prefs[n:],
            "up": [p for p in prefs if p == self.name or self.health.is_up(p)],
            "ring_version": self.state.ring_version,
        }

    def answer_replica_get(self, msg: Message) -> Message:
        """At once, with no task (``_dispatch``)."""
        return {"obj": encode(self.local_object(msg["key"]).replica_view())}

    def answer_replica_put(self, msg: Message) -> asyncio.Future[Message]:
        """A future of the reply, resolved once the write is durable (no task: ``_dispatch``).
        A copy this node is no replica of, unhinted, is a stray to hand on."""
        key, hint = msg["key"], msg.get("hint")
        written = self.apply_replica(key, decode_checked(msg["obj"]), hint)
        answered: asyncio.Future[Message] = written.get_loop().create_future()

        def done(f: asyncio.Future[None]) -> None:
            if f.cancelled():
                answered.cancel()
            elif (exc := f.exception()) is not None:
                answered.set_exception(exc)
            else:
                try:
                    if hint is None and self.name not in self.replicas_of(key):
                        handoff.stray(self, key)
                except Exception as error:
                    answered.set_exception(error)
                else:
                    answered.set_result({})

        written.add_done_callback(done)
        return answered

    async def op_gossip(self, msg: Message) -> Message:
        self.absorb(ClusterState.from_wire(msg["state"]))
        return {"state": self.state.to_wire()}

    async def op_ae_root(self, msg: Message) -> Message:
        return {"root": entropy.tree(self, msg["partition"]).root}

    async def op_ae_leaves(self, msg: Message) -> Message:
        return {"leaves": list(entropy.tree(self, msg["partition"]).leaves)}

    async def op_ae_keys(self, msg: Message) -> Message:
        tree = entropy.tree(self, msg["partition"])
        keys: dict[str, bytes] = {}
        for leaf in msg["leaves"]:
            if isinstance(leaf, int) and 0 <= leaf < len(tree.keys):
                keys.update(tree.keys[leaf])
        return {"keys": keys}

    async def op_hint_check(self, msg: Message) -> Message:
        key = msg["key"]
        stray = (
            self.state.ring is not None
            and self.name not in self.replicas_of(key)
            and self.storage.get(key) is not None
        )
        return {"hinted": key in self.storage.hints or stray}

    async def op_replica_reap(self, msg: Message) -> Message:
        return {"reaped": tombstones.reap_local(self, msg["key"], msg["digest"])}

    async def op_admin_join(self, msg: Message) -> Message:
        await gossip.join(self)
        return {"ring_version": self.state.ring_version, "owned": len(self.ring.owned(self.name))}

    async def op_admin_leave(self, msg: Message) -> Message:
        handoff.leave(self)
        return {"ring_version": self.state.ring_version}

    def _hints_pending(self) -> int:
        return sum(len(targets) for targets in self.storage.hints.values())

    async def op_status(self, msg: Message) -> Message:
        return self.status()

    def status(self) -> dict[str, Any]:
        ring = self.state.ring
        members = {
            name: {
                "address": m.address,
                "status": m.status,
                "up": name == self.name or self.health.is_up(name),
            }
            for name, m in sorted(self.state.members.items())
        }
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
            "members": members,
            "ring_version": self.state.ring_version,
            "partitions": ring.partitions if ring else 0,
            "partitions_owned": ring.owned(self.name) if ring else [],
            "partitions_replicated": (
                len(ring.replicated_partitions(self.name, self.config.n)) if ring else 0
            ),
            "keys": self.storage.count(),
            "hints_pending": self._hints_pending(),
            "transfers_pending": sorted(self.transfers),
            "anti_entropy": dict(entropy.progress(self)),
            "tombstones": len(self.tombstones),
            "wall_clock": self.clock(),
            "uptime": time.time() - self.started,
            "requests": dict(sorted(self.stats.items())),
            "counters": {
                **{name: self.stats.get(name, 0) for name in COUNTERS},
                "hints_loaded": self.hints_loaded,
                "hints_pending": self._hints_pending(),
            },
            "inflight": self.admission.inflight,
            "paused_connections": self.admission.paused,
            "gc": {
                "collections": [generation["collections"] for generation in gc.get_stats()],
                "threshold": list(gc.get_threshold()),
                "frozen": gc.get_freeze_count(),
            },
        }

    # --- the server ------------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run background work tied to the node's life; its failures are logged, not raised."""
        task = (
            asyncio.get_running_loop().create_task(coro)
            if asyncio.iscoroutine(coro)
            else asyncio.ensure_future(coro)
        )
        self._tasks.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, DynamoError):
                log.error("background task failed", exc_info=exc)

    @property
    def busy(self) -> bool:
        """Admission control for background work: requests come first."""
        return self._inflight > 16

    def _connection(self) -> FrameProtocol:
        proto: FrameProtocol
        session: Session | None = None

        def on_frame(raw: object) -> None:
            nonlocal session
            if session is None:
                peer = proto.transport.get_extra_info("peername") if proto.transport else None
                session = Session(peer[0] if isinstance(peer, tuple) else None)
            self.admission.started(proto)
            rid = schema.request_id(raw)
            self._inflight += 1
            try:
                answer = self._dispatch(raw, session)
            except Exception as exc:
                self._sent(proto, self._error_reply(rid, raw, exc))
                return
            if isinstance(answer, dict):
                self._sent(proto, {"id": rid, "ok": True, **answer})
            elif isinstance(answer, asyncio.Future):
                answer.add_done_callback(lambda f: self._sent(proto, self._reply(rid, raw, f)))
            else:
                self.spawn(self._serve(rid, raw, answer, proto))

        def on_close(exc: Exception | None) -> None:
            self.admission.closed(proto)

        proto = FrameProtocol(
            on_frame, on_close, max_frame=self.config.max_frame, reads_wait_for_writes=True
        )
        return proto

    async def _serve(
        self, rid: int | None, raw: object, answer: Awaitable[Message], proto: FrameProtocol
    ) -> None:
        try:
            reply: Message = {"id": rid, "ok": True, **(await answer)}
        except Exception as exc:
            reply = self._error_reply(rid, raw, exc)
        self._sent(proto, reply)

    def _sent(self, proto: FrameProtocol, reply: Message) -> None:
        """A request of ``proto`` is answered: the reply goes out, the counts go down."""
        self._inflight -= 1
        proto.send(reply)
        self.admission.finished(proto)

    def _reply(self, rid: int | None, raw: object, answered: asyncio.Future[Message]) -> Message:
        if answered.cancelled():
            return self._error_reply(rid, raw, asyncio.CancelledError())
        exc = answered.exception()
        if exc is not None:
            return self._error_reply(rid, raw, exc)
        return {"id": rid, "ok": True, **answered.result()}

    def _error_reply(self, rid: int | None, raw: object, exc: BaseException) -> Message:
        if isinstance(exc, DynamoError):
            return {"id": rid, "ok": False, "error": exc.to_wire()}
        # a bug must cost one request, never the node
        op = raw.get("op") if isinstance(raw, dict) else "?"
        log.error("request %r failed", op, exc_info=exc)
        return {"id": rid, "ok": False, "error": RemoteError(repr(exc)).to_wire()}

    async def respond(self, raw: object, session: Session | None = None) -> Message:
        """The one entry point of inbound requests (the TCP server's and the simulator's):
        a decoded request in, its reply out; an error costs this request only. ``session``
        is the connection's (``dynamo.auth``); None, an in-process caller, is trusted."""
        rid = schema.request_id(raw)
        self._inflight += 1
        try:
            answer = self._dispatch(raw, session)
            if not isinstance(answer, dict):
                answer = await answer
            reply: Message = {"id": rid, "ok": True, **answer}
        except Exception as exc:
            reply = self._error_reply(rid, raw, exc)
        finally:
            self._inflight -= 1
        return reply

    def _dispatch(
        self, raw: object, session: Session | None
    ) -> Message | asyncio.Future[Message] | Awaitable[Message]:
        """Check a request and start answering it: a reply at once, a future of one (a
        replica's ops: no task), or a coroutine (``handle``) for the caller to run."""
        msg = schema.request(raw, self.limits)
        op = msg["op"]
        if op in ("hello", "auth"):
            return (session or Session(None)).handshake(msg, self.config.secret)
        if session is not None:
            session.admit(msg, self.config.secret)
        if op == "replica_get":
            self.stats[op] = self.stats.get(op, 0) + 1
            return self.answer_replica_get(msg)
        if op == "replica_put":
            self.stats[op] = self.stats.get(op, 0) + 1
            return self.answer_replica_put(msg)
        return self.handle(msg)

    async def start(self, *, listen: bool = True) -> None:
        """Start the background work and, unless ``listen=False`` (the simulator delivers
        requests to ``respond`` itself), the TCP server."""
        if listen:
            host, port = split_address(self.config.listen)
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                self._connection, host, port, reuse_address=True
            )
        self._loops = [
            asyncio.ensure_future(coro)
            for coro in (
                gossip.run(self),
                gossip.probe(self),
                handoff.run(self),
                entropy.run(self),
                tombstones.run(self),
            )
        ]
        if self.state.ring is not None:
            handoff.resume_transfers(self)
        log.info(
            "node %s listening on %s (n=%d r=%d w=%d mode=%s, %d members, ring v%d, "
            "incarnation %s)",
            self.name,
            self.config.listen,
            self.config.n,
            self.config.r,
            self.config.w,
            self.config.mode,
            len(self.members),
            self.state.ring_version,
            self.incarnation,
        )

    def abort(self) -> None:
        """Stop at once, as ``kill -9`` would: every task cancelled, nothing flushed or
        closed (the simulator's crash; the storage decides what survives)."""
        if self._server is not None:
            self._server.close()
        for task in [*self._loops, *self._tasks]:
            task.cancel()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.request_timeout)
        self.pool.close()
        self.meta.close()
        self.storage.close()
        log.info("node %s stopped", self.name)


def open_storage(config: NodeConfig) -> Storage:
    """The engine ``config`` names, in its data directory (in memory without one)."""
    if config.data_dir is None:
        return MemoryStorage()
    if config.storage == "log":
        return LogStorage(config.data_dir / "data.log", buffered=config.buffered)
    return SqliteStorage(config.data_dir / "data.sqlite", buffered=config.buffered)


GC_THRESHOLD = (20_000, 50, 10)
"""The cyclic collector's thresholds in a node process (CPython's are 700, 10, 10). A node
makes few reference cycles, but with the default the oldest generation was walked 1-4 times
in 8 s of load, holding the loop 20-56 ms each time (wall, on 2 busy cores): the put tail.
See docs/performance.md, round 5."""


def settle_gc() -> None:
    """Move what start-up made (modules, configuration, the keys and hints read from disk)
    out of the collector's sight, and collect less often: the loop's pauses get rarer and
    shorter. Cyclic garbage is still collected; objects are still freed by reference count."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def serve(config: NodeConfig) -> None:
    """Run a node until SIGTERM or SIGINT, then stop cleanly."""
    node = Node(config)
    await node.start()
    settle_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await node.stop()


def _saved_state(text: str) -> ClusterState | None:
    """The cluster state saved on this node's disk, checked like a gossiped one; None (start
    from the configured members) if it does not pass, as one saved by an older node might not."""
    try:
        return schema.cluster_state(json.loads(text), "the saved cluster state")
    except (ValueError, BadRequest) as exc:
        log.error("ignoring the saved cluster state: %s", exc)
        return None
