"""Power loss: ``power-off`` SIGKILLs nodes at one instant and drops every write their disks
had not synced; ``power-on`` starts them again.

``kill -9`` cannot show a node that acknowledges before its write is on disk: what the
process handed the kernel survives in the page cache. Here each node's data directory is a
powerfs mount (``nemesis.powerfs``: writes stay in the filesystem's memory until
``fsync``/``fdatasync`` or ``sync``), so a power-off loses exactly what a real power cut
loses. The nemesis SIGKILLs every target in parallel, then tells each target's mount to
``drop``; ``power-on`` drops again (a write the dying process had in flight may land after
the first drop), then starts the node.

Targets are sized as for ``kill`` (one, minority, majority, all) or ``replicas``: a node
(the run's rng picks it) is asked for the owners of a probe key (the system's
``preference_list``, as ``owners`` does) and every owner loses power at once — the one
fault that loses a key for good when its writes were acked before they were durable. A
system that names no owners (etcd, Redis: every node holds every key) has every node as
the replica set, so ``replicas`` is ``all`` there.

Mounting is the harness's part (``harness.run`` calls ``mount_data`` after install and
before the first start, and ``unmount_data`` after the nodes are stopped, on every exit):
a system opts in by declaring ``Capabilities.data_dir`` and naming the directory. powerfs
runs from a Python on the host: the system's own (``Capabilities.host_python``, as the
reference node's virtualenv) or, for a system with none (etcd, Redis), a virtualenv of the
project's wheels this module installs in ``<node dir>/powerfs/`` (``prepare`` builds the
wheels once a run; a host whose manifest matches installs nothing). Teardown starts every
node this powered off and did not start.
"""

from __future__ import annotations

import random
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemesis import targets as targeting
from nemesis.base import Bound, NemesisError, Op, each
from nemesis.owners import ask_owners
from nemesis.spec import POWER_TARGETS

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from harness.hostvenv import Bundle
    from nemesis.protocol import NemesisContext
    from systems.base import System

DISK = ".disk"
"""The backing directory of a node's mount: ``<data dir>.disk`` (what survives power loss)."""
LOG = "powerfs.log"
TOOLS = "powerfs"
"""The powerfs virtualenv's directory in a node's directory (``dist/``, ``venv/``), for a
system without ``Capabilities.host_python``."""
INSTALL_TIMEOUT = 600.0


def unmount_command(under: str) -> str:
    """Shell unmounting every powerfs mount at or under ``under`` (lazily if busy); never fails.

    A mount's server ends when its mount goes, so nothing is left running.
    """
    d = shlex.quote(under.rstrip("/"))
    return (
        f'awk -v d={d} \'$1 == "powerfs" && ($2 == d || index($2, d "/") == 1) '
        "{ print $2 }' /proc/self/mounts | sort -r | while read -r m; do "
        'fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true; '
        "done; true"
    )


def mount_command(python: str, data: str, node_dir: str) -> str:
    """Shell that makes ``data`` an empty powerfs mount over an empty ``<data>.disk``."""
    disk = shlex.quote(data + DISK)
    q = shlex.quote(data)
    log = shlex.quote(f"{node_dir}/{LOG}")
    return (
        f"{unmount_command(data)}; rm -rf {q} {disk} && mkdir -p {q} {disk} && "
        f"{shlex.quote(python)} -m nemesis.powerfs mount {disk} {q} --log {log}"
    )


def tools_dir(cluster: Cluster, node: str) -> str:
    return f"{cluster.remote_dir(node)}/{TOOLS}"


def host_python(system: System, cluster: Cluster, node: str) -> str:
    """The Python that runs ``nemesis.powerfs`` on ``node``: the system's, or ours."""
    if system.capabilities.host_python:
        return system.host_python(cluster, node)
    return f"{tools_dir(cluster, node)}/venv/bin/python"


def _system_paths(system: System, cluster: Cluster, node: str) -> tuple[str, str]:
    return system.data_dir(cluster, node), host_python(system, cluster, node)


def prepare(system: System, work: Path) -> Bundle | None:
    """The wheels of the powerfs virtualenv, built once a run in ``work`` on this machine;
    None when the system's hosts have a Python of their own for it."""
    if system.capabilities.host_python:
        return None
    from harness.hostvenv import Bundle  # not at the top: hosts import this module

    return Bundle.build(work / TOOLS)


def install_tools(cluster: Cluster, node: str, bundle: Bundle) -> None:
    """The powerfs virtualenv in ``<node dir>/powerfs/`` (nothing to do if it is current)."""
    from harness import hostvenv

    remote, d = cluster.remote(node), tools_dir(cluster, node)
    python = hostvenv.prepare_host(remote, d, INSTALL_TIMEOUT)
    probe = [f"{d}/venv/bin/python", "-c", "import mfusepy, nemesis.powerfs"]
    hostvenv.install(
        remote,
        d,
        bundle,
        python=python,
        extras=("powerfs",),
        probe=probe,
        timeout=INSTALL_TIMEOUT,
    )


