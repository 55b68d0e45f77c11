"""The ``preflist`` op: a key's owners, fallbacks and which are up, as a node sees them.

After a join the ring is the one the cluster agreed on, not ``Ring.balanced`` of the new
member list, so a client that must know who holds a key asks a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamo import cli
from dynamo.client import AsyncClient, Client
from dynamo.cluster import LoopbackCluster
from dynamo.errors import BadRequest, DynamoError
from dynamo.hostile import running, single_node_config
from dynamo.ring import Ring


def test_a_single_node_names_itself_owner_and_up_through_both_clients_and_the_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def scenario() -> None:
        config = single_node_config(None)
        async with running(config):
            async with AsyncClient(config.listen) as client:
                pl = await client.preflist("some-key")
            assert (pl.owners, pl.fallbacks, pl.up) == (["n1"], [], ["n1"])
            assert pl.ring_version == 1 and pl.node == config.listen

            def blocking() -> int:
                with Client(config.listen) as c:
                    assert c.preflist("other").owners == ["n1"]
                    with pytest.raises(BadRequest):
                        c._request({"op": "preflist", "key": ""})
                return cli.main(["preflist", "k", "--node", config.listen])

            assert await asyncio.to_thread(blocking) == 0

    asyncio.run(scenario())
    shown = json.loads(capsys.readouterr().out)
    assert shown["key"] == "k" and shown["owners"] == ["n1"] and shown["up"] == ["n1"]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.2)


@pytest.mark.cluster
def test_every_node_gives_the_same_list_marks_a_dead_owner_down_and_follows_a_join(
    tmp_path: Path,
) -> None:
    args = ["--request-timeout", "1.0", "--gossip-interval", "0.3"]
    with LoopbackCluster(tmp_path, 4, node_args=args) as c:
        key = "pl-key"
        lists = {n: c.client(n).preflist(key) for n in c.names}
        expected = Ring.balanced(c.names).preference_list(key)
        for pl in lists.values():
            assert pl.owners + pl.fallbacks == expected and len(pl.owners) == 3
            assert sorted(pl.up) == sorted(expected)

        owner = expected[0]
        asker = next(n for n in c.names if n != owner)
        c.kill(owner)
        with c.client(asker, timeout=5) as client:
            for i in range(5):
                with contextlib.suppress(DynamoError):  # a failed replica write marks it down
                    client.put(f"{key}-{i}", "x")
            wait_for(f"{asker} thinks {owner} down", lambda: owner not in client.preflist(key).up)
        c.start([owner])

        c.add("n5")
        c.client("n5", timeout=10).admin("join")
        wait_for(
            "every node on ring v2",
            lambda: all(c.client(n).preflist(key).ring_version == 2 for n in c.names),
        )
        after = {n: c.client(n).preflist(key) for n in c.names}
        first = after["n1"].owners + after["n1"].fallbacks
        assert all(pl.owners + pl.fallbacks == first for pl in after.values())
        assert sorted(first) == sorted(c.names)
