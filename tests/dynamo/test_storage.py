from __future__ import annotations

import asyncio
from pathlib import Path

from dynamo.storage import SqliteStorage, prefix_range
from dynamo.versions import VersionedObject, update


def obj(value: bytes, actor: str = "n1.a.1") -> VersionedObject:
    new = update(VersionedObject(), {}, actor, value, 1.0)
    new.actor = actor
    return new


def test_a_resolved_put_is_on_disk_for_a_new_process(tmp_path: Path) -> None:
    async def write() -> None:
        store = SqliteStorage(tmp_path / "d.sqlite")
        await asyncio.gather(*(store.put(f"k{i}", obj(b"v%d" % i)) for i in range(500)))
        store.close()

    asyncio.run(write())
    reopened = SqliteStorage(tmp_path / "d.sqlite")
    try:
        assert reopened.count() == 500
        got = reopened.get("k7")
        assert got is not None and got.values == [b"v7"] and got.actor == "n1.a.1"
    finally:
        reopened.close()


def test_reads_see_writes_that_are_still_being_committed(tmp_path: Path) -> None:
    async def scenario() -> list[bytes]:
        store = SqliteStorage(tmp_path / "d.sqlite")
        fut = store.put("k", obj(b"pending"))
        seen = store.get("k")
        await fut
        store.close()
        assert seen is not None
        return seen.values

    assert asyncio.run(scenario()) == [b"pending"]


def test_scan_of_all_partitions_covers_every_key_once(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        store = SqliteStorage(tmp_path / "d.sqlite")
        await asyncio.gather(*(store.put(f"k{i}", obj(b"x")) for i in range(300)))
        keys = [k for p in range(16) for k, _ in store.scan(*prefix_range(p, 16))]
        store.close()
        return keys

    keys = asyncio.run(scenario())
    assert sorted(keys) == sorted(f"k{i}" for i in range(300))


def test_metadata_is_durable(tmp_path: Path) -> None:
    store = SqliteStorage(tmp_path / "d.sqlite")
    store.meta_set("incarnation", "abc")
    store.close()
    again = SqliteStorage(tmp_path / "d.sqlite")
    assert again.meta_get("incarnation") == "abc"
    again.close()
