"""The node against real processes on loopback: siblings, quorums under kill -9, durability
across kill -9 of every node, and bad input that must never kill a node."""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import threading
import time

import msgpack
import pytest

from dynamo.client import AsyncClient, Client
from dynamo.cluster import LoopbackCluster
from dynamo.errors import BadRequest, QuorumError
from dynamo.ring import Ring

pytestmark = pytest.mark.cluster
counter = itertools.count()


def fresh_key(prefix: str = "k") -> str:
    return f"{prefix}-{time.monotonic_ns()}-{next(counter)}"


def replicas(cluster: LoopbackCluster, key: str) -> list[str]:
    return Ring.balanced(cluster.names).preference_list(key, 3)


def test_blind_puts_through_one_node_are_siblings_read_through_another(live) -> None:
    key = fresh_key()
    a, b = live.client("n1"), live.client("n2")
    a.put(key, "apple")
    a.put(key, "banana")
    got = b.get(key)
    assert sorted(got.values) == [b"apple", b"banana"]
    a.put(key, "apple+banana", got.context)
    assert b.get(key).values == [b"apple+banana"]


def test_two_clients_writing_with_the_same_context_keep_both_writes(live) -> None:
    key = fresh_key()
    c1, c2 = live.client("n3"), live.client("n4")
    ctx = c1.put(key, "base").context
    c1.put(key, "from-c1", ctx)
    c2.put(key, "from-c2", ctx)
    assert sorted(live.client("n5").get(key).values) == [b"from-c1", b"from-c2"]


def test_a_delete_with_the_read_context_removes_the_key(live) -> None:
    key = fresh_key()
    c = live.client("n1")
    c.put(key, "doomed")
    c.delete(key, c.get(key).context)
    assert c.get(key).values == []


def test_strict_quorum_survives_one_dead_replica_and_fails_fast_with_two(tmp_path) -> None:
    with LoopbackCluster(
        tmp_path, 5, node_args=["--strict-quorum", "--request-timeout", "1.5"]
    ) as c:
        key = fresh_key()
        owners = replicas(c, key)
        coordinator = next(n for n in c.names if n not in owners)
        client = c.client(coordinator, timeout=5.0)
        client.put(key, "before")

        c.kill(owners[0])
        assert client.get(key).values == [b"before"]
        client.put(key, "after-one-kill", client.get(key).context)

        c.kill(owners[1])
        for attempt in (lambda: client.get(key), lambda: client.put(key, "after-two-kills")):
            started = time.monotonic()
            with pytest.raises(QuorumError):
                attempt()
            assert time.monotonic() - started < 1.5 + 0.5  # within the node's request timeout


def kill_all_under_load(cluster: LoopbackCluster, seconds: float = 2.0) -> tuple[int, list[str]]:
    """Write from 8 threads, kill -9 every node mid-stream, restart; return (acked, lost)."""
    acked: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        client = cluster.client(cluster.names[worker % 5], timeout=2.0)
        for i in itertools.count():
            if stop.is_set():
                return
            key, value = f"dur-{worker}-{i}-{time.monotonic_ns()}", f"v-{worker}-{i}"
            try:
                client.put(key, value)
            except Exception:
                continue
            with lock:
                acked[key] = value

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    with lock:  # freeze the acknowledged set, then kill while writes are still in flight
        snapshot = dict(acked)
        for name in cluster.names:
            cluster.kill(name)
    stop.set()
    for t in threads:
        t.join()
    cluster.start()
    reader = cluster.client()
    return len(snapshot), [k for k, v in snapshot.items() if reader.get(k).values != [v.encode()]]


def test_every_acknowledged_put_survives_kill_9_of_every_node(live) -> None:
    acked, lost = kill_all_under_load(live)
    assert acked > 100
    assert lost == []


def test_a_node_that_acks_before_fsync_loses_writes_to_kill_9(tmp_path) -> None:
    """The durability test has teeth: the deliberately broken node fails it."""
    args = ["--unsafe-early-ack", "--anti-entropy-interval", "0"]
    with LoopbackCluster(tmp_path, 5, node_args=args) as broken:
        losses = []
        for _ in range(3):
            _, lost = kill_all_under_load(broken, seconds=1.0)
            losses.append(len(lost))
            if lost:
                break
    assert any(losses), f"no acknowledged write was lost in {len(losses)} rounds"


