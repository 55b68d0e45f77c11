"""Part 2 against real node processes: sloppy quorum and hinted hand-off, read repair,
anti-entropy after a lost disk, membership changes under load, deletes that stay deleted."""

from __future__ import annotations

import itertools
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dynamo.client import Client
from dynamo.cluster import LoopbackCluster
from dynamo.errors import DynamoError
from dynamo.ring import Ring
from dynamo.versions import encode_context

pytestmark = pytest.mark.cluster
FAST = ["--request-timeout", "1.0", "--gossip-interval", "0.3", "--anti-entropy-interval", "0.1"]


def wait_until(what: str, check: Callable[[], bool], timeout: float = 20.0) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def local_values(c: LoopbackCluster, name: str, key: str) -> list[bytes]:
    with Client(c.addresses[name], timeout=2) as client:
        return client.get(key, local=True).values


def status(c: LoopbackCluster, name: str) -> dict:
    with Client(c.addresses[name], timeout=2) as client:
        return client.status()


def counter(c: LoopbackCluster, name: str, which: str) -> int:
    return int(status(c, name)["requests"].get(which, 0))


def anti_entropy_rounds(c: LoopbackCluster, name: str) -> int:
    return int(status(c, name)["anti_entropy"]["rounds"])


def hints_left(c: LoopbackCluster, names: list[str]) -> int:
    return sum(status(c, n)["hints_pending"] for n in names)


def owners(c: LoopbackCluster, key: str) -> list[str]:
    return Ring.balanced(c.seeds).preference_list(key, 3)


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LoopbackCluster]:
    extra = getattr(request, "param", [])
    with LoopbackCluster(tmp_path, 5, node_args=[*FAST, *extra]) as c:
        yield c


def test_writes_land_on_fallbacks_with_hints_while_two_owners_are_paused(cluster) -> None:
    c = cluster
    keys = [
        f"paused-{i}"
        for i in range(30)
        if owners(c, f"paused-{i}")[:2] == owners(c, "paused-0")[:2]
    ]
    o1, o2, o3 = owners(c, keys[0])
    c.signal(o1, signal.SIGSTOP)
    c.signal(o2, signal.SIGSTOP)
    client = c.client(o3, timeout=5)
    results = []
    for key in keys:
        try:
            client.put(key, f"v-{key}")
            results.append(True)
        except DynamoError:
            results.append(False)
    first_ok = results.index(True)
    # Each node's failure detector learns on its own (a timed-out request marks the peer down),
    # so the first puts may fail; after that, every put lands on fallbacks.
    assert first_ok <= 3 and all(results[first_ok:]), results
    written = [k for k, ok in zip(keys, results, strict=True) if ok]
    live = [n for n in c.names if n not in (o1, o2)]
    assert hints_left(c, live) >= len(written)  # each acknowledged write left a hint somewhere

    c.signal(o1, signal.SIGCONT)
    c.signal(o2, signal.SIGCONT)
    wait_until(
        "every owner holds every write and no hint is left",
        lambda: (
            all(local_values(c, o, k) == [f"v-{k}".encode()] for o in (o1, o2, o3) for k in written)
            and hints_left(c, c.names) == 0
        ),
    )


def test_hints_survive_kill_9_of_the_fallback(cluster) -> None:
    c = cluster
    key = "hinted-key"
    o1, o2, o3 = owners(c, key)
    c.kill(o1)
    c.kill(o2)
    client = c.client(o3, timeout=5)
    for attempt in range(3):  # the first may fail: the detector learns o1 and o2 are down
        try:
            client.put(key, f"must-arrive-{attempt}")
            acked = f"must-arrive-{attempt}".encode()
            break
        except DynamoError:
            assert attempt < 2
    fallbacks = [n for n in c.names if n not in (o1, o2, o3) and status(c, n)["hints_pending"]]
    assert fallbacks, "the write should have left hints on fallbacks"
    for f in fallbacks:
        c.kill(f)
    c.start(fallbacks)
    assert all(status(c, f)["hints_pending"] >= 1 for f in fallbacks)
    c.start([o1, o2])
    wait_until(
        "the restarted fallbacks delivered their hints",
        lambda: (
            all(acked in local_values(c, o, key) for o in (o1, o2)) and hints_left(c, c.names) == 0
        ),
    )


@pytest.mark.parametrize(
    "cluster", [["--strict-quorum", "--anti-entropy-interval", "0"]], indirect=True
)
def test_a_read_repairs_a_replica_that_missed_a_write(cluster) -> None:
    c = cluster
    key = "repair-me"
    o1, _, o3 = owners(c, key)
    c.kill(o3)
    c.client(o1).put(key, "fresh")
    c.start([o3])
    assert local_values(c, o3, key) == []
    assert c.client(o1).get(key).values == [b"fresh"]
    wait_until(
        "the read repaired the stale replica", lambda: local_values(c, o3, key) == [b"fresh"], 5
    )


