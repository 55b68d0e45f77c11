"""Power-loss trials: a real node process with its data directory on powerfs takes acked
writes, is killed with SIGKILL mid-load, loses everything unsynced (``drop``), restarts, and
every acknowledged write is read back. Prints, per build, trials / acked / lost.

    flock /tmp/dh-cluster.lock .venv/bin/python bench/powerfs_trials.py --trials 20

Builds: ``real`` (the node on SQLite, ``--storage sqlite``: WAL, synchronous=FULL, acks after
COMMIT), ``sync-off`` (``bench/sync_off_node.py``: SQLite synchronous=OFF, acks before anything
is fsynced) and ``buffered`` (``--storage sqlite --buffered``: acks before COMMIT); ``log`` and
``log-buffered`` are ``real`` and ``buffered`` on the log engine (``--storage log``, the
node's default). ``--fault kill`` skips the
drop: the control that shows ``kill -9`` alone cannot catch ``sync-off``. ``--nodes 3`` runs
a loopback cluster (N=3, R=2, W=2), each node on a powerfs mount of its own, and ``--target``
says whom each trial hits at one instant: ``all`` (the whole replica set of every key) or
``one`` (n1 only, which a write quorum survives).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamo.client import AsyncClient, Client
from dynamo.cluster import LoopbackCluster
from dynamo.errors import DynamoError
from nemesis.powerfs import drop, mounted

SINGLE = ["--n", "1", "--r", "1", "--w", "1", "--anti-entropy-interval", "0"]
TRIPLE = ["--n", "3", "--r", "2", "--w", "2", "--anti-entropy-interval", "0"]
BUILDS: dict[str, tuple[list[str], list[str]]] = {
    # build -> (the command that replaces ``python -m dynamo``, extra node options)
    "real": ([sys.executable, "-m", "dynamo"], ["--storage", "sqlite"]),
    "sync-off": (
        [sys.executable, str(Path(__file__).with_name("sync_off_node.py"))],
        ["--storage", "sqlite"],
    ),
    "buffered": ([sys.executable, "-m", "dynamo"], ["--storage", "sqlite", "--buffered"]),
    "log": ([sys.executable, "-m", "dynamo"], ["--storage", "log"]),
    "log-buffered": ([sys.executable, "-m", "dynamo"], ["--storage", "log", "--buffered"]),
}


class BuildCluster(LoopbackCluster):
    """A loopback cluster whose nodes run ``launcher`` instead of ``python -m dynamo``."""

    launcher: list[str]

    def command(self, name: str) -> list[str]:
        return [*self.launcher, *super().command(name)[3:]]


@dataclass
class Tally:
    build: str
    fault: str
    nodes: int = 1
    target: str = "all"
    trials: int = 0
    acked: int = 0
    lost: int = 0
    lost_per_trial: list[int] = field(default_factory=list)
    unstartable: int = 0
    """Restarts refused by a corrupt database (the node then starts on an empty one)."""
    unreadable: int = 0
    """Acked keys whose read failed after the restart (e.g. a database the drop left
    malformed): counted in ``lost`` too, since no client can read them back."""

    def line(self) -> str:
        losing = sum(1 for n in self.lost_per_trial if n)
        return (
            f"{self.build:<9} fault={self.fault:<5} nodes={self.nodes} target={self.target:<3} "
            f"trials={self.trials:>3} acked={self.acked:>6} "
            f"lost={self.lost:>5} trials_losing={losing} unstartable={self.unstartable} "
            f"unreadable={self.unreadable}"
        )


async def _load(
    addresses: list[str], prefix: str, workers: int, stop: threading.Event
) -> list[str]:
    """Blind puts of fresh keys from ``workers`` connections (spread over the nodes) until
    the kill; the keys whose put was acknowledged."""
    acked: list[str] = []

    async def worker(w: int) -> None:
        async with AsyncClient(addresses[w % len(addresses)], timeout=2.0) as client:
            i = 0
            while not stop.is_set():
                key = f"{prefix}-w{w}-{i}"
                i += 1
                try:
                    await client.put(key, key)
                except Exception:
                    return
                acked.append(key)

    await asyncio.gather(*(worker(w) for w in range(workers)))
    return acked


def _kill_after(
    cluster: LoopbackCluster, names: list[str], seconds: float, stop: threading.Event
) -> None:
    """SIGKILL every one of ``names`` at one instant (signals first, then the waits)."""
    time.sleep(seconds)
    for name in names:
        os.kill(cluster.procs[name].pid, signal.SIGKILL)
    stop.set()
    for name in names:
        cluster.procs[name].wait()


def lost_keys(addresses: list[str], keys: list[str]) -> tuple[list[str], list[str]]:
    """The acked keys not read back, and those of them whose read failed outright."""
    lost: list[str] = []
    unreadable: list[str] = []
    with Client(addresses, timeout=5.0) as client:
        for key in keys:
            try:
                found = key.encode() in client.get(key).values
            except DynamoError:
                unreadable.append(key)
                found = False
            if not found:
                lost.append(key)
    return lost, unreadable


def _wipe(mountpoint: Path) -> None:
    for path in mountpoint.iterdir():
        if path.name != ".powerfs":
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _restart(cluster: LoopbackCluster, names: list[str], mounts: dict[str, Path]) -> int:
    """Start ``names`` again; a node whose database will not open (corrupt) starts afresh on
    an empty data directory. Returns how many would not start."""
    unstartable = 0
    for name in names:
        try:
            cluster.start([name])
        except RuntimeError:
            unstartable += 1
            proc = cluster.procs[name]
            if proc.poll() is None:  # still starting (a long replay): it must not write on
                with contextlib.suppress(ProcessLookupError):
                    cluster.kill(name)
            proc.wait()
            log = mounts[name] / "node.log"
            last = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            print(f"{name} did not start: {' | '.join(last)[-300:]}", file=sys.stderr)
            _wipe(mounts[name])
            cluster.start([name])
    return unstartable


def run_trials(
    build: str,
    trials: int,
    workdir: Path,
    *,
    fault: str = "power",
    nodes: int = 1,
    target: str = "all",
    workers: int = 8,
    seconds: float = 1.0,
    log: Path | None = None,
) -> Tally:
    """``trials`` power losses (or plain kills) of ``target`` ("all" or "one") of ``nodes``
    nodes of ``build``, each node's data directory a powerfs mount of its own."""
    launcher, options = BUILDS[build]
    quorum = SINGLE if nodes == 1 else TRIPLE
    tally = Tally(build, fault, nodes, target)
    data = workdir / f"{build}-data"
    with contextlib.ExitStack() as mounts_held:
        cluster = BuildCluster(data, nodes, node_args=[*quorum, *options])
        cluster.launcher = launcher
        mounts: dict[str, Path] = {}
        for name in cluster.names:
            backing = workdir / f"{build}-backing" / name
            backing.mkdir(parents=True)
            mounts[name] = mounts_held.enter_context(mounted(backing, data / name, log))
        addresses = list(cluster.addresses.values())
        victims = cluster.names if target == "all" else cluster.names[:1]
        try:
            cluster.start()
            for trial in range(trials):
                stop = threading.Event()

                async def both(trial: int = trial, stop: threading.Event = stop) -> list[str]:
                    killer = asyncio.to_thread(_kill_after, cluster, victims, seconds, stop)
                    acked, _ = await asyncio.gather(
                        _load(addresses, f"t{trial}", workers, stop), killer
                    )
                    return acked

                acked = asyncio.run(both())
                if fault == "power":
                    for name in victims:
                        drop(mounts[name])
                tally.unstartable += _restart(cluster, victims, mounts)
                lost, unreadable = lost_keys(addresses, acked)
                tally.unreadable += len(unreadable)
                tally.trials += 1
                tally.acked += len(acked)
                tally.lost += len(lost)
                tally.lost_per_trial.append(len(lost))
        finally:
            cluster.stop()
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--builds", default="real,sync-off,buffered")
    parser.add_argument("--fault", choices=("power", "kill"), default="power")
    parser.add_argument("--nodes", type=int, choices=(1, 3), default=1, help="1: N=R=W=1; 3: N=3")
    parser.add_argument(
        "--target", choices=("all", "one"), default="all", help="whom each trial hits at once"
    )
    parser.add_argument("--workers", type=int, default=8, help="concurrent writers")
    parser.add_argument("--seconds", type=float, default=1.0, help="load before each kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="powerfs-trials-") as tmp:
        for build in args.builds.split(","):
            started = time.monotonic()
            tally = run_trials(
                build,
                args.trials,
                Path(tmp),
                fault=args.fault,
                nodes=args.nodes,
                target=args.target,
                workers=args.workers,
                seconds=args.seconds,
                log=Path(tmp) / f"{build}-powerfs.log",
            )
            print(f"{tally.line()} ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
