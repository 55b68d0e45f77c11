"""The cost of powerfs on node throughput: one node (N=R=W=1) with its data directory on
plain disk and on powerfs, side by side in one run (alternating, ``--rounds`` of each).

    flock /tmp/dh-cluster.lock .venv/bin/python bench/powerfs_bench.py --seconds 8 --rounds 2

Load as in ``bench/node_bench.py``: ``--concurrency`` asyncio clients doing 50% gets and 50%
blind puts of 100-byte values. Prints ops/s and put p50/p99 per placement and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from node_bench import load, percentile

from dynamo.cluster import LoopbackCluster
from nemesis.powerfs import mounted

SINGLE = ["--n", "1", "--r", "1", "--w", "1", "--anti-entropy-interval", "0"]


def one_round(data_dir: Path, concurrency: int, seconds: float, keys: int) -> dict:
    with LoopbackCluster(data_dir, 1, node_args=SINGLE) as cluster:
        return asyncio.run(load(list(cluster.addresses.values()), concurrency, seconds, keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    totals: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="powerfs-bench-") as tmp:
        for r in range(args.rounds):
            for place in ("disk", "powerfs"):
                data = Path(tmp) / f"{place}-{r}"
                data.mkdir()
                if place == "disk":
                    result = one_round(data, args.concurrency, args.seconds, args.keys)
                else:
                    with mounted(data, Path(tmp) / f"mnt-{r}", Path(tmp) / "powerfs.log") as m:
                        result = one_round(m, args.concurrency, args.seconds, args.keys)
                t = totals.setdefault(place, {"ops": [], "elapsed": [], "put": [], "errors": []})
                lat = result["latencies"]
                t["ops"].append(sum(len(v) for v in lat.values()))
                t["elapsed"].append(result["elapsed"])
                t["put"].extend(lat["put"])
                t["errors"].append(result["errors"])
    print(
        f"1 node N=R=W=1, concurrency {args.concurrency}, {args.rounds} x {args.seconds:g} s "
        "each, 50% get / 50% put"
    )
    rate = {}
    for place, t in totals.items():
        rate[place] = sum(t["ops"]) / sum(t["elapsed"])
        puts = sorted(t["put"])
        print(
            f"{place:<8} {rate[place]:>7.0f} ops/s  put p50 {percentile(puts, 0.5) * 1e3:6.2f} ms"
            f"  p99 {percentile(puts, 0.99) * 1e3:6.2f} ms  errors {int(sum(t['errors']))}"
        )
    print(f"powerfs/disk throughput ratio: {rate['powerfs'] / rate['disk']:.2f}")


if __name__ == "__main__":
    main()
