"""What the log engine's start costs: fill a ``LogStorage`` with ``--keys`` distinct keys (a
100-byte value each, one put per key), close it, and time opening it again — the replay of
the whole file that rebuilds the key directory — then one partition's ``scan`` (of 64, every
object read from disk and decoded; the engine finds the partition's keys in its buckets), and
a walk of the whole key directory for the same keys (``full walk``: what every ``scan`` cost
on top before the buckets).

    flock /tmp/dh-cluster.lock .venv/bin/python bench/log_replay.py --keys 100000,300000

The data directory is made under ``--dir`` (default ``/var/tmp``: a real disk, not tmpfs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from dynamo.logstore import LogStorage
from dynamo.storage import prefix_range
from dynamo.versions import VersionedObject, update

BATCH = 5000
"""Puts in flight at once while filling (the writer groups them into commits)."""


async def fill(storage: LogStorage, keys: int) -> None:
    obj = update(VersionedObject(), {}, "n1.a.1", os.urandom(100), 0.0)
    obj.actor = "n1.a.1"
    for base in range(0, keys, BATCH):
        await asyncio.gather(
            *(storage.put(f"key-{i}", obj) for i in range(base, min(keys, base + BATCH)))
        )


def measure(keys: int, parent: str) -> tuple[float, float, float, float]:
    """(file MB, reopen s, one-partition scan s, directory walk s)."""
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
        path = Path(tmp) / "data.log"
        storage = LogStorage(path)
        asyncio.run(fill(storage, keys))
        storage.close()
        size = (path / "current").stat().st_size / 1e6
        started = time.perf_counter()
        storage = LogStorage(path)
        reopen = time.perf_counter() - started
        assert storage.count() == keys
        low, high = prefix_range(3, 64)
        started = time.perf_counter()
        scanned = sum(1 for _ in storage.scan(low, high))
        scan = time.perf_counter() - started
        started = time.perf_counter()
        with storage._lock:
            walked = sorted(k for k, slot in storage._keys.items() if low <= slot.h < high)
        walk = time.perf_counter() - started
        assert len(walked) == scanned
        storage.close()
    return size, reopen, scan, walk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", default="100000,300000", help="comma-separated key counts")
    parser.add_argument("--dir", default="/var/tmp", help="where the data directory is made")
    args = parser.parse_args()
    print(
        "| keys | file MB | replay s | µs per key | scan of 1 of 64 partitions ms | full walk ms |"
    )
    print("|---|---|---|---|---|---|")
    for keys in (int(k) for k in args.keys.split(",")):
        size, reopen, scan, walk = measure(keys, args.dir)
        row = (f"{keys:,}", f"{size:.1f}", f"{reopen:.2f}", f"{reopen / keys * 1e6:.1f}")
        print("| " + " | ".join((*row, f"{scan * 1e3:.0f}", f"{walk * 1e3:.0f}")) + " |")


if __name__ == "__main__":
    main()
