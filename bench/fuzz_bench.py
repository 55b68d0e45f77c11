"""The fuzzer at benchmark size: ``--frames`` (default 100,000) fuzzed frames into one real node.

    flock /tmp/dh-cluster.lock .venv/bin/python bench/fuzz_bench.py --frames 100000

One ``dynamo node`` process (N=R=W=1, SQLite with fsync, request timeout 0.1 s) gets rounds of
hypothesis-drawn frames from ``dynamo.fuzz``: pipelined batches of up to 24 structure-aware
requests of every op on one connection, and one round in ten of raw bytes on fresh
connections. It prints the frames sent, the ops covered, the replies by code, the crashes
(``remote`` errors, missing replies, a dead process: must be 0), the node's RSS before and
after, and what the node saved that does not pass the schema (must be nothing). Exits 1 on
any crash or bad saved value.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo import schema
from dynamo.cluster import LoopbackCluster
from dynamo.fuzz import Target, bad_stored, raw_frames, requests

ROUND = 500
"""Hypothesis examples per round."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    fuzz = settings(
        max_examples=ROUND,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    with tempfile.TemporaryDirectory(prefix="fuzz-bench-") as tmp:
        cluster = LoopbackCluster(
            Path(tmp), 1, node_args=["--n", "1", "--r", "1", "--w", "1", "--request-timeout", "0.1"]
        )
        with cluster:
            address = cluster.addresses["n1"]
            proc = psutil.Process(cluster.procs["n1"].pid)
            target = Target(address)

            @fuzz
            @given(st.lists(requests(address), min_size=1, max_size=24))
            def request_round(batch: list[object]) -> None:
                target.send(batch)

            @fuzz
            @given(raw_frames)
            def raw_round(data: bytes) -> None:
                target.send_raw(data)

            rss_before = proc.memory_info().rss
            rss_peak = rss_before
            started = time.monotonic()
            rounds = 0
            while target.tally.frames < args.frames and cluster.procs["n1"].poll() is None:
                (raw_round if rounds % 10 == 9 else request_round)()
                rounds += 1
                rss_peak = max(rss_peak, proc.memory_info().rss)
                print(f"  {target.tally.frames} frames, rss {rss_peak >> 20} MiB", file=sys.stderr)
            elapsed = time.monotonic() - started
            alive = cluster.procs["n1"].poll() is None
            rss_after = proc.memory_info().rss if alive else 0
            target.close()
        bad = bad_stored(Path(tmp) / "n1")

    tally = target.tally
    print(f"frames          {tally.frames} ({tally.raw} raw) in {elapsed:.0f} s")
    print(f"ops covered     {len(set(tally.ops) & set(schema.OPS))} of {len(schema.OPS)}")
    print("frames by op    " + ", ".join(f"{op} {n}" for op, n in sorted(tally.ops.items())))
    print("replies         " + ", ".join(f"{code} {n}" for code, n in tally.answers.most_common()))
    print(f"crashes         {len(tally.crashes) + (not alive)}")
    for crash in tally.crashes[:10]:
        print(f"  {crash}")
    print(
        f"node RSS        {rss_before / 2**20:.1f} MiB before, {rss_after / 2**20:.1f} MiB "
        f"after, {rss_peak / 2**20:.1f} MiB peak"
    )
    print(f"bad saved       {len(bad)}")
    for line in bad[:10]:
        print(f"  {line}")
    return 1 if tally.crashes or bad or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
