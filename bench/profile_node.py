"""Profile one node of a loopback cluster under the node_vs_ceiling load (py-spy, sampled).

    flock /tmp/dh-cluster.lock .venv/bin/python bench/profile_node.py --seconds 8 \\
        --concurrency 32 --route client --out /tmp/profile.txt

Starts the same 5-node cluster as ``bench/node_vs_ceiling.py``, writes the keys, then runs
the load while ``py-spy record --format raw`` samples node n1 (GIL-holding samples only unless
``--idle``). Prints the functions with the most samples, self and inclusive, per thread.
Needs ``py-spy`` in the venv (``pip install py-spy``). ``--perf`` samples n1 with ``perf record``
instead and prints its report by library and symbol — the interpreter, uvloop, msgpack and the
kernel, which py-spy cannot split; ``--cprofile`` runs n1 under cProfile (CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pstats
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from node_vs_ceiling import load, preload, thread_cpu

from dynamo.cluster import LoopbackCluster


def summarise(raw: Path, top: int) -> str:
    selfs: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        selfs[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    out = [f"{total} samples", "", "self:"]
    out += [f"{100 * n / total:5.1f}% {f}" for f, n in selfs.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"{100 * n / total:5.1f}% {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


class ProfiledCluster(LoopbackCluster):
    """n1 runs under cProfile (its loop thread only), writing ``stats`` when it stops."""

    stats = Path("node.pstats")

    def command(self, name: str) -> list[str]:
        cmd = super().command(name)
        if name != "n1":
            return cmd
        wrapper = Path(__file__).with_name("cprofiled_node.py")
        return [cmd[0], str(wrapper), str(self.stats), *cmd[3:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--route", choices=("node", "client"), default="client")
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("profile.txt"))
    parser.add_argument("--idle", action="store_true", help="count idle samples too")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--no-profile", action="store_true", help="only the CPU split")
    parser.add_argument("--cprofile", action="store_true", help="n1 under cProfile, no py-spy")
    parser.add_argument("--native", action="store_true", help="C frames too (py-spy --native)")
    parser.add_argument("--perf", action="store_true", help="n1 under `perf record`: C and kernel")
    parser.add_argument("--node-args", default="", help="extra `dynamo node` options")
    args = parser.parse_args()
    if args.perf and shutil.which("perf") is None:
        parser.error("--perf needs `perf` on PATH (Debian: apt-get install linux-perf)")
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ProfiledCluster.stats = args.out.with_suffix(".pstats").absolute()
    cluster_class = ProfiledCluster if args.cprofile else LoopbackCluster
    with (
        tempfile.TemporaryDirectory() as tmp,
        cluster_class(Path(tmp), 5, node_args=shlex.split(args.node_args)) as cluster,
    ):
        addresses = list(cluster.addresses.values())
        pids = [p.pid for p in cluster.procs.values()]
        asyncio.run(preload(addresses, args.keys))
        cmd = [spy, "record", "--rate", "200", "--format", "raw", "--threads", "--nonblocking"]
        cmd += ["--pid", str(pids[0]), "--duration", str(int(args.seconds)), "-o", str(args.out)]
        if args.native:
            cmd.append("--native")
        if args.idle:
            cmd.append("--idle")
        if args.perf:
            cmd = ["perf", "record", "-F", "499", "-p", str(pids[0]), "-o", str(args.out)]
            cmd += ["--", "sleep", str(args.seconds)]
        spy_proc = subprocess.Popen(
            cmd if not (args.cprofile or args.no_profile) else ["true"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if args.cprofile:
            os.kill(pids[0], signal.SIGUSR1)
        before = thread_cpu(pids)
        result = asyncio.run(
            load(
                "node", addresses, pids, args.concurrency, 0.5, args.seconds, args.keys, args.route
            )
        )
        after = thread_cpu(pids)
        if args.cprofile:
            os.kill(pids[0], signal.SIGUSR1)
            time.sleep(1.0)
        spy_proc.wait()
        ops = result.ops
        for name in sorted(after):
            u = after[name][0] - before.get(name, (0, 0))[0]
            s = after[name][1] - before.get(name, (0, 0))[1]
            print(f"{name:>16}: user {u / ops * 1e6:6.0f} µs/op, system {s / ops * 1e6:6.0f} µs/op")
        print(f"{result.rate:,.0f} ops/s, {result.cpu_per_op:.0f} CPU µs/op (all 5 nodes)")
    if args.no_profile:
        return
    if args.perf:
        report = ["perf", "report", "-i", str(args.out), "--stdio", "--no-children"]
        report += ["--sort", "dso,sym", "--percent-limit", "0.5"]
        print(subprocess.run(report, capture_output=True, text=True).stdout)
        return
    if args.cprofile:
        stats = pstats.Stats(str(args.out.with_suffix(".pstats")))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumtime").print_stats(args.top)
        return
    print(summarise(args.out, args.top))


if __name__ == "__main__":
    main()
