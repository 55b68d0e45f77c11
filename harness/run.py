"""``harness run``: hosts from a provider, the system deployed over SSH, the runner, teardown,
then the verdict.

Clean-up is not optional: whatever happens (an error, Ctrl-C, SIGTERM) nodes are stopped,
their logs fetched into ``store/<run>/nodes/``, and what the provider made is removed. The
first Ctrl-C stops the run; later ones during clean-up are noted and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import workloads
from harness import faults, providers, store, verdict, wheels
from harness.cluster import Cluster
from harness.dynamo_system import DynamoConfig, DynamoSystem
from harness.exitcodes import ExitCode
from harness.faults import NemesisContext
from harness.history import Clock, HistoryWriter
from harness.options import TestOptions
from harness.progress import Progress
from harness.remote import on_all, quote_all
from harness.runner import Outcome, Runner
from harness.system import System

log = logging.getLogger("harness")


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Interrupts:
    """The first SIGINT/SIGTERM raises KeyboardInterrupt; later ones only ask for patience."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt
        say("still cleaning up; the cluster is being torn down")


@contextmanager
def logging_to(path: Path) -> Iterator[None]:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for noisy in ("paramiko", "invoke", "fabric", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root.addHandler(handler)
    root.addHandler(console)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.removeHandler(console)
        root.setLevel(old_level)
        handler.close()


def moves_clocks(nemesis: str) -> bool:
    """Whether the nemesis spec can skew clocks (the nodes then start under libfaketime)."""
    if nemesis == "none":
        return False
    from nemesis.spec import parse

    return any(f.kind == "clock" for f in parse(nemesis).faults)


def make_system(o: TestOptions, work: Path) -> DynamoSystem:
    built = wheels.build(work / "dist")
    return DynamoSystem(
        DynamoConfig(
            port=o.port,
            n=o.n,
            r=o.r,
            w=o.w,
            mode=o.mode,
            buffered=o.buffered,
            faketime=moves_clocks(o.nemesis),
            node_args=tuple(shlex.split(o.node_args)),
        ),
        built,
        wheels.manifest(built),
    )


def deploy(cluster: Cluster, system: System) -> None:
    on_all(cluster.all_remotes(), lambda r: system.install(cluster, r.name))
    on_all(cluster.all_remotes(), lambda r: system.start(cluster, r.name))


def collect(cluster: Cluster, system: System, run_dir: Path) -> None:
    """Stop every node and fetch its files; a host that fails is logged, never fatal."""

    def one(node: str) -> None:
        remote = cluster.remote(node)
        try:
            system.stop(cluster, node)
        except Exception as e:
            log.warning("%s: stop failed: %s", node, e)
        try:
            listing = remote.run(
                quote_all(["ls", "-1", *system.log_files(cluster, node)]) + " 2>/dev/null",
                check=False,
                timeout=15,
            )
            for path in listing.stdout.split():
                remote.get(path, run_dir / store.NODES / node / Path(path).name)
        except Exception as e:
            log.warning("%s: cannot fetch node files: %s", node, e)

    try:
        on_all(cluster.all_remotes(), lambda r: one(r.name))
    except Exception as e:
        log.warning("collecting node files failed: %s", e)


def drive(
    o: TestOptions,
    cluster: Cluster,
    system: System,
    workload: workloads.Workload,
    nemesis: faults.Nemesis,
    history: HistoryWriter,
    interrupts: Interrupts,
) -> Outcome:
    """Deploy, then run the workload and the nemesis; the caller cleans up."""
    say(f"deploying to {', '.join(cluster.nodes)} over SSH")
    t = time.monotonic()
    deploy(cluster, system)
    log.info("deployed in %.1fs", time.monotonic() - t)
    history.clock = Clock()  # time 0 is the start of the workload, not of the deploy
    progress = Progress(o.progress)
    runner = Runner(
        o,
        history,
        workload,
        {n: system.endpoint(cluster, n) for n in cluster.nodes},
        system.client,
        nemesis,
        NemesisContext(cluster, system, random.Random(o.seed)),
        progress=None if o.progress == "none" else progress,
        local_reads=system.supports_local_reads(),
        replicas=lambda key: system.replicas(cluster.nodes, key),
        backlog=system.backlog,
    )
    progress.start()
    try:
        return asyncio.run(runner.run())
    finally:
        progress.stop()
        interrupts.install()  # the event loop's handlers are gone with it
        if runner.interrupted:
            interrupts.count = 1


def run(o: TestOptions) -> ExitCode:
    """A whole test; ``o`` is validated already (bad options are the CLI's 254)."""
    o = o.with_seed()
    workload = workloads.build(o.workload, o.keys)
    nemesis = faults.build(o.nemesis)
    provider = providers.build(o)
    run_dir = store.new_run_dir(Path(o.store), o.test_name())
    store.write_test(run_dir, o, provider=provider.name)
    interrupts = Interrupts()
    interrupts.install()
    outcome: Outcome | None = None
    failure: BaseException | None = None
    say(f"run {run_dir} (seed {o.seed})")
    with logging_to(run_dir / store.HARNESS_LOG), tempfile.TemporaryDirectory() as tmp:
        history = HistoryWriter(run_dir / store.HISTORY, Clock())
        try:
            system = make_system(o, Path(tmp))
            say(f"{provider.name}: preparing hosts")
            with provider.session() as cluster:
                for r in cluster.remotes.values():
                    r.command_timeout = o.command_timeout
                control = cluster.discover_control_address()
                store.write_test(run_dir, o, hosts=cluster.addresses, control=control)
                try:
                    outcome = drive(o, cluster, system, workload, nemesis, history, interrupts)
                finally:
                    interrupts.count = max(interrupts.count, 1)  # shield clean-up
                    say("stopping nodes, fetching logs")
                    collect(cluster, system, run_dir)
                    say("tearing down")
        except KeyboardInterrupt:
            interrupts.count = max(interrupts.count, 1)
        except Exception as e:
            failure = e
            log.exception("the harness failed")
        finally:
            history.close()
    interrupted = (outcome is not None and outcome.interrupted) or (
        outcome is None and failure is None
    )
    store.write_test(
        run_dir,
        o,
        end=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        interrupted=interrupted,
        ops=history.count,
        error=None if failure is None else f"{type(failure).__name__}: {failure}",
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if failure is not None:
        say(f"harness failed: {type(failure).__name__}: {failure}")
        say(f"log: {run_dir / store.HARNESS_LOG}")
        return ExitCode.HARNESS_FAILED
    if interrupted:
        say(f"interrupted: cluster torn down; partial history kept in {run_dir / store.HISTORY}")
        raise KeyboardInterrupt  # the caller stops too (test-all's matrix); the CLI exits 2
    code = verdict.check(run_dir, o.expect)
    print(verdict.report(run_dir))
    if o.junit:
        from harness import junit

        junit.write([junit.from_run_dir(run_dir)], Path(o.junit))
    say(f"{run_dir}: exit {int(code)} ({code.name.lower()})")
    return code
