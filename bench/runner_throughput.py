"""What the runner records, and what it costs: two figures for the harness's own budget.

    .venv/bin/python bench/runner_throughput.py --seconds 10 --concurrency 20

1. *Node-limited*: the runner (history, workload, pacing) drives the ``kv`` workload at
   ``--rate 0`` against 5 real nodes on loopback; beside it, the same calls in a bare loop
   with no runner. If the two rates are close, the nodes are the limit, not the runner.
2. *Runner overhead*: the same runner against a client that answers at once without a
   network, so all that is measured is the runner itself — op generation, the history line
   (JSON, write, flush) for invoke and completion, bookkeeping — per completed op.

Both share this machine's cores with everything else running; take the figures as this
machine's, with the node processes and the runner competing for two cores in (1).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import workloads
from checkers.history import load
from dynamo.cluster import LoopbackCluster
from harness.history import Clock, HistoryWriter
from harness.options import TestOptions
from harness.runner import Runner
from nemesis.protocol import NoNemesis
from systems.base import ReadResult
from systems.dynamo.client import DynamoClient
from workloads.base import WorkerState


class InstantClient:
    """Answers every call at once with an empty result: no network, no node."""

    async def read(self, key: str, *, local: bool = False) -> ReadResult:
        return ReadResult([], "")

    async def write(self, key: str, value: str, context: str | None = None) -> None:
        pass

    async def delete(self, key: str, context: str | None = None) -> None:
        pass

    async def close(self) -> None:
        pass


def run_runner(endpoints: dict[str, str], factory: Any, args: argparse.Namespace) -> float:
    """Completed client ops per second of the workload phase, from the recorded history."""
    o = TestOptions(
        workload="kv",
        rate=0,
        concurrency=args.concurrency,
        seed=1,
        time_limit=args.seconds,
        settle=0,
        final_reads=False,
    )
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.jsonl"
        w = HistoryWriter(path, Clock())
        runner = Runner(o, w, workloads.build("kv"), endpoints, factory, NoNemesis())
        asyncio.run(runner.run())
        w.close()
        return completed_per_second(load(path))


def completed_per_second(history: list[dict[str, Any]]) -> float:
    """Client ops that completed (ok, fail or info) per second of the workload phase."""
    done = [
        op["time"]
        for op in history
        if isinstance(op.get("process"), int) and op["type"] != "invoke" and not op.get("final")
    ]
    return len(done) / ((max(done) - min(done)) / 1e9) if len(done) > 1 else 0.0


async def bare_loop(endpoints: dict[str, str], args: argparse.Namespace) -> float:
    """The same kv ops with no runner: no history, no pacing — the nodes' own rate."""
    deadline = time.monotonic() + args.seconds
    count = 0
    addrs = list(endpoints.values())
    workload = workloads.build("kv")

    async def worker(i: int) -> None:
        nonlocal count
        rng = random.Random(i)
        state = WorkerState()
        client = DynamoClient(addrs[i % len(addrs)], timeout=5.0)
        try:
            while time.monotonic() < deadline:
                await workload.invoke(client, workload.next_op(rng, state), state)
                count += 1
        finally:
            await client.close()

    t = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    return count / (time.monotonic() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--skip-nodes", action="store_true", help="only the overhead figure")
    args = p.parse_args()

    instant = InstantClient()
    rate = run_runner({f"n{i}": "instant" for i in range(1, 6)}, lambda a, t: instant, args)
    print(f"runner alone (instant client): {rate:,.0f} ops/s -> {1e6 / rate:.1f} us per op")
    if args.skip_nodes:
        return
    # A fresh cluster for each, so neither inherits the other's siblings on hot keys.
    with tempfile.TemporaryDirectory() as d, LoopbackCluster(Path(d), 5) as cluster:
        bare = asyncio.run(bare_loop(cluster.addresses, args))
    with tempfile.TemporaryDirectory() as d, LoopbackCluster(Path(d), 5) as cluster:
        recorded = run_runner(cluster.addresses, DynamoClient, args)
    print(f"5 loopback nodes, bare client loop: {bare:,.0f} ops/s")
    print(
        f"5 loopback nodes, through the runner: {recorded:,.0f} ops/s "
        f"({recorded / bare:.0%} of the bare loop)"
    )


if __name__ == "__main__":
    main()
