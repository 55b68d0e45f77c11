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
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import workloads
from harness import hostvenv, providers, store, verdict
from harness.cluster import Cluster
from harness.exitcodes import ExitCode
from harness.history import Clock, HistoryWriter
from harness.options import TestOptions
from harness.progress import Progress
from harness.remote import on_all
from harness.runner import Outcome, Runner
from nemesis import host as nemesis_host
from nemesis import power as nemesis_power
from nemesis import protocol as nemesis_protocol
from nemesis.protocol import Nemesis, NemesisContext
from systems import registry
from systems.base import System

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


@dataclass(frozen=True)
class Parts:
    """What a run is made of, built and checked before any host is touched."""

    system: System
    workload: workloads.Workload
    nemesis: Nemesis


def build_parts(o: TestOptions) -> Parts:
    """The system, workload and nemesis ``o`` names; ``ValueError`` saying what cannot run."""
    workload = workloads.build(o.workload, o.keys, o.workload_option)
    nemesis = nemesis_protocol.build(o.nemesis)
    system = registry.configure(o.system, o, o.system_option)
    caps = system.capabilities
    missing = sorted(workload.operations - caps.operations)
    if missing:
        raise ValueError(
            f"system {o.system} cannot run the {o.workload} workload: its client lacks "
            f"{', '.join(missing)}"
        )
    if nemesis.host_env("/") and not caps.host_env:
        raise ValueError(
            f"system {o.system} cannot start under the environment --nemesis {o.nemesis} "
            "needs (clock faults preload libfaketime through node.env)"
        )
    if nemesis.powerfs:
        nemesis_power.check_system(system)
    lacking = sorted(c for c in nemesis.requires if not getattr(caps, c, False))
    if lacking:
        raise ValueError(
            f"system {o.system} cannot take --nemesis {o.nemesis}: it does not declare "
            f"{', '.join(f'Capabilities.{c}' for c in lacking)} (docs/systems.md)"
        )
    return Parts(system, workload, nemesis)


@dataclass(frozen=True)
class RunResult:
    """What ``run`` found: the verdict and where the run is stored."""

    code: ExitCode
    run_dir: Path

    def __int__(self) -> int:
        return int(self.code)


def prepare_hosts(cluster: Cluster, nemesis: Nemesis) -> None:
    """Clear what an earlier run's faults left; write each node's ``node.env`` for this one."""

    def one(node: str) -> None:
        d = cluster.remote_dir(node)
        nemesis_host.prepare(cluster.remote(node), d, nemesis.host_env(d))

    on_all(cluster.all_remotes(), lambda r: one(r.name))


def deploy(
    cluster: Cluster, system: System, nemesis: Nemesis, tools: hostvenv.Bundle | None = None
) -> None:
    """Install, mount powerfs where the nemesis needs it (``tools``: its virtualenv's wheels,
    for a system without a Python of its own), start, wait until the cluster serves."""
    prepare_hosts(cluster, nemesis)
    on_all(cluster.all_remotes(), lambda r: system.install(cluster, r.name))
    if nemesis.powerfs:
        on_all(
            cluster.all_remotes(),
            lambda r: nemesis_power.mount_data(cluster, system, r.name, tools),
        )
    on_all(cluster.all_remotes(), lambda r: system.start(cluster, r.name))
    system.ready(cluster)


def collect(cluster: Cluster, system: System, run_dir: Path) -> None:
    """Stop every node and fetch its files; a host that fails is logged, never fatal."""

    def one(node: str) -> None:
        remote = cluster.remote(node)
        try:
            system.stop(cluster, node)
        except Exception as e:
            log.warning("%s: stop failed: %s", node, e)
        try:
            listing = remote.run_shell(
                'ls -1 -- "$@" 2>/dev/null',
                *system.log_files(cluster, node),
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


def unmount_all(cluster: Cluster) -> None:
    """Every node's powerfs mounts gone (the nodes are stopped); a host that fails is logged."""
    for node in cluster.nodes:
        try:
            nemesis_power.unmount_data(cluster, node)
        except Exception as e:
            log.warning("%s: cannot unmount powerfs: %s", node, e)


def drive(
    o: TestOptions,
    cluster: Cluster,
    system: System,
    workload: workloads.Workload,
    nemesis: Nemesis,
    history: HistoryWriter,
    interrupts: Interrupts,
    tools: hostvenv.Bundle | None = None,
) -> Outcome:
    """Deploy, then run the workload and the nemesis; the caller cleans up."""
    say(f"deploying to {', '.join(cluster.nodes)} over SSH")
    t = time.monotonic()
    deploy(cluster, system, nemesis, tools)
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
        local_reads=system.capabilities.local_reads,
        replicas=(
            (lambda key: system.replicas(cluster.nodes, key))
            if system.capabilities.replicas
            else None
        ),
        backlog=system.backlog if system.capabilities.backlog else None,
        counters=system.counters if system.capabilities.counters else None,
    )
    progress.start()
    try:
        return asyncio.run(runner.run())
    finally:
        progress.stop()
        interrupts.install()  # the event loop's handlers are gone with it
        if runner.interrupted:
            interrupts.count = 1


def run(o: TestOptions) -> RunResult:
    """A whole test; ``o`` is validated already (bad options are the CLI's 254)."""
    o = o.with_seed()
    parts = build_parts(o)
    system, workload, nemesis = parts.system, parts.workload, parts.nemesis
    provider = providers.build(o)
    run_dir = store.new_run_dir(Path(o.store), o.test_name())
    store.write_test(
        run_dir, o, provider=provider.name, single_value=system.capabilities.single_value
    )
    interrupts = Interrupts()
    interrupts.install()
    outcome: Outcome | None = None
    failure: BaseException | None = None
    say(f"run {run_dir} (seed {o.seed})")
    with logging_to(run_dir / store.HARNESS_LOG), tempfile.TemporaryDirectory() as tmp:
        history = HistoryWriter(run_dir / store.HISTORY, Clock())
        try:
            system.prepare(Path(tmp))
            tools = nemesis_power.prepare(system, Path(tmp)) if nemesis.powerfs else None
            say(f"{provider.name}: preparing hosts")
            with provider.session() as cluster:
                for r in cluster.remotes.values():
                    r.command_timeout = o.command_timeout
                control = cluster.discover_control_address()
                store.write_test(run_dir, o, hosts=cluster.addresses, control=control)
                try:
                    outcome = drive(
                        o, cluster, system, workload, nemesis, history, interrupts, tools
                    )
                finally:
                    interrupts.count = max(interrupts.count, 1)  # shield clean-up
                    say("stopping nodes, fetching logs")
                    collect(cluster, system, run_dir)
                    if nemesis.powerfs:
                        unmount_all(cluster)
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
        return RunResult(ExitCode.HARNESS_FAILED, run_dir)
    if interrupted:
        say(f"interrupted: cluster torn down; partial history kept in {run_dir / store.HISTORY}")
        raise KeyboardInterrupt  # the caller stops too (test-all's matrix); the CLI exits 2
    code = verdict.check(run_dir, o.expect)
    print(verdict.report(run_dir))
    if o.junit:
        from harness import junit

        junit.write([junit.from_run_dir(run_dir)], Path(o.junit))
    say(f"{run_dir}: exit {int(code)} ({code.name.lower()})")
    return RunResult(code, run_dir)
