"""Metadata saves (the cluster state, actor leases) off the event loop.

SQLite's ``meta_set`` commits with ``fsync`` (the log's waits for its writer's next
``fdatasync``): milliseconds the loop would otherwise spend not
serving. ``MetaWriter`` runs them on one thread of its own, in the order they were asked for;
a value that is superseded before its turn is not written at all (the later one is). Engines
whose ``meta_set`` costs nothing (memory, the simulator's disk) are written at once on the
caller's thread, so a simulated run stays deterministic.

The saved cluster state may lag the one in memory by a commit; after a crash the node starts
from the older state and gossip brings it the newer one. Actor leases need more: an actor
must be durable before a write uses it, so ``Node.actor_for`` waits on the save of a lease
before it hands out the lease's actors (and asks for the next lease when half is used).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from dynamo.logstore import LogStorage
from dynamo.storage import SqliteStorage, Storage


class MetaWriter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._executor = (
            ThreadPoolExecutor(1, thread_name_prefix="meta")
            if isinstance(storage, SqliteStorage | LogStorage)
            else None
        )
        self._lock = threading.Lock()
        self._latest: dict[str, str] = {}

    def save(self, name: str, value: str) -> Future[None]:
        """Save ``value`` durably; the future resolves once it (or a later value) is on disk."""
        if self._executor is None:
            self.storage.meta_set(name, value)
            done: Future[None] = Future()
            done.set_result(None)
            return done
        with self._lock:
            self._latest[name] = value
        return self._executor.submit(self._write, name)

    def _write(self, name: str) -> None:
        with self._lock:
            value = self._latest.pop(name, None)
        if value is not None:  # else a later save of the same name already wrote it
            self.storage.meta_set(name, value)

    def close(self) -> None:
        """Write everything queued, then stop the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
