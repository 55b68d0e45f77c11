"""Hostile frames: each costs one error reply and changes nothing — no state merged or saved,
no allocation beyond the frame, no dead node (also after a restart).

The node runs in this process on a real socket (``dynamo.hostile``), one node that is its own
cluster, with its storage on disk where persistence is the point (both engines where what is
on disk is written by the test).
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgpack
import pytest

from dynamo import schema
from dynamo.config import ENGINES, NodeConfig
from dynamo.fuzz import bad_stored
from dynamo.hostile import RawClient, running, single_node_config
from dynamo.node import Node, open_storage
from dynamo.protocol import pack
from dynamo.storage import MemoryStorage
from dynamo.versions import decode, encode_context

T = TypeVar("T")
ENGINE_FILES = {"sqlite": "data.sqlite", "log": "data.log"}


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(scenario())  # type: ignore[arg-type]


def poison_state(node_address: str) -> dict[str, Any]:
    """The frame from the review: a newer ring whose owners mix ints and strings."""
    return {
        "members": {"n1": {"address": node_address, "status": "valid", "version": 9}},
        "ring": ["n1", 1, "n1", 2],
        "ring_version": 99,
    }


async def put_and_get(client: RawClient, key: str, value: bytes) -> list[bytes]:
    reply = await client.request({"id": 1, "op": "put", "key": key, "value": value})
    assert reply["ok"], reply
    reply = await client.request({"id": 2, "op": "get", "key": key})
    assert reply["ok"], reply
    return list(reply["values"])


def test_poison_gossip_is_refused_not_saved_and_the_node_serves_after_restart(
    tmp_path: Path,
) -> None:
    config = single_node_config(tmp_path / "n1")

    async def before_restart() -> str | None:
        async with running(config) as node:
            saved = node.storage.meta_get("cluster_state")
            client = await RawClient.open(config.listen)
            reply = await client.request(
                {"id": 5, "op": "gossip", "state": poison_state(config.listen)}
            )
            assert reply["id"] == 5 and not reply["ok"]
            assert reply["error"]["code"] == "bad_request"
            assert "state.ring[1]" in reply["error"]["message"]
            assert node.state.ring_version == 1
            assert node.storage.meta_get("cluster_state") == saved
            assert await put_and_get(client, "k1", b"v1") == [b"v1"]
            status = await client.request({"id": 3, "op": "status"})
            assert status["ok"] and status["ring_version"] == 1
            await client.close()
            return saved

    saved = run(before_restart)

    async def after_restart() -> None:
        async with running(config) as node:
            assert node.storage.meta_get("cluster_state") == saved
            client = await RawClient.open(config.listen)
            assert await put_and_get(client, "k2", b"v2") == [b"v2"]
            reply = await client.request({"id": 4, "op": "get", "key": "k1"})
            assert reply["values"] == [b"v1"]
            await client.close()

    run(after_restart)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_poisoned_state_already_on_disk_is_ignored_at_start(tmp_path: Path, engine: str) -> None:
    config = single_node_config(tmp_path / "n1", storage=engine)
    storage = open_storage(config)
    storage.meta_set("cluster_state", json.dumps(poison_state(config.listen)))
    storage.close()
    assert [p.name for p in (tmp_path / "n1").iterdir()] == [ENGINE_FILES[engine]]
    assert bad_stored(tmp_path / "n1") == [
        "cluster state: saved state.ring[1]: must be a string, not int"
    ]

    async def scenario() -> None:
        async with running(config) as node:
            assert node.state.ring is not None and node.state.ring.nodes == ("n1",)
            client = await RawClient.open(config.listen)
            assert await put_and_get(client, "k", b"v") == [b"v"]
            await client.close()

    run(scenario)


def small_replica_put(value: object) -> dict[str, Any]:
    return {"op": "replica_put", "key": "k", "obj": {"s": [["a", 1, 0, value]], "v": {"a": 1}}}


def test_a_tiny_replica_put_with_an_int_value_allocates_nothing(tmp_path: Path) -> None:
    frame = pack(small_replica_put(10**9))
    assert len(frame) <= 50

    async def scenario() -> None:
        async with running(single_node_config(tmp_path / "n1")) as node:
            client = await RawClient.open(node.config.listen)
            tracemalloc.start()
            try:
                await client.send_bytes(frame)
                reply = await client.reply()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert reply is not None and reply["error"]["code"] == "bad_request"
            assert "value: must be bin or nil, not int" in reply["error"]["message"]
            assert peak < 1024 * 1024
            assert node.storage.get("k") is None
            assert await put_and_get(client, "k", b"fine") == [b"fine"]
            await client.close()

    run(scenario)


def test_decoding_an_int_value_is_an_error_not_an_allocation() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bin or nil"):
            decode({"s": [["a", 1, 0.0, 10**9]], "v": {"a": 1}})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_oversized_values_are_refused_whole(tmp_path: Path) -> None:
    limit = 1000
    config = single_node_config(tmp_path / "n1", max_value=limit)
    big = b"x" * (limit + 1)

    async def scenario() -> None:
        async with running(config) as node:
            client = await RawClient.open(config.listen)
            for msg in (
                {"id": 1, "op": "put", "key": "k", "value": big},
                {"id": 2, **small_replica_put(big)},
            ):
                reply = await client.request(msg)
                assert reply["error"]["code"] == "bad_request", reply
                assert "1001 bytes is over the 1000-byte limit" in reply["error"]["message"]
            assert node.storage.count() == 0
            assert await put_and_get(client, "k", b"x" * limit) == [b"x" * limit]
            await client.close()

    run(scenario)


def test_a_frame_over_the_limit_or_malformed_msgpack_closes_only_its_connection(
    tmp_path: Path,
) -> None:
    config = single_node_config(tmp_path / "n1", max_frame=64 * 1024)

    async def scenario() -> None:
        async with running(config):
            other = await RawClient.open(config.listen)
            for junk, said in (
                (struct.pack(">I", 64 * 1024 + 1) + b"x" * 100, "over the 65536 limit"),
                (struct.pack(">I", 3) + b"\xc1\xc1\xc1", "malformed msgpack"),
                (struct.pack(">I", 2) + b"\x92\x01" + struct.pack(">I", 1) + b"\xc1", "malformed"),
            ):
                client = await RawClient.open(config.listen)
                await client.send_bytes(junk)
                reply = await client.reply()
                assert reply is not None and reply["id"] is None
                assert said in reply["error"]["message"]
                assert await client.reply() is None  # closed
                await client.close()
            assert await put_and_get(other, "k", b"v") == [b"v"]
            await other.close()

    run(scenario)


def ctx(vv: object) -> str:
    """A context as a client could forge it: any msgpack in base64url."""
    return base64.urlsafe_b64encode(msgpack.packb(vv)).decode().rstrip("=")


OBJ = {"s": [["a", 1, 1.5, b"v"]], "v": {"a": 1}}
MEMBER = {"address": "127.0.0.1:1", "status": "valid", "version": 1}


def state(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"members": {"n1": MEMBER}, "ring": ["n1"], "ring_version": 1}
    base.update(fields)
    return base


def obj(**fields: object) -> dict[str, object]:
    return {**OBJ, **fields}


def sibling(*fields: object) -> dict[str, object]:
    return obj(s=[list(fields)])


BAD: list[tuple[str, object, str]] = [
    ("not a map", [1, 2], "a request must be a map"),
    ("no op", {"key": "k"}, "unknown operation"),
    ("unknown op", {"op": "drop_table"}, "unknown operation"),
    ("op an int", {"op": 7}, "unknown operation"),
    ("id a string", {"op": "ping", "id": "x"}, "id must be an integer"),
    ("unknown field", {"op": "ping", "admin": True}, "unknown field 'admin'"),
    ("key missing", {"op": "get"}, "missing field 'key'"),
    ("key an int", {"op": "get", "key": 1}, "key: must be a string"),
    ("key empty", {"op": "get", "key": ""}, "key: must be 1 to 1024"),
    ("key too long", {"op": "get", "key": "k" * 1025}, "key: must be 1 to 1024"),
    ("r a bool", {"op": "get", "key": "k", "r": True}, "r: must be an integer"),
    ("r zero", {"op": "get", "key": "k", "r": 0}, "r: must be between"),
    ("local an int", {"op": "get", "key": "k", "local": 1}, "local: must be true or false"),
    ("value a str", {"op": "put", "key": "k", "value": "v"}, "value: must be bin"),
    ("w a float", {"op": "put", "key": "k", "value": b"v", "w": 1.0}, "w: must be an integer"),
    ("context bytes", {"op": "put", "key": "k", "value": b"v", "context": b"x"}, "context"),
    ("context junk", {"op": "put", "key": "k", "value": b"v", "context": "!!"}, "not a context"),
    ("context a list", {"op": "delete", "key": "k", "context": ctx([1])}, "must be a map"),
    ("context int actor", {"op": "delete", "key": "k", "context": ctx({1: 1})}, "not a context"),
    ("context negative", {"op": "delete", "key": "k", "context": ctx({"a": -1})}, "between"),
    ("context huge", {"op": "delete", "key": "k", "context": ctx({"a": 2**63})}, "between"),
    ("delete no context", {"op": "delete", "key": "k"}, "missing field 'context'"),
    ("forwarded a str", {"op": "put", "key": "k", "value": b"", "forwarded": "y"}, "true or"),
    ("obj a list", {"op": "replica_put", "key": "k", "obj": []}, "obj: must be a map"),
    ("obj no vv", {"op": "replica_put", "key": "k", "obj": {"s": []}}, "needs siblings"),
    ("obj extra", {"op": "replica_put", "key": "k", "obj": obj(a="x")}, "unknown field 'a'"),
    ("s a map", {"op": "replica_put", "key": "k", "obj": obj(s={})}, "obj.s: must be a list"),
    ("sibling short", {"op": "replica_put", "key": "k", "obj": obj(s=[["a", 1]])}, "must be ["),
    ("actor an int", {"op": "replica_put", "key": "k", "obj": sibling(1, 1, 0, b"")}, "actor"),
    ("counter a str", {"op": "replica_put", "key": "k", "obj": sibling("a", "1", 0, b"")}, "cou"),
    ("counter zero", {"op": "replica_put", "key": "k", "obj": sibling("a", 0, 0, b"")}, "between"),
    (
        "counter huge",
        {"op": "replica_put", "key": "k", "obj": sibling("a", 2**64 - 1, 0, None)},
        "",
    ),
    ("time nan", {"op": "replica_put", "key": "k", "obj": sibling("a", 1, float("nan"), None)}, ""),
    ("time a str", {"op": "replica_put", "key": "k", "obj": sibling("a", 1, "now", None)}, "numb"),
    ("value an int", {"op": "replica_put", "key": "k", "obj": sibling("a", 1, 0, 10**6)}, "bin"),
    (
        "value a str",
        {"op": "replica_put", "key": "k", "obj": sibling("a", 1, 0, "v")},
        "bin or nil",
    ),
    ("dot uncovered", {"op": "replica_put", "key": "k", "obj": sibling("a", 2, 0, b"")}, "covered"),
    (
        "dot repeated",
        {"op": "replica_put", "key": "k", "obj": obj(s=[["a", 1, 0, b""], ["a", 1, 0, b""]])},
        "repeats the dot",
    ),
    ("vv a list", {"op": "replica_put", "key": "k", "obj": obj(v=[])}, "obj.v: must be a map"),
    ("vv a str count", {"op": "replica_put", "key": "k", "obj": obj(v={"a": "1"})}, "integer"),
    ("hint an int", {"op": "replica_put", "key": "k", "obj": OBJ, "hint": 3}, "hint"),
    ("state a list", {"op": "gossip", "state": []}, "state: must be a map"),
    ("state extra", {"op": "gossip", "state": state(admin=1)}, "unknown field 'admin'"),
    ("members missing", {"op": "gossip", "state": {"ring": None}}, "members: must be a map"),
    ("member a str", {"op": "gossip", "state": state(members={"n1": "x"})}, "must be a map"),
    (
        "address an int",
        {"op": "gossip", "state": state(members={"n1": {**MEMBER, "address": 1}})},
        "address: must be a string",
    ),
    (
        "address no port",
        {"op": "gossip", "state": state(members={"n1": {**MEMBER, "address": "h"}})},
        "HOST:PORT",
    ),
    (
        "status unknown",
        {"op": "gossip", "state": state(members={"n1": {**MEMBER, "status": "root"}})},
        "status: must be one of",
    ),
    (
        "version a str",
        {"op": "gossip", "state": state(members={"n1": {**MEMBER, "version": "2"}})},
        "version: must be an integer",
    ),
    ("ring mixed", {"op": "gossip", "state": state(ring=["n1", 1])}, "state.ring[1]"),
    ("ring of 3", {"op": "gossip", "state": state(ring=["n1"] * 3)}, "power of two"),
    ("ring empty", {"op": "gossip", "state": state(ring=[])}, "power of two"),
    ("ring huge", {"op": "gossip", "state": state(ring=["n1"] * 8192)}, "more than 4096"),
    ("ring stranger", {"op": "gossip", "state": state(ring=["n1", "x"])}, "not members: x"),
    ("ring a str", {"op": "gossip", "state": state(ring="n1")}, "ring: must be a list"),
    ("ring_version neg", {"op": "gossip", "state": state(ring_version=-1)}, "ring_version"),
    ("partition a str", {"op": "ae_root", "partition": "0"}, "partition: must be an integer"),
    ("partition neg", {"op": "ae_leaves", "partition": -1}, "partition: must be between"),
    ("leaves a map", {"op": "ae_keys", "partition": 0, "leaves": {}}, "leaves: must be a list"),
    ("leaf too big", {"op": "ae_keys", "partition": 0, "leaves": [256]}, "leaves[0]"),
    ("digest short", {"op": "replica_reap", "key": "k", "digest": b"x"}, "digest: must be 8"),
    ("digest a str", {"op": "replica_reap", "key": "k", "digest": "x" * 8}, "digest"),
    ("preflist no key", {"op": "preflist"}, "missing field 'key'"),
    ("preflist key an int", {"op": "preflist", "key": 7}, "key: must be"),
    ("preflist extra", {"op": "preflist", "key": "k", "n": 99}, "unknown field 'n'"),
    ("admin with args", {"op": "admin_leave", "node": "n2"}, "unknown field 'node'"),
]


@pytest.mark.parametrize(("case", "msg", "said"), BAD, ids=[c for c, _, _ in BAD])
def test_a_wrong_type_at_any_level_is_one_bad_request_and_changes_nothing(
    case: str, msg: object, said: str
) -> None:
    async def scenario() -> None:
        node = Node(single_node_config(None), storage=MemoryStorage())
        before = node.state.dumps()
        reply = await node.respond(msg)
        assert not reply["ok"], reply
        assert reply["error"]["code"] == "bad_request"
        assert said in reply["error"]["message"]
        assert node.state.dumps() == before
        assert node.storage.count() == 0 and node.stats == {}
        await node.stop()

    run(scenario)


GOOD: list[dict[str, Any]] = [
    {"op": "ping", "id": 1},
    {"op": "status"},
    {"op": "get", "key": "k", "r": 1, "local": True},
    {"op": "put", "key": "k", "value": b"v", "context": "", "w": 1},
    {"op": "delete", "key": "k", "context": encode_context({"a": 1})},
    {"op": "replica_get", "key": "k"},
    {"op": "preflist", "key": "k"},
    {"op": "replica_put", "key": "k", "obj": obj(s=[["a", 1, 2, None]]), "hint": "n1"},
    {"op": "ae_root", "partition": 0},
    {"op": "ae_keys", "partition": 3, "leaves": [0, 255]},
    {"op": "hint_check", "key": "k"},
    {"op": "replica_reap", "key": "k", "digest": b"12345678"},
]


@pytest.mark.parametrize("msg", GOOD, ids=[m["op"] for m in GOOD])
def test_well_formed_requests_pass_the_schema(msg: dict[str, Any]) -> None:
    assert schema.request(msg) is msg


def test_the_last_node_asked_to_leave_refuses_with_a_bad_request() -> None:
    async def scenario() -> None:
        node = Node(single_node_config(None), storage=MemoryStorage())
        reply = await node.respond({"op": "admin_leave"})
        assert reply["error"]["code"] == "bad_request"
        assert "last node" in reply["error"]["message"]
        assert node.state.ring is not None and node.state.ring.nodes == ("n1",)
        await node.stop()

    run(scenario)


def test_a_gossiped_ring_of_another_partition_count_is_refused() -> None:
    async def scenario() -> None:
        node = Node(single_node_config(None), storage=MemoryStorage())
        other = node.state.to_wire()
        other["ring"] = ["n1"] * 128
        other["ring_version"] = 5
        reply = await node.respond({"op": "gossip", "state": other})
        assert reply["error"]["code"] == "bad_request"
        assert "128 partitions" in reply["error"]["message"]
        assert node.state.ring is not None and node.state.ring.partitions == 64
        await node.stop()

    run(scenario)


class JunkPeers:
    """Every peer answers every request ok, with junk where the answer should be."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def request(self, address: str, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.calls[msg["op"]] += 1
        return {
            "ok": True,
            "root": 5,
            "leaves": "x",
            "keys": [],
            "state": {"members": 3},
            "obj": 7,
            "hinted": "maybe",
        }

    def close(self) -> None:
        pass


def test_junk_answers_from_peers_do_not_end_the_background_loops() -> None:
    seeds = {f"n{i}": f"127.0.0.1:{7100 + i}" for i in (1, 2, 3)}
    config = NodeConfig(
        name="n1",
        listen=seeds["n1"],
        seeds=seeds,
        gossip_interval=0.05,
        anti_entropy_interval=0.05,
        handoff_interval=0.05,
    )
    peers = JunkPeers()

    async def scenario() -> None:
        node = Node(config, storage=MemoryStorage(), transport=peers)
        await node.start(listen=False)
        await asyncio.sleep(1.0)
        assert peers.calls["gossip"] >= 5 and peers.calls["ae_root"] >= 5, peers.calls
        assert not [t for t in node._loops if t.done()]
        await node.stop()

    run(scenario)


def test_the_check_of_what_was_saved_fails_on_a_directory_with_nothing_saved(
    tmp_path: Path,
) -> None:
    """``bad_stored`` cannot pass vacuously: no engine's files is an error, not a clean bill."""
    with pytest.raises(FileNotFoundError, match="neither engine's files"):
        bad_stored(tmp_path)
