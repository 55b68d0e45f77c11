from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamo.logstore import LogStorage, frames, records
from dynamo.storage import GroupCommitStorage, SqliteStorage, prefix_range
from dynamo.versions import VersionedObject, update

Open = Callable[[Path], GroupCommitStorage]


@pytest.fixture(params=["sqlite", "log"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def opener(engine: str) -> Open:
    if engine == "log":
        return lambda path: LogStorage(path.with_suffix(".log"))
    return lambda path: SqliteStorage(path)


def obj(value: bytes, actor: str = "n1.a.1") -> VersionedObject:
    new = update(VersionedObject(), {}, actor, value, 1.0)
    new.actor = actor
    return new


def test_a_resolved_put_is_on_disk_for_a_new_process(tmp_path: Path, engine: str) -> None:
    async def write() -> None:
        store = opener(engine)(tmp_path / "d.sqlite")
        await asyncio.gather(*(store.put(f"k{i}", obj(b"v%d" % i)) for i in range(500)))
        store.close()

    asyncio.run(write())
    reopened = opener(engine)(tmp_path / "d.sqlite")
    try:
        assert reopened.count() == 500
        got = reopened.get("k7")
        assert got is not None and got.values == [b"v7"] and got.actor == "n1.a.1"
    finally:
        reopened.close()


def test_reads_see_writes_that_are_still_being_committed(tmp_path: Path, engine: str) -> None:
    async def scenario() -> list[bytes]:
        store = opener(engine)(tmp_path / "d.sqlite")
        fut = store.put("k", obj(b"pending"))
        seen = store.get("k")
        await fut
        store.close()
        assert seen is not None
        return seen.values

    assert asyncio.run(scenario()) == [b"pending"]


def test_scan_of_all_partitions_covers_every_key_once(tmp_path: Path, engine: str) -> None:
    async def scenario() -> list[str]:
        store = opener(engine)(tmp_path / "d.sqlite")
        await asyncio.gather(*(store.put(f"k{i}", obj(b"x")) for i in range(300)))
        keys = [k for p in range(16) for k, _ in store.scan(*prefix_range(p, 16))]
        store.close()
        return keys

    keys = asyncio.run(scenario())
    assert sorted(keys) == sorted(f"k{i}" for i in range(300))


def test_metadata_is_durable(tmp_path: Path, engine: str) -> None:
    store = opener(engine)(tmp_path / "d.sqlite")
    store.meta_set("incarnation", "abc")
    store.close()
    again = opener(engine)(tmp_path / "d.sqlite")
    assert again.meta_get("incarnation") == "abc"
    again.close()


def test_no_put_resolves_before_its_batch_is_committed(tmp_path: Path, engine: str) -> None:
    """Group commit: every future of a batch resolves only after its COMMIT returned."""

    async def scenario() -> None:
        store = opener(engine)(tmp_path / "d.sqlite")
        gate, committed = threading.Event(), []
        real_commit = store._commit

        def slow_commit(batch: list[Any]) -> BaseException | None:
            gate.wait(10)
            error = real_commit(batch)
            committed.extend(w.key for w in batch)
            return error

        store._commit = slow_commit  # type: ignore[method-assign]
        futures = {f"k{i}": store.put(f"k{i}", obj(b"v")) for i in range(50)}
        await asyncio.sleep(0.2)
        assert not any(f.done() for f in futures.values())
        gate.set()
        for key, fut in futures.items():
            await fut
            assert key in committed
            assert _on_disk(engine, tmp_path / "d.sqlite", key)
        store.close()

    asyncio.run(scenario())


def test_a_batch_applies_its_operations_in_order(tmp_path: Path, engine: str) -> None:
    async def scenario() -> None:
        store = opener(engine)(tmp_path / "d.sqlite")
        gate = threading.Event()
        real_commit = store._commit
        store._commit = lambda batch: gate.wait(10) and real_commit(batch)  # type: ignore[method-assign]
        first = store.put("blocker", obj(b"x"))
        await asyncio.sleep(0.1)  # the writer holds this one; the rest form one batch
        writes = [
            store.put("gone", obj(b"1")),
            store.delete("gone"),
            store.delete("back"),
            store.put("back", obj(b"2"), hint="n9"),
            store.put("unhinted", obj(b"3"), hint="n9"),
            store.unhint("n9", "unhinted"),
        ]
        gate.set()
        await asyncio.gather(first, *writes)
        store.close()

    asyncio.run(scenario())
    again = opener(engine)(tmp_path / "d.sqlite")
    try:
        assert again.get("gone") is None
        back = again.get("back")
        assert back is not None and back.values == [b"2"]
        assert again.hints == {"back": {"n9"}}
    finally:
        again.close()


def _on_disk(engine: str, path: Path, key: str) -> bool:
    if engine == "log":
        data = (path.with_suffix(".log") / "current").read_bytes()
        puts = {r[1] for _, _, body in frames(data, "") for _, _, r in records(body) if r[0] == 0}
        return key in puts
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT 1 FROM objects WHERE key = ?", (key,)).fetchone() is not None
    finally:
        db.close()