def test_anti_entropy_restores_a_wiped_disk(cluster, capsys) -> None:
    c = cluster
    client = c.client("n2", timeout=5)
    written = {f"ae-{i}": f"v{i}" for i in range(600)}
    for k, v in written.items():
        client.put(k, v)
    mine = [k for k in written if "n1" in owners(c, k)]
    c.kill("n1")
    shutil.rmtree(c.data_dir / "n1")
    c.start(["n1"])
    elapsed = wait_until(
        "n1 holds every key it replicates again",
        lambda: status(c, "n1")["keys"] >= len(mine),
        timeout=60,
    )
    assert all(local_values(c, "n1", k) == [written[k].encode()] for k in mine[:50])
    with capsys.disabled():
        rate = len(mine) / elapsed
        print(f"\nanti-entropy restored {len(mine)} keys in {elapsed:.1f}s ({rate:.0f} keys/s)")


def local_context(c: LoopbackCluster, name: str, key: str) -> str:
    with Client(c.addresses[name], timeout=2) as client:
        return client.get(key, local=True).context


EMPTY = encode_context({})  # the context of a key a replica holds nothing of


@pytest.mark.parametrize(
    "cluster", [["--anti-entropy-interval", "0.1", "--tombstone-grace", "0.5"]], indirect=True
)
def test_a_delete_while_a_replica_is_down_stays_deleted_and_is_reaped_only_after(cluster) -> None:
    c = cluster
    key = "to-delete"
    o1, o2, o3 = owners(c, key)
    client = c.client(o2, timeout=5)
    client.put(key, "old")
    wait_until(
        "all owners hold the value",
        lambda: all(local_values(c, o, key) == [b"old"] for o in (o1, o2, o3)),
    )
    c.kill(o3)  # an owner that is not the reaper (o1) misses the delete
    client.delete(key, client.get(key).context)
    wait_until(
        "the reaper declined three times past the grace, with an owner unreachable",
        lambda: counter(c, o1, "tombstones_deferred") >= 3,
    )
    assert counter(c, o1, "tombstones_reaped") == 0
    assert all(local_context(c, o, key) != EMPTY for o in (o1, o2))
    c.start([o3])
    assert local_values(c, o3, key) == [b"old"]
    assert client.get(key).values == []
    wait_until(
        "every owner dropped the tombstone after all of them had it",
        lambda: all(local_context(c, o, key) == EMPTY for o in (o1, o2, o3)),
    )
    cycle = {
        o: anti_entropy_rounds(c, o) + status(c, o)["partitions_replicated"] for o in owners(c, key)
    }
    wait_until(
        "every owner ran a whole anti-entropy cycle over its partitions after the reap",
        lambda: all(anti_entropy_rounds(c, o) >= cycle[o] for o in cycle),
        timeout=60,
    )
    assert client.get(key).values == []
    assert all(local_values(c, o, key) == [] for o in (o1, o2, o3))


def test_a_node_joins_and_another_leaves_under_load_without_losing_writes(cluster) -> None:
    c = cluster
    acked: dict[str, str] = {}
    misses: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(worker: int) -> None:
        client = c.client(["n1", "n3", "n4", "n5"][worker % 4], timeout=5)
        rnd = random.Random(worker)
        for i in itertools.count():
            if stop.is_set():
                return
            key = f"load-{worker}-{i}"
            try:
                client.put(key, key)
                with lock:
                    acked[key] = key
            except DynamoError:
                pass
            with lock:
                probe = rnd.choice(list(acked)) if acked else None
            if probe is not None:
                try:
                    if client.get(probe).values != [probe.encode()]:
                        misses.append(probe)
                except DynamoError:
                    pass

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        c.add("n6")
        c.client("n6", timeout=10).admin("join")
        wait_until(
            "every node adopted the new ring and finished its transfers",
            lambda: all(
                (s := status(c, n))["ring_version"] == 2 and not s["transfers_pending"]
                for n in c.names
            ),
            timeout=40,
        )
        c.client("n2", timeout=10).admin("leave")
        wait_until(
            "n2 handed everything off and left",
            lambda: status(c, "n2")["members"]["n2"]["status"] == "left",
            timeout=40,
        )
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    c.kill("n2")
    ring_owners = status(c, "n1")["partitions"]
    loads = [len(status(c, n)["partitions_owned"]) for n in ("n1", "n3", "n4", "n5", "n6")]
    assert sum(loads) == ring_owners and max(loads) - min(loads) <= 1, loads
    reader = c.client("n1", "n3", timeout=5)
    lost = [k for k, v in acked.items() if reader.get(k).values != [v.encode()]]
    assert len(acked) > 100
    assert lost == []
    # A read during the switch may miss a write not yet moved to a new owner (docs/node.md,
    # Limits); once the transfers are done every one of those keys must read back.
    assert [k for k in set(misses) if reader.get(k).values != [k.encode()]] == []
