"""After a restart a node writes a key as a fresh actor, never as the actor on its disk: a crash
can lose the node's own copy of a write the other replicas acknowledged, and reusing the actor
would make that write's dot again for another value — one of the two then silently replaces
the other wherever they meet (Riak's kv679). Found by the regression suite's ``kill`` run:
four acknowledged adds missing from four of five final reads, and replicas that never
converged."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dynamo.hostile import running, single_node_config
from dynamo.versions import VersionedObject, encode, update


def test_a_write_the_node_forgot_in_a_crash_survives_its_next_write(tmp_path: Path) -> None:
    config = single_node_config(tmp_path / "n1")

    async def before_the_crash() -> VersionedObject:
        async with running(config) as node:
            assert (await node.respond({"op": "put", "key": "k", "value": b"kept"}))["ok"]
            local = node.local_object("k")
            assert local.actor is not None
            # the next write, as another replica acknowledged and holds it; this node's own
            # copy is what the crash took (its fdatasync had not returned)
            return update(local, local.vv, local.actor, b"acknowledged", 1.0)

    forgotten = asyncio.run(before_the_crash())

    async def after_the_restart() -> list[bytes]:
        async with running(config) as node:
            read = await node.respond({"op": "get", "key": "k"})
            put = {"op": "put", "key": "k", "value": b"next", "context": read["context"]}
            assert (await node.respond(put))["ok"]
            peer = {"op": "replica_put", "key": "k", "obj": encode(forgotten.replica_view())}
            assert (await node.respond(peer))["ok"]
            return sorted((await node.respond({"op": "get", "key": "k"}))["values"])

    assert asyncio.run(after_the_restart()) == [b"acknowledged", b"next"]
