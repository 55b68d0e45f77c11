"""The node against its ceiling, side by side in one run: throughput, CPU per op and latency.

    flock /tmp/dh-cluster.lock .venv/bin/python bench/node_vs_ceiling.py --seconds 5

Three systems get the same load loop, one after the other at each concurrency (1, 8, 32, 128):

- **node**: a 5-node loopback cluster (``dynamo node``), N=3 R=2 W=2, fsync (a put is
  acknowledged only after W replicas have it on disk);
- **ceiling**: five ``bench/quorum_ceiling.py`` processes that speak the same wire protocol
  and send the same frames (client request, 2-3 replica requests, forwards of puts that land
  off their replicas) with no storage and no versions — what Python's event loop costs for
  the message pattern alone;
- **durable ceiling**: the same five processes with ``--durable``: each replica acknowledges
  a write only after its ``fdatasync`` (group commit through a writer thread, as the node's
  log engine does) — about the least a durable node in Python can spend. ``--ceilings bare``
  leaves it out.

Each worker is an asyncio task with its own connection to one node (round-robin), doing 50%
gets and 50% blind puts of 100-byte values on ``--keys`` keys (written once before the first
level). ``--route client`` sends each request to one of the key's replicas (the client learns
the ring from a node), so no put is forwarded. For each level the figures are taken over
``--seconds`` after ``--warmup``: ops/s, node CPU µs per op (user+system of all five
processes and their threads, from ``/proc``; a second table splits it into the event loops'
threads and the others), and p50/p99/p99.9 of gets and puts; the last rows of each level are
node ÷ ceiling and node ÷ durable ceiling. ``--plot PNG`` draws them. The machine is shared:
compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from dynamo.client import AsyncClient, Client
from dynamo.cluster import LoopbackCluster, free_ports
from dynamo.errors import DynamoError

TICK = os.sysconf("SC_CLK_TCK")
CEILING = Path(__file__).with_name("quorum_ceiling.py")


THREADS = ("loop thread", "other threads")


def thread_cpu(pids: list[int]) -> dict[str, tuple[float, float]]:
    """(user, system) CPU seconds of processes, from ``/proc``: their main threads (the event
    loop's) summed, and all their other threads (writers) summed."""
    out: dict[str, tuple[float, float]] = {}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            name = THREADS[0] if task.name == str(pid) else THREADS[1]
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            u, s = out.get(name, (0.0, 0.0))
            out[name] = (u + int(fields[11]) / TICK, s + int(fields[12]) / TICK)
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@dataclass
class Result:
    system: str
    concurrency: int
    seconds: float
    threads: dict[str, tuple[float, float]]
    """(user, system) CPU seconds over the measured time, per kind of thread."""
    errors: int
    latencies: dict[str, list[float]] = field(default_factory=dict)

    @property
    def cpu(self) -> float:
        return sum(u + s for u, s in self.threads.values())

    @property
    def ops(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def rate(self) -> float:
        return self.ops / self.seconds

    @property
    def cpu_per_op(self) -> float:
        return self.cpu / max(1, self.ops) * 1e6

    def pct(self, op: str, q: float) -> float:
        return percentile(self.latencies[op], q) * 1e3

    def per_op(self, thread: str) -> tuple[float, float]:
        """(user, system) CPU µs per op of one kind of thread."""
        u, s = self.threads.get(thread, (0.0, 0.0))
        return u / max(1, self.ops) * 1e6, s / max(1, self.ops) * 1e6


async def load(
    system: str,
    addresses: list[str],
    pids: list[int],
    concurrency: int,
    warmup: float,
    seconds: float,
    keys: int,
    route: str,
) -> Result:
    latencies: dict[str, list[float]] = {"get": [], "put": []}
    errors = 0
    value = b"x" * 100
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        rnd = random.Random(i)
        nodes = addresses[i % len(addresses) :] + addresses[: i % len(addresses)]
        client = AsyncClient(nodes if route == "client" else nodes[0], timeout=5.0)
        if route == "client":
            await client.learn_ring()
        async with client:
            while (now := loop.time()) < end:
                key = f"key-{rnd.randrange(keys)}"
                op = "get" if rnd.random() < 0.5 else "put"
                t0 = time.perf_counter()
                try:
                    if op == "get":
                        await client.get(key)
                    else:
                        await client.put(key, value)
                except DynamoError:
                    if now >= start:
                        errors += 1
                    continue
                if now >= start and loop.time() <= end:
                    latencies[op].append(time.perf_counter() - t0)

    cpu: list[dict[str, tuple[float, float]]] = []
    loop.call_at(start, lambda: cpu.append(thread_cpu(pids)))
    loop.call_at(end, lambda: cpu.append(thread_cpu(pids)))
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    for values in latencies.values():
        values.sort()
    zero = (0.0, 0.0)
    threads = {
        name: (u - cpu[0].get(name, zero)[0], s - cpu[0].get(name, zero)[1])
        for name, (u, s) in cpu[1].items()
    }
    return Result(system, concurrency, seconds, threads, errors, latencies)


async def preload(addresses: list[str], keys: int) -> None:
    """Write every key once, so gets read real objects."""
    value = b"x" * 100
    async with AsyncClient(addresses, timeout=10.0) as client:
        sem = asyncio.Semaphore(64)

        async def one(k: int) -> None:
            async with sem:
                await client.put(f"key-{k}", value)

        await asyncio.gather(*(one(k) for k in range(keys)))


class Ceiling:
    """Five ceiling processes on loopback."""

    def __init__(self, size: int = 5, durable: Path | None = None) -> None:
        ports = free_ports(size)
        self.addresses = {f"n{i + 1}": f"127.0.0.1:{p}" for i, p in enumerate(ports)}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.durable = durable

    def __enter__(self) -> Ceiling:
        peers = ",".join(f"{n}={a}" for n, a in self.addresses.items())
        for name, address in self.addresses.items():
            cmd = [sys.executable, str(CEILING), "--name", name, "--listen", address]
            if self.durable is not None:
                cmd += ["--durable", str(self.durable)]
            self.procs.append(subprocess.Popen([*cmd, "--peers", peers]))
        deadline = time.monotonic() + 15
        for address in self.addresses.values():
            while True:
                try:
                    with Client(address, timeout=1.0) as c:
                        c.ping()
                    break
                except DynamoError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait()


def row(r: Result) -> str:
    lat = " | ".join(f"{r.pct(op, q):.2f}" for op in ("get", "put") for q in (0.5, 0.99, 0.999))
    errors = f" ({r.errors} errors)" if r.errors else ""
    return f"| {r.concurrency} | {r.system}{errors} | {r.rate:,.0f} | {r.cpu_per_op:.0f} | {lat} |"


def thread_row(r: Result) -> str:
    split = " | ".join(f"{v:.0f}" for thread in THREADS for v in r.per_op(thread))
    return f"| {r.concurrency} | {r.system} | {split} |"


def plot(results: list[tuple[Result, list[Result]]], out: Path, title: str) -> None:
    """Three panels by concurrency: ops/s; CPU µs per op stacked by thread (one bar per
    system); put p50 and p99.9."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    levels = [node.concurrency for node, _ in results]
    systems = [[node, *ceils] for node, ceils in results]
    names = [r.system for r in systems[0]]
    colors = dict(zip(names, ("#d62728", "#1f77b4", "#2ca02c"), strict=False))
    fig = Figure(figsize=(15.0, 4.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    rate, cpu, latency = fig.subplots(1, 3)
    for i, name in enumerate(names):
        rs = [level[i] for level in systems]
        rate.plot(levels, [r.rate for r in rs], "o-", color=colors[name], label=name)
        latency.plot(levels, [r.pct("put", 0.5) for r in rs], "o-", color=colors[name])
        latency.plot(levels, [r.pct("put", 0.999) for r in rs], "s--", color=colors[name])
    rate.set(xscale="log", xlabel="concurrency", ylabel="ops/s", title="throughput")
    rate.set_xticks(levels, [str(c) for c in levels])
    rate.legend()
    latency.set(xscale="log", yscale="log", xlabel="concurrency", ylabel="ms")
    latency.set_title("put latency: p50 (circles), p99.9 (squares)")
    latency.set_xticks(levels, [str(c) for c in levels])
    width = 0.8 / len(names)
    parts = [(t, k) for t in THREADS for k in ("user", "system")]
    shades = ("#555555", "#999999", "#bbbbbb", "#dddddd")
    for i, name in enumerate(names):
        bottom = [0.0] * len(levels)
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(levels))]
        for (thread, kind), shade in zip(parts, shades, strict=True):
            values = [level[i].per_op(thread)[kind == "system"] for level in systems]
            label = f"{thread} {kind}" if i == 0 else None
            cpu.bar(
                xs, values, width, bottom=bottom, color=shade, edgecolor=colors[name], label=label
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        for x, total in zip(xs, bottom, strict=True):
            cpu.annotate(
                f"{name} {total:.0f}",
                (x, total),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                rotation=90,
                fontsize="x-small",
            )
    cpu.set_xticks(range(len(levels)), [str(c) for c in levels])
    cpu.set(xlabel="concurrency", ylabel="CPU µs per op")
    cpu.margins(y=0.25)
    cpu.set_title("CPU per op, all five processes")
    cpu.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(out)


def ratio_row(node: Result, ceiling: Result) -> str:
    """Node ÷ a ceiling, named for that ceiling's system."""
    lat = " | ".join(
        f"{node.pct(op, q) / ceiling.pct(op, q):.1f}x"
        for op in ("get", "put")
        for q in (0.5, 0.99, 0.999)
    )
    return (
        f"| {node.concurrency} | node ÷ {ceiling.system} | {node.rate / ceiling.rate:.2f}x | "
        f"{node.cpu_per_op / ceiling.cpu_per_op:.1f}x | {lat} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,8,32,128", help="concurrencies, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per level")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--route", choices=("node", "client"), default="node")
    parser.add_argument("--buffered", action="store_true", help="nodes ack before fsync")
    parser.add_argument("--node-args", default="", help="extra `dynamo node` options")
    parser.add_argument(
        "--ceilings",
        default="bare,durable",
        help="which ceilings to run beside the node: bare, durable or both (comma-separated)",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also draw the figures here")
    args = parser.parse_args()
    ceilings = args.ceilings.split(",")
    if not set(ceilings) <= {"bare", "durable"}:
        parser.error(f"--ceilings: bare, durable or both, not {args.ceilings!r}")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    levels = [int(c) for c in args.levels.split(",")]
    node_args = [*(["--buffered"] if args.buffered else []), *args.node_args.split()]
    results: list[tuple[Result, list[Result]]] = []
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        cluster = stack.enter_context(LoopbackCluster(Path(tmp), 5, node_args=node_args))
        systems: list[tuple[str, Ceiling]] = []
        if "bare" in ceilings:
            systems.append(("ceiling", stack.enter_context(Ceiling())))
        if "durable" in ceilings:
            (Path(tmp) / "ceiling").mkdir()
            ceiling = stack.enter_context(Ceiling(durable=Path(tmp) / "ceiling"))
            systems.append(("durable ceiling", ceiling))
        node_addresses = list(cluster.addresses.values())
        node_pids = [p.pid for p in cluster.procs.values()]
        asyncio.run(preload(node_addresses, args.keys))
        for c in levels:
            common = (c, args.warmup, args.seconds, args.keys, args.route)
            node = asyncio.run(load("node", node_addresses, node_pids, *common))
            ceils = [
                asyncio.run(
                    load(
                        name,
                        list(ceiling.addresses.values()),
                        [p.pid for p in ceiling.procs],
                        *common,
                    )
                )
                for name, ceiling in systems
            ]
            results.append((node, ceils))
            rates = ", ".join(f"{r.system} {r.rate:,.0f} ops/s" for r in [node, *ceils])
            print(f"concurrency {c}: {rates}", file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    load_cpu = usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime
    durability = "buffered" if args.buffered else "fsync"
    setup = (
        f"5 nodes, N=3 R=2 W=2, {durability}, route={args.route}, {args.keys} keys, "
        f"50% get / 50% blind put of 100 B, {args.seconds:g}s per level after "
        f"{args.warmup:g}s warm-up"
    )
    print(f"{setup}; load generator CPU {load_cpu:.1f}s in total")
    print()
    print(
        "| conc. | system | ops/s | CPU µs/op | get p50 ms | get p99 | get p99.9 "
        "| put p50 ms | put p99 | put p99.9 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for node, ceils in results:
        print(row(node))
        for ceil in ceils:
            print(row(ceil))
        for ceil in ceils:
            print(ratio_row(node, ceil))
    print()
    print("CPU µs per op by thread, all five processes: the event loop's, and the others (writers)")
    print()
    print("| conc. | system | loop user | loop system | others user | others system |")
    print("|---|---|---|---|---|---|")
    for node, ceils in results:
        for r in (node, *ceils):
            print(thread_row(r))
    if args.plot is not None:
        plot(results, args.plot, setup)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
