"""Metadata saves run off the event loop, in order, and are on disk by the end of ``stop()``;
actor leases are durable before their actors are used; ``stop()`` works without ``start()``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from dynamo.hostile import running, single_node_config
from dynamo.logstore import LogStorage
from dynamo.membership import ClusterState
from dynamo.node import ACTOR_LEASE, Node, open_storage
from dynamo.storage import SqliteStorage, Storage


@pytest.fixture(params=["sqlite", "log"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def meta_threads(monkeypatch: pytest.MonkeyPatch, engine: str) -> list[tuple[str, str]]:
    """Every ``meta_set`` of the engine as (name, thread)."""
    calls: list[tuple[str, str]] = []
    cls = LogStorage if engine == "log" else SqliteStorage
    original = cls.meta_set

    def recording(self: Storage, name: str, value: str) -> None:
        calls.append((name, threading.current_thread().name))
        original(self, name, value)  # type: ignore[arg-type]

    monkeypatch.setattr(cls, "meta_set", recording)
    return calls


def test_stop_works_when_start_never_ran(tmp_path: Path) -> None:
    async def scenario() -> None:
        node = Node(single_node_config(tmp_path / "n1"))
        await node.stop()

    asyncio.run(scenario())


def test_gossip_and_lease_saves_run_off_the_loop_and_land_by_stop(
    tmp_path: Path, meta_threads: list[tuple[str, str]], engine: str
) -> None:
    config = single_node_config(tmp_path / "n1", storage=engine)
    puts = ACTOR_LEASE + 100

    async def first_run() -> set[str]:
        async with running(config) as node:
            loop_thread = threading.current_thread().name
            meta_threads.clear()
            newer = node.state.to_wire()
            newer["members"]["n1"]["version"] = 7
            reply = await node.respond({"op": "gossip", "state": newer})
            assert reply["ok"], reply
            actors = set()
            for i in range(puts):
                reply = await node.respond({"op": "put", "key": f"k{i}", "value": b"v"})
                assert reply["ok"], reply
                obj = node.storage.get(f"k{i}")
                assert obj is not None and obj.actor is not None
                actors.add(obj.actor)
            assert len(actors) == puts
        names = {name for name, _ in meta_threads}
        assert names == {"cluster_state", "actor_lease"}
        assert all(thread != loop_thread for _, thread in meta_threads)
        return actors

    before = asyncio.run(first_run())
    storage = open_storage(config)
    saved = storage.meta_get("cluster_state")
    storage.close()
    assert saved is not None
    assert ClusterState.loads(saved).members["n1"].version == 7

    async def second_run() -> set[str]:
        async with running(config) as node:
            reply = await node.respond({"op": "put", "key": "after", "value": b"v"})
            assert reply["ok"], reply
            obj = node.storage.get("after")
            assert obj is not None and obj.actor is not None
            return {obj.actor}

    after = asyncio.run(second_run())
    assert not after & before
    seq = int(next(iter(after)).rsplit(".", 1)[1])
    assert seq > max(int(a.rsplit(".", 1)[1]) for a in before)