def check_system(system: System) -> None:
    """``ValueError`` (a usage error) unless ``system`` can have its data put on powerfs."""
    if not system.capabilities.data_dir:
        raise ValueError(
            f"system {system.name} does not name its data directory (Capabilities.data_dir): "
            "the power nemesis cannot put it on powerfs"
        )


def mount_data(cluster: Cluster, system: System, node: str, tools: Bundle | None = None) -> None:
    """Put ``node``'s data directory on a fresh powerfs mount (before the node starts),
    installing the powerfs virtualenv from ``tools`` first (what ``prepare`` built)."""
    if tools is not None:
        install_tools(cluster, node, tools)
    data, python = _system_paths(system, cluster, node)
    r = cluster.remote(node).run_shell(
        mount_command(python, data, cluster.remote_dir(node)), timeout=60, check=False
    )
    if not r.ok:
        said = (r.stderr or r.stdout).strip()
        raise NemesisError(f"{node}: cannot mount powerfs at {data}: {said}")


def unmount_data(cluster: Cluster, node: str) -> None:
    """Unmount every powerfs mount in ``node``'s directory (the node must be stopped)."""
    cluster.remote(node).run_shell(
        unmount_command(cluster.remote_dir(node)), timeout=60, check=False
    )


class PowerNemesis(Bound):
    """``power-off`` of target-sized node sets (or a key's replica set), then ``power-on``."""

    name = "power"
    fs = frozenset({"power-off", "power-on"})
    powerfs = True

    def __init__(self, targets: Sequence[str] = POWER_TARGETS) -> None:
        super().__init__()
        self.targets = tuple(targets)
        self.pending: Op | None = None  # the power-off whose power-on is still to come
        self.names_owners = True  # the system says who owns a key (else: every node does)
        self.touched: set[str] = set()  # powered off and not started again

    def setup(self, ctx: NemesisContext) -> None:
        check_system(ctx.system)
        self.names_owners = ctx.system.capabilities.owners
        self.bind(ctx)

    def next_op(self, rng: random.Random) -> Op | None:
        if self.pending is not None:
            return self._undo()
        target = rng.choice(self.targets)
        value: dict[str, Any]
        if target == "replicas" and not self.names_owners:
            value = {"target": target, "nodes": sorted(self.nodes)}  # every node holds every key
        elif target == "replicas":
            if not self.nodes:
                return None
            key = f"power-probe-{rng.getrandbits(32):08x}"
            value = {"target": target, "key": key, "asked": rng.choice(self.nodes)}
        else:
            chosen = targeting.pick(target, self.nodes, rng)
            if not chosen:
                return None
            value = {"target": target, "nodes": chosen}
        self.pending = {"f": "power-off", "value": value}
        return dict(self.pending)

    def _undo(self) -> Op:
        assert self.pending is not None
        value = self.pending["value"]
        self.pending = None
        return {"f": "power-on", "value": {**value, "nodes": list(value.get("nodes", []))}}

    def invoke(self, op: Op) -> Op:
        f, value = op["f"], dict(op["value"])
        if f == "power-off":
            if "nodes" not in value:
                value["nodes"] = self._owners(value["key"], value["asked"])
            if self.pending is not None:
                self.pending = {"f": f, "value": value}
            self._power_off(value["nodes"])
            return {**op, "value": value}
        if f == "power-on":
            each(value.get("nodes", []), self._power_on)
            return op
        raise NemesisError(f"power: cannot do {f!r}")

    def heal_ops(self) -> list[Op]:
        return [self._undo()] if self.pending is not None else []

    def teardown(self) -> None:
        if self.ctx is not None:
            each(sorted(self.touched), self._power_on)

    def _power_off(self, nodes: Sequence[str]) -> None:
        system, cluster = self.context.system, self.cluster
        self.touched.update(nodes)
        each(nodes, lambda node: system.kill(cluster, node))  # every target, then the drops
        each(nodes, self._drop)

    def _power_on(self, node: str) -> None:
        system, cluster = self.context.system, self.cluster
        system.stop(cluster, node)  # a no-op after the kill; safe where a kill failed
        self._drop(node)
        system.start(cluster, node)
        self.touched.discard(node)

    def _drop(self, node: str) -> None:
        data, python = _system_paths(self.context.system, self.cluster, node)
        self.cluster.remote(node).run([python, "-m", "nemesis.powerfs", "drop", data], timeout=30)

    def _owners(self, key: str, asked: str) -> list[str]:
        return sorted(ask_owners(self.name, self.context.system, self.cluster, key, asked))
