"""How long until every replica agrees after a node that missed writes comes back.

    .venv/bin/python bench/convergence_bench.py --writes 10000

A 5-node loopback cluster (N=3, R=2, W=2). n1 is killed with SIGKILL, ``--writes`` keys are
written, n1 is restarted, and the clock runs until n1 holds every key it replicates and no
hint is left anywhere. Two ways, printed one after the other:

- sloppy quorum (the default): n1's writes went to fallbacks with hints; hinted hand-off
  (and anti-entropy) bring them back;
- strict quorum (``--strict-quorum``): no fallbacks, no hints; only Merkle anti-entropy can.

A final pass reads every key's copy on each of its three owners (``--local``) and counts
the keys whose copies differ.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from dynamo.client import AsyncClient, Client
from dynamo.cluster import LoopbackCluster
from dynamo.ring import Ring


async def write_all(address: str, keys: list[str], concurrency: int) -> int:
    queue = list(keys)
    ok = 0

    async def worker() -> None:
        nonlocal ok
        async with AsyncClient(address, timeout=10) as client:
            while queue:
                key = queue.pop()
                try:
                    await client.put(key, key)
                    ok += 1
                except Exception:
                    pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


def status(cluster: LoopbackCluster, name: str) -> dict:
    with Client(cluster.addresses[name], timeout=5) as c:
        return c.status()


def run(writes: int, strict: bool, ae_interval: float) -> None:
    extra = ["--strict-quorum"] if strict else []
    node_args = [*extra, "--anti-entropy-interval", str(ae_interval), "--request-timeout", "2"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        LoopbackCluster(Path(tmp), 5, node_args=node_args) as cluster,
    ):
        ring = Ring.balanced(cluster.seeds)
        keys = [f"conv-{i}" for i in range(writes)]
        missed = [k for k in keys if "n1" in ring.preference_list(k, 3)]
        cluster.kill("n1")
        started = time.monotonic()
        acked = asyncio.run(write_all(cluster.addresses["n2"], keys, 32))
        wrote = time.monotonic() - started
        hints = sum(status(cluster, n)["hints_pending"] for n in cluster.names if n != "n1")
        cluster.start(["n1"])
        started = time.monotonic()
        last = -1.0
        while True:
            held = status(cluster, "n1")["keys"]
            left = sum(status(cluster, n)["hints_pending"] for n in cluster.names)
            if held >= len(missed) and left == 0:
                break
            if time.monotonic() - last > 5:
                last = time.monotonic()
                print(f"  … n1 holds {held}/{len(missed)} keys, {left} hints left")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        disagree = 0
        clients = {n: Client(a, timeout=5) for n, a in cluster.addresses.items()}
        for key in keys:
            copies = {
                tuple(clients[o].get(key, local=True).values) for o in ring.preference_list(key, 3)
            }
            disagree += len(copies) != 1
        way = "strict quorum, anti-entropy only" if strict else "sloppy quorum, hinted hand-off"
        print(
            f"{way}: "
            f"{acked}/{writes} writes acked in {wrote:.1f}s while n1 was down "
            f"({len(missed)} of them n1's, {hints} hints); n1 back → every replica agrees after "
            f"{elapsed:.1f}s ({len(missed) / elapsed:.0f} keys/s); keys still differing: {disagree}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=10_000)
    parser.add_argument("--anti-entropy-interval", type=float, default=0.2)
    parser.add_argument("--only", choices=("sloppy", "strict"))
    args = parser.parse_args()
    for strict in (False, True):
        if args.only in (None, "strict" if strict else "sloppy"):
            run(args.writes, strict, args.anti_entropy_interval)


if __name__ == "__main__":
    main()
