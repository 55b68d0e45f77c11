"""The two storage engines alone, in one process: what the writer thread costs per put and
per commit, with no network and no other node beside it.

    flock /tmp/dh-cluster.lock .venv/bin/python bench/storage_engines.py --seconds 3

For each engine (``sqlite``, ``log``) and concurrency (1, 8, 32), that many asyncio tasks each
put one of ``--keys`` keys (a 100-byte value) and await its durability, again and again, for
``--seconds``. Prints puts/s, puts per commit, the writer thread's CPU (user+system from
``/proc``, so the kernel's share of the sync is in it) per put and per commit, and put latency
p50/p99. A cluster's writer threads carry the node's puts and every replica's, so this is the
part of ``bench/profile_node.py``'s "other threads" the engine decides.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from dynamo.logstore import LogStorage
from dynamo.storage import GroupCommitStorage, SqliteStorage
from dynamo.versions import VersionedObject, update

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(tid: int) -> float:
    fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def value(i: int) -> VersionedObject:
    obj = update(VersionedObject(), {}, "n1.a.1", os.urandom(100), float(i))
    obj.actor = "n1.a.1"
    return obj


async def run(store: GroupCommitStorage, concurrency: int, seconds: float, keys: int) -> str:
    commits = 0
    real_commit = store._commit

    def counting(batch: list[Any]) -> BaseException | None:
        nonlocal commits
        commits += 1
        return real_commit(batch)

    store._commit = counting  # type: ignore[method-assign]
    objects = [value(i) for i in range(256)]
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def worker(w: int) -> None:
        i = w
        while time.monotonic() < stop:
            t = time.perf_counter()
            await store.put(f"k{i % keys}", objects[i % len(objects)])
            latencies.append(time.perf_counter() - t)
            i += concurrency

    tid = store._thread.native_id
    assert tid is not None
    cpu0, t0 = thread_cpu(tid), time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    cpu, elapsed = thread_cpu(tid) - cpu0, time.monotonic() - t0
    puts = len(latencies)
    latencies.sort()
    return (
        f"| {concurrency} | {puts / elapsed:,.0f} | {puts / commits:.1f} "
        f"| {cpu / puts * 1e6:.0f} | {cpu / commits * 1e6:.0f} "
        f"| {latencies[puts // 2] * 1e3:.2f} | {latencies[int(puts * 0.99)] * 1e3:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--keys", type=int, default=10_000)
    args = parser.parse_args()
    print(
        "| engine | conc. | puts/s | puts/commit | writer CPU µs/put | µs/commit "
        "| put p50 ms | put p99 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for level in (int(c) for c in args.levels.split(",")):
        for engine in ("sqlite", "log"):
            with tempfile.TemporaryDirectory() as tmp:
                store: GroupCommitStorage = (
                    LogStorage(Path(tmp) / "data.log")
                    if engine == "log"
                    else SqliteStorage(Path(tmp) / "data.sqlite")
                )
                line = asyncio.run(run(store, level, args.seconds, args.keys))
                store.close()
            print(f"| {engine} {line}", flush=True)


if __name__ == "__main__":
    main()