def raw_request(address: str, payload: bytes, *, frame: bytes | None = None) -> dict | None:
    """Send one frame (or raw bytes) and return the reply, or None if the node closed."""
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=3) as sock:
        sock.sendall(frame if frame is not None else struct.pack(">I", len(payload)) + payload)
        try:
            header = sock.recv(4)
            if len(header) < 4:
                return None
            (length,) = struct.unpack(">I", header)
            body = b""
            while len(body) < length:
                chunk = sock.recv(length - len(body))
                if not chunk:
                    return None
                body += chunk
            return msgpack.unpackb(body)
        except ConnectionResetError:
            return None


@pytest.mark.parametrize(
    ("case", "frame"),
    [
        ("malformed msgpack", struct.pack(">I", 3) + b"\xc1\xc1\xc1"),
        ("frame over the limit", struct.pack(">I", 64 * 1024 * 1024) + b"x" * 1024),
        ("not a map", struct.pack(">I", 1) + msgpack.packb(7)),
        ("unknown operation", None),
        ("wrong-typed field", None),
        ("value over the limit", None),
    ],
)
def test_bad_input_gets_an_error_and_the_node_keeps_serving(live, case, frame) -> None:
    address = live.addresses["n2"]
    bystander = live.client("n2")
    key = fresh_key()
    bystander.put(key, "still-here")
    payloads = {
        "unknown operation": {"id": 1, "op": "explode", "key": "x"},
        "wrong-typed field": {"id": 1, "op": "put", "key": 42, "value": b"v"},
        "value over the limit": {"id": 1, "op": "put", "key": "big", "value": b"x" * (2 << 20)},
    }
    if frame is None:
        reply = raw_request(address, msgpack.packb(payloads[case]))
    else:
        reply = raw_request(address, b"", frame=frame)
    if reply is not None:
        assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    if case in payloads:
        assert reply is not None and reply["id"] == 1
    assert live.procs["n2"].poll() is None
    assert bystander.get(key).values == [b"still-here"]


def test_per_request_quorum_out_of_range_is_a_bad_request(live) -> None:
    with pytest.raises(BadRequest, match="between 1 and n=3"):
        live.client("n1").get(fresh_key(), r=4)


def test_client_fails_over_when_its_first_node_is_unreachable(live) -> None:
    live.kill("n1")
    client = Client([live.addresses["n1"], live.addresses["n2"]])
    key = fresh_key()
    assert client.put(key, "x").node == live.addresses["n2"]


def test_a_routing_client_sends_each_request_to_the_keys_first_live_replica(live) -> None:
    async def scenario() -> None:
        async with AsyncClient(list(live.addresses.values())) as client:
            await client.learn_ring()
            for _ in range(10):
                key = fresh_key()
                first = live.addresses[replicas(live, key)[0]]
                assert (await client.put(key, b"v")).node == first
                got = await client.get(key)
                assert (got.values, got.node) == ([b"v"], first)
        live.kill("n1")
        async with AsyncClient(list(live.addresses.values())) as client:
            await client.learn_ring()  # from whichever node answers first
            key = next(k for k in map(str, itertools.count()) if replicas(live, k)[0] == "n1")
            second = live.addresses[replicas(live, key)[1]]
            assert (await client.put(key, b"w")).node == second

    asyncio.run(scenario())


def test_a_node_process_settles_its_collector_after_start(live) -> None:
    """``serve`` freezes what start-up made and raises the collector's thresholds, and a
    node's status shows it (docs/performance.md: the oldest generation's pauses were the
    put tail)."""
    from dynamo.node import GC_THRESHOLD

    gc_status = live.client("n3").status()["gc"]
    assert gc_status["threshold"] == list(GC_THRESHOLD)
    assert gc_status["frozen"] > 1000  # modules, classes, the node's own objects
    assert len(gc_status["collections"]) == 3
