"""Power-loss trials: a real node process with its data directory on powerfs takes acked
writes, is killed with SIGKILL mid-load, loses everything unsynced (``drop``), restarts, and
every acknowledged write is read back. Prints, per build, trials / acked / lost.

    flock /tmp/dh-cluster.lock .venv/bin/python bench/powerfs_trials.py --trials 20

Builds: ``real`` (the node as shipped: WAL, synchronous=FULL, acks after COMMIT), ``sync-off``
(``bench/sync_off_node.py``: SQLite synchronous=OFF, acks before anything is fsynced) and
``buffered`` (``dynamo node --buffered``: acks before COMMIT). ``--fault kill`` skips the
drop: the control that shows ``kill -9`` alone cannot catch ``sync-off``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamo.client import AsyncClient, Client
from dynamo.cluster import LoopbackCluster
from nemesis.powerfs import drop, mounted

SINGLE = ["--n", "1", "--r", "1", "--w", "1", "--anti-entropy-interval", "0"]
BUILDS: dict[str, tuple[list[str], list[str]]] = {
    # build -> (the command that replaces ``python -m dynamo``, extra node options)
    "real": ([sys.executable, "-m", "dynamo"], []),
    "sync-off": ([sys.executable, str(Path(__file__).with_name("sync_off_node.py"))], []),
    "buffered": ([sys.executable, "-m", "dynamo"], ["--buffered"]),
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
    trials: int = 0
    acked: int = 0
    lost: int = 0
    lost_per_trial: list[int] = field(default_factory=list)
    unstartable: int = 0
    """Trials after which the node would not start (a corrupt database): all acks lost."""

    def line(self) -> str:
        losing = sum(1 for n in self.lost_per_trial if n)
        return (
            f"{self.build:<9} fault={self.fault:<5} trials={self.trials:>3} acked={self.acked:>6} "
            f"lost={self.lost:>5} trials_losing={losing} unstartable={self.unstartable}"
        )


async def _load(address: str, prefix: str, workers: int, seconds: float) -> list[str]:
    """Blind puts of fresh keys from ``workers`` connections until the node dies; the keys
    whose put was acknowledged."""
    acked: list[str] = []
    deadline = time.monotonic() + seconds + 30

    async def worker(w: int) -> None:
        async with AsyncClient(address, timeout=2.0) as client:
            i = 0
            while time.monotonic() < deadline:
                key = f"{prefix}-w{w}-{i}"
                i += 1
                try:
                    await client.put(key, key)
                except Exception:
                    return
                acked.append(key)

    await asyncio.gather(*(worker(w) for w in range(workers)))
    return acked


def _kill_after(cluster: LoopbackCluster, seconds: float) -> None:
    time.sleep(seconds)
    cluster.kill("n1")


def lost_keys(address: str, keys: list[str]) -> list[str]:
    with Client(address, timeout=5.0) as client:
        return [k for k in keys if k.encode() not in client.get(k, r=1).values]


def run_trials(
    build: str,
    trials: int,
    workdir: Path,
    *,
    fault: str = "power",
    workers: int = 8,
    seconds: float = 1.0,
    log: Path | None = None,
) -> Tally:
    """``trials`` power losses (or plain kills) of one node of ``build`` on powerfs."""
    launcher, options = BUILDS[build]
    backing, mountpoint = workdir / f"{build}-backing", workdir / f"{build}-mnt"
    backing.mkdir(parents=True)
    tally = Tally(build, fault)
    with mounted(backing, mountpoint, log):
        cluster = BuildCluster(mountpoint, 1, node_args=[*SINGLE, *options])
        cluster.launcher = launcher
        address = cluster.addresses["n1"]
        try:
            cluster.start()
            for trial in range(trials):
                killer = asyncio.to_thread(_kill_after, cluster, seconds)

                async def both(trial: int = trial, killer=killer) -> list[str]:
                    acked, _ = await asyncio.gather(
                        _load(address, f"t{trial}", workers, seconds), killer
                    )
                    return acked

                acked = asyncio.run(both())
                if fault == "power":
                    drop(mountpoint)
                try:
                    cluster.start()
                    lost = lost_keys(address, acked)
                except RuntimeError:  # the node died at start: its database is corrupt
                    tally.unstartable += 1
                    lost = acked
                    shutil.rmtree(mountpoint / "n1")
                    cluster.start()
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
                workers=args.workers,
                seconds=args.seconds,
                log=Path(tmp) / f"{build}-powerfs.log",
            )
            print(f"{tally.line()} ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
