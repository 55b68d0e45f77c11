"""Storage a simulated crash can cut short.

A node's ``Disk`` is what survives it: a ``MemoryStorage`` holding only what was synced. The
node writes through a ``SimStorage`` opened on that disk, which behaves as the node's SQLite
engine does: reads see queued writes at once; a write is queued and a group commit, a short
simulated fsync later, moves every queued write to the disk together and only then resolves
their futures (with ``buffered`` they resolve at once, as the engine's write buffer does).
``meta_set`` is synchronous and durable, as in the engine.

A crash (``SimStorage.crash``) drops the queue and leaves the disk as it was at the last
commit; the dead storage then ignores everything (a killed process writes nothing). A wiped
disk is a new empty ``Disk``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dynamo.storage import MemoryStorage, hash_prefix, pack, unpack
from dynamo.versions import VersionedObject

_DELETED = None


@dataclass
class Disk:
    """What one node's disk holds after its last sync."""

    store: MemoryStorage = field(default_factory=MemoryStorage)

    def get(self, key: str) -> VersionedObject | None:
        return self.store.get(key)

    def keys(self) -> list[str]:
        return sorted(self.store._rows)

    def hinted(self) -> set[tuple[str, str]]:
        """(key, target) of every durable hint."""
        return {(k, t) for k, targets in self.store.hints.items() for t in targets}


@dataclass
class _Queued:
    op: str
    key: str
    blob: bytes | None = None
    target: str | None = None
    done: asyncio.Future[None] | None = None


class SimStorage:
    """The ``dynamo.storage.Storage`` protocol over a ``Disk``, with group commit."""

    def __init__(
        self,
        disk: Disk,
        rng: random.Random,
        *,
        fsync: tuple[float, float] = (0.0005, 0.004),
        buffered: bool = False,
        on_unhint: Callable[[str, str, VersionedObject | None], None] | None = None,
    ) -> None:
        self.disk = disk
        self.rng = rng
        self.fsync = fsync
        self.buffered = buffered
        self.on_unhint = on_unhint
        """Told (target, key, the object now held) whenever a hint is dropped."""
        self.dead = False
        self._pending: dict[str, bytes | None] = {}
        self._queue: list[_Queued] = []
        self._commit: asyncio.TimerHandle | None = None
        self.hints: dict[str, set[str]] = {k: set(t) for k, t in disk.store.hints.items()}

    # --- reads -----------------------------------------------------------------------------

    def get(self, key: str) -> VersionedObject | None:
        if key in self._pending:
            blob = self._pending[key]
            return unpack(blob) if blob is not None else None
        return self.disk.store.get(key)

    def scan(self, low: int, high: int) -> Iterator[tuple[str, VersionedObject]]:
        keys = set(self.disk.store._rows) | set(self._pending)
        for key in sorted(keys):
            if low <= hash_prefix(key) < high:
                obj = self.get(key)
                if obj is not None:
                    yield key, obj

    def count(self) -> int:
        keys = set(self.disk.store._rows) | set(self._pending)
        return sum(1 for k in keys if self.get(k) is not None)

    def meta_get(self, name: str) -> str | None:
        return self.disk.store.meta_get(name)

    # --- writes ----------------------------------------------------------------------------

    def put(self, key: str, obj: VersionedObject, hint: str | None = None) -> asyncio.Future[None]:
        if not self.dead and hint is not None:
            self.hints.setdefault(key, set()).add(hint)
        return self._enqueue(_Queued("put", key, pack(obj), hint))

    def delete(self, key: str) -> asyncio.Future[None]:
        return self._enqueue(_Queued("delete", key))

    def unhint(self, target: str, key: str) -> asyncio.Future[None]:
        if not self.dead:
            if self.on_unhint is not None:
                self.on_unhint(target, key, self.get(key))
            targets = self.hints.get(key)
            if targets is not None:
                targets.discard(target)
                if not targets:
                    del self.hints[key]
        return self._enqueue(_Queued("unhint", key, target=target))

    def meta_set(self, name: str, value: str) -> None:
        if not self.dead:
            self.disk.store.meta_set(name, value)

    def _enqueue(self, write: _Queued) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        if self.dead:
            return fut  # never resolves: the process that asked is gone
        if write.op != "unhint":
            self._pending[write.key] = write.blob
        write.done = fut
        self._queue.append(write)
        if self._commit is None:
            self._commit = loop.call_later(self.rng.uniform(*self.fsync), self._sync)
        if self.buffered:
            fut.set_result(None)
        return fut

    def _sync(self) -> None:
        self._commit = None
        batch, self._queue = self._queue, []
        store = self.disk.store
        for w in batch:
            if w.op == "put":
                assert w.blob is not None
                store._rows[w.key] = w.blob
                if w.target is not None:
                    store.hints.setdefault(w.key, set()).add(w.target)
            elif w.op == "delete":
                store._rows.pop(w.key, None)
            else:
                assert w.target is not None
                targets = store.hints.get(w.key)
                if targets is not None:
                    targets.discard(w.target)
                    if not targets:
                        del store.hints[w.key]
            if w.op != "unhint" and self._pending.get(w.key, 0) is w.blob:
                del self._pending[w.key]
        for w in batch:
            if w.done is not None and not w.done.done():
                w.done.set_result(None)

    # --- the end ---------------------------------------------------------------------------

    def crash(self) -> int:
        """Lose every write not yet synced; return how many were lost."""
        self.dead = True
        lost = len(self._queue)
        if self._commit is not None:
            self._commit.cancel()
            self._commit = None
        self._queue.clear()
        self._pending.clear()
        return lost

    def close(self) -> None:
        """A clean stop syncs what is queued (the engine's writer drains its queue)."""
        if not self.dead and self._commit is not None:
            self._commit.cancel()
            self._sync()
        self.dead = True
