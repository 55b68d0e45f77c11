"""The floor of a durable write on this disk: what one commit costs in wall time and CPU.

    flock /tmp/dh-cluster.lock .venv/bin/python bench/commit_floor.py --commits 2000

Four ways to make one small record durable, each ``--commits`` times in a row from one
thread: SQLite in WAL mode with ``synchronous=FULL`` (the node's storage: one row per
commit, as its writer thread commits at low load), the same with ``synchronous=NORMAL``
(no fsync: not durable, for scale), an append to a log file with ``fdatasync``, and an
overwrite inside a preallocated log file with ``fdatasync`` (no size change, so no metadata
to journal). CPU is the thread's user+system time (``time.thread_time``), which includes the
kernel's work for the sync. The node's writer threads pay at least the first line's CPU per
commit; a put at concurrency 1 waits at least its wall time.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RECORD = 150


def measure(commit: Callable[[int], None], n: int) -> tuple[float, float, float]:
    """(wall p50 ms, wall p99 ms, mean CPU µs) of ``n`` commits."""
    walls, cpus = [], []
    for i in range(n):
        t, c = time.perf_counter(), time.thread_time()
        commit(i)
        walls.append(time.perf_counter() - t)
        cpus.append(time.thread_time() - c)
    walls.sort()
    return walls[n // 2] * 1e3, walls[int(n * 0.99)] * 1e3, sum(cpus) / n * 1e6


def sqlite_commit(path: Path, synchronous: str) -> Callable[[int], None]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY, blob BLOB)")
    value = os.urandom(RECORD)

    def commit(i: int) -> None:
        db.execute("BEGIN")
        db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?)", (f"k{i % 10_000}", value))
        db.execute("COMMIT")

    return commit


def append_commit(path: Path) -> Callable[[int], None]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    value = os.urandom(RECORD)

    def commit(i: int) -> None:
        os.write(fd, value)
        os.fdatasync(fd)

    return commit


def preallocated_commit(path: Path, n: int) -> Callable[[int], None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.posix_fallocate(fd, 0, (n + 1) * RECORD)
    os.fsync(fd)
    value = os.urandom(RECORD)

    def commit(i: int) -> None:
        os.pwrite(fd, value, i * RECORD)
        os.fdatasync(fd)

    return commit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="where the files go (default: a temp dir)")
    args = parser.parse_args(argv)
    n = max(100, args.commits)
    with tempfile.TemporaryDirectory(prefix="dh-commit-", dir=args.dir) as tmp:
        d = Path(tmp)
        ways = [
            ("SQLite WAL, synchronous=FULL (the node)", sqlite_commit(d / "full.db", "FULL")),
            ("SQLite WAL, synchronous=NORMAL (not durable)", sqlite_commit(d / "n.db", "NORMAL")),
            ("append + fdatasync", append_commit(d / "append.log")),
            ("preallocated overwrite + fdatasync", preallocated_commit(d / "pre.log", n)),
        ]
        print(f"{n} commits of one {RECORD}-byte record each, in {d}")
        print()
        print("| commit | wall p50 ms | wall p99 ms | CPU µs per commit |")
        print("|---|---|---|---|")
        for name, commit in ways:
            p50, p99, cpu = measure(commit, n)
            print(f"| {name} | {p50:.3f} | {p99:.3f} | {cpu:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
