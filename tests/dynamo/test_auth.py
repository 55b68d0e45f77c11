"""Peer and admin operations only from members: with a cluster secret, a connection must
prove it (hello, auth) before the node takes one; without, only loopback may. A refused
request gets ``not_authorised`` and changes nothing; clients' operations need nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dynamo import auth, cli
from dynamo.client import Client
from dynamo.cluster import LoopbackCluster
from dynamo.connection import Connection
from dynamo.errors import NotAuthorised
from dynamo.hostile import RawClient, running, single_node_config
from dynamo.node import Node

SECRET = b"0123456789abcdef-cluster-secret"
OBJ = {"s": [["a", 1, 1.5, b"v"]], "v": {"a": 1}}
PEER_REQUESTS: list[dict[str, Any]] = [
    {"op": "replica_put", "key": "k", "obj": OBJ},
    {"op": "replica_get", "key": "k"},
    {"op": "put", "key": "k", "value": b"v", "forwarded": True},
    {"op": "replica_reap", "key": "k", "digest": b"12345678"},
    {"op": "hint_check", "key": "k"},
    {"op": "ae_root", "partition": 0},
    {"op": "admin_leave"},
    {"op": "admin_join"},
]


def gossip_taking_over(node: Node) -> dict[str, Any]:
    state = node.state.to_wire()
    state["ring_version"] = 50
    state["members"]["n1"]["version"] = 50
    return {"op": "gossip", "state": state}


def snapshot(node: Node) -> tuple[str, int, dict[str, int]]:
    return node.state.dumps(), node.storage.count(), dict(node.stats)


def test_a_stranger_asking_for_peer_operations_is_not_authorised_and_nothing_changes(
    tmp_path: Path,
) -> None:
    config = single_node_config(tmp_path / "n1", secret=SECRET)

    async def scenario() -> None:
        async with running(config) as node:
            stranger = await RawClient.open(config.listen)
            before = snapshot(node)
            for i, msg in enumerate([*PEER_REQUESTS, gossip_taking_over(node)]):
                reply = await stranger.request({"id": i, **msg})
                assert reply["error"]["code"] == "not_authorised", (msg, reply)
                assert reply["error"]["message"].startswith("not authorised")
                assert reply["error"]["definite"] is True
            assert snapshot(node) == before
            # the same stranger is a fine client
            reply = await stranger.request({"id": 99, "op": "put", "key": "k", "value": b"v"})
            assert reply["ok"], reply
            await stranger.close()

    asyncio.run(scenario())


def test_a_wrong_or_replayed_proof_is_refused_and_the_right_one_admits(tmp_path: Path) -> None:
    config = single_node_config(tmp_path / "n1", secret=SECRET)

    async def scenario() -> None:
        async with running(config) as node:
            first = await RawClient.open(config.listen)
            reply = await first.request({"id": 1, "op": "auth", "proof": b"x" * 32})
            assert reply["error"]["code"] == "not_authorised"  # no challenge yet
            hello = await first.request({"id": 2, "op": "hello"})
            assert hello["secret"] is True
            wrong = auth.proof(b"another-cluster-secret!", hello["challenge"])
            reply = await first.request({"id": 3, "op": "auth", "proof": wrong})
            assert reply["error"]["code"] == "not_authorised"
            right = auth.proof(SECRET, hello["challenge"])
            reply = await first.request({"id": 4, "op": "auth", "proof": right})
            assert reply["error"]["code"] == "not_authorised"  # that challenge is spent

            second = await RawClient.open(config.listen)
            await second.request({"id": 1, "op": "hello"})
            reply = await second.request({"id": 2, "op": "auth", "proof": right})
            assert reply["error"]["code"] == "not_authorised"  # another connection's proof
            await first.close()
            await second.close()

            member = Connection(config.listen, secret=SECRET)
            await member.open(2.0)
            reply = await member.request({"op": "replica_put", "key": "k", "obj": OBJ}, 2.0)
            assert reply["ok"] and node.storage.get("k") is not None
            member.close()

            outsider = Connection(config.listen, secret=b"another-cluster-secret!")
            with pytest.raises(NotAuthorised):
                await outsider.open(2.0)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("host", "secret", "allowed"),
    [
        ("127.0.0.1", None, True),
        ("::1", None, True),
        ("::ffff:127.0.0.1", None, True),
        ("10.77.0.5", None, auth.OPEN_WITHOUT_SECRET),
        (None, None, auth.OPEN_WITHOUT_SECRET),
        ("127.0.0.1", SECRET, False),
    ],
)
def test_without_a_secret_loopback_is_admitted_and_others_as_the_policy_says(
    host: str | None, secret: bytes | None, allowed: bool
) -> None:
    session = auth.Session(host)
    session.admit({"op": "get", "key": "k"}, secret)
    if allowed:
        session.admit({"op": "replica_get", "key": "k"}, secret)
    else:
        with pytest.raises(NotAuthorised, match="not authorised: 'replica_get'"):
            session.admit({"op": "replica_get", "key": "k"}, secret)


def test_load_secret_reads_the_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "secret"
    path.write_text(auth.new_secret() + "\n")
    assert auth.load_secret(path) == path.read_bytes().strip()
    monkeypatch.setenv(auth.ENV, str(path))
    assert auth.load_secret(None) == path.read_bytes().strip()
    path.write_text("short")
    with pytest.raises(ValueError, match="at least 16"):
        auth.load_secret(path)
    with pytest.raises(ValueError, match="cannot read"):
        auth.load_secret(tmp_path / "absent")


@pytest.mark.cluster
def test_a_cluster_with_a_secret_replicates_and_only_members_administer(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(auth.new_secret())
    args = ["--secret-file", str(secret_file), "--request-timeout", "1.5"]
    with LoopbackCluster(tmp_path / "c", 3, node_args=args) as c:
        c.client("n1").put("k", "v")
        assert c.client("n2").get("k", r=3).values == [b"v"]  # replica ops between members
        with pytest.raises(NotAuthorised):
            c.client("n3").admin("leave")
        secret = auth.load_secret(secret_file)
        with Client(c.addresses["n3"], secret=secret) as member:
            assert member.admin("join")["ring_version"] == 1  # already in: nothing changes
        admin = ["admin", "join", "--node", c.addresses["n2"]]
        assert cli.main(admin) == cli.EXIT_FAILED
        assert cli.main([*admin, "--secret-file", str(secret_file)]) == 0
