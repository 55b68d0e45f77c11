"""Client-driven coordination: what a client learns of the ring and how it orders nodes."""

from __future__ import annotations

import pytest

from dynamo.client import Routes
from dynamo.errors import RemoteError
from dynamo.ring import Ring

ADDRESSES = {f"n{i}": f"127.0.0.1:{7000 + i}" for i in range(1, 6)}


def learned(version: int = 3) -> Routes:
    routes = Routes()
    ring = Ring.balanced(ADDRESSES)
    routes.learn({"ring": list(ring.owners), "ring_version": version, "members": ADDRESSES, "n": 3})
    return routes


def test_a_keys_replicas_come_first_in_preference_order_then_the_other_nodes() -> None:
    routes = learned()
    nodes = list(ADDRESSES.values())
    for key in ("a", "b", "key-17", "zz"):
        replicas = Ring.balanced(ADDRESSES).preference_list(key, 3)
        order = routes.order(key, nodes)
        assert order[:3] == [ADDRESSES[n] for n in replicas]
        assert sorted(order) == sorted(nodes)


def test_without_a_ring_the_given_order_stays() -> None:
    nodes = list(ADDRESSES.values())
    assert Routes().order("a", nodes) == nodes


def test_a_reply_on_another_ring_version_marks_the_ring_stale() -> None:
    routes = learned(3)
    routes.note({"ok": True})
    routes.note({"ok": True, "ring_version": 3})
    assert not routes.stale
    routes.note({"ok": True, "ring_version": 4})
    assert routes.stale


@pytest.mark.parametrize(
    "reply",
    [{}, {"ring": [1, 2, 3], "ring_version": 1, "members": {}, "n": 3}, {"ring": None}],
)
def test_a_reply_that_is_not_a_ring_is_a_remote_error(reply: dict) -> None:
    with pytest.raises(RemoteError):
        Routes().learn(reply)
