"""Throughput and latency of a 5-node loopback cluster (N=3, R=2, W=2) under concurrent load.

    .venv/bin/python bench/node_bench.py --concurrency 32 --seconds 10

Prints ops/s and p50/p99/p99.9 latency of get and put. Each worker is an asyncio task with
its own connection to one node (round-robin), doing 50% gets and 50% blind puts of 100-byte
values on 10,000 keys.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from checkers.stats import quantile
from dynamo.client import AsyncClient
from dynamo.cluster import LoopbackCluster


def percentile(sorted_values: list[float], q: float) -> float:
    return float(quantile(sorted_values, q)) if sorted_values else float("nan")


async def load(addresses: list[str], concurrency: int, seconds: float, keys: int) -> dict:
    latencies: dict[str, list[float]] = {"get": [], "put": []}
    errors = 0
    deadline = time.monotonic() + seconds
    value = b"x" * 100

    async def worker(i: int) -> None:
        nonlocal errors
        rnd = random.Random(i)
        async with AsyncClient(addresses[i % len(addresses)], timeout=5.0) as client:
            while time.monotonic() < deadline:
                key = f"key-{rnd.randrange(keys)}"
                op = "get" if rnd.random() < 0.5 else "put"
                start = time.perf_counter()
                try:
                    if op == "get":
                        await client.get(key)
                    else:
                        await client.put(key, value)
                except Exception:
                    errors += 1
                    continue
                latencies[op].append(time.perf_counter() - start)

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {"elapsed": time.monotonic() - started, "latencies": latencies, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--buffered", action="store_true", help="nodes ack before fsync")
    args = parser.parse_args()
    node_args = ["--buffered"] if args.buffered else []
    with (
        tempfile.TemporaryDirectory() as tmp,
        LoopbackCluster(Path(tmp), 5, node_args=node_args) as cluster,
    ):
        result = asyncio.run(
            load(list(cluster.addresses.values()), args.concurrency, args.seconds, args.keys)
        )
    total = sum(len(v) for v in result["latencies"].values())
    print(
        f"5 nodes, N=3 R=2 W=2, {'buffered' if args.buffered else 'fsync'}, "
        f"concurrency {args.concurrency}, {result['elapsed']:.1f}s"
    )
    print(f"total: {total / result['elapsed']:.0f} ops/s, {result['errors']} errors")
    for op, values in result["latencies"].items():
        values.sort()
        print(
            f"{op}: {len(values) / result['elapsed']:.0f} ops/s  "
            f"p50 {percentile(values, 0.5) * 1e3:.2f} ms  "
            f"p99 {percentile(values, 0.99) * 1e3:.2f} ms  "
            f"p99.9 {percentile(values, 0.999) * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
