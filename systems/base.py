"""The system-under-test seam, as Jepsen's DB and Client are: a ``System`` of a few verbs, a
client speaking abstract operations, and capabilities the system declares.

The harness knows a system only through this module. An adapter is found by name in the
``dynamo_harness.systems`` entry-point group (``systems.registry``); the entry point names a
callable ``factory(test_options, system_options) -> System`` that validates its options and
touches no host (a ``ValueError`` is the user's error: exit 254, before anything is deployed).

Operations (``Capabilities.operations``) a client may implement:

``add(key, element)`` / ``read_set(key) -> set[int]``
    a set of integers (the ``set`` workload)
``read(key) -> ReadResult`` / ``write(key, value, context)`` / ``delete(key, context)``
    a register (``register`` and ``kv``); ``context`` is what the last read returned, for
    stores that version values (None elsewhere)

A call that certainly had no effect raises ``systems.errors.Definite`` (a ``fail`` in the
history); one whose effect is unknown raises ``Indefinite`` or times out (an ``info``). The
system classifies: only it knows which of its errors are definite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.cluster import Cluster

SET_OPS = frozenset({"add", "read_set"})
REGISTER_OPS = frozenset({"read", "write", "delete"})


@dataclass(frozen=True)
class ReadResult:
    """A register read: every value the store returned (siblings, or one, or none)."""

    values: list[str]
    context: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a system can do beyond the verbs every system has; declared, never sniffed."""

    operations: frozenset[str]
    """The abstract operations its client implements."""
    local_reads: bool = False
    """Reads take ``local=True``: one node's own copy, for convergence checks."""
    backlog: bool = False
    """``System.backlog`` answers: the harness settles until no node owes work."""
    replicas: bool = False
    """``System.replicas`` answers: convergence samples only a key's replicas."""
    owners: bool = False
    """``System.preference_list`` answers: a node names a key's owners (the ``owners`` fault
    and ``power:replicas`` cut exactly them). Without it every node holds every key."""
    host_env: bool = False
    """Its processes start with ``<node dir>/node.env`` exported (clock faults need it)."""
    counters: bool = False
    """``System.counters`` answers: what each node counted about itself (hints stored,
    delivered, failed, dropped; read repairs; anti-entropy repairs; tombstones reaped)."""
    single_value: bool = False
    """A register holds one value, and a later write replaces it whatever context it
    carries (etcd, Redis); the register checker then takes a write as lost only when no
    write that may have followed it is in the final state (``checkers.causal``)."""
    data_dir: bool = False
    """``System.data_dir`` answers: the power-loss fault mounts powerfs over the node's data
    directory before the node first starts (``nemesis.power``)."""
    host_python: bool = False
    """``System.host_python`` answers: the node's hosts already have a Python that runs
    ``nemesis.powerfs``. Without it the power-loss fault installs its own (``nemesis.power``
    puts a small virtualenv of the project's wheels in ``<node dir>/powerfs/``)."""


class Client(Protocol):
    """A client bound to one node; it implements the operations its system declares."""

    async def close(self) -> None: ...


class System(Protocol):
    """One system under test. Verbs act on one host; ``ready`` once on the whole cluster.

    Adapters may subclass this class to inherit the defaults of the optional verbs.
    """

    name: str
    capabilities: Capabilities

    def prepare(self, work: Path) -> None:
        """Build what every host will install (wheels, configuration), on this machine."""

    def install(self, cluster: Cluster, node: str) -> None:
        """Put the software, its configuration and a clean data directory on the host."""

    def start(self, cluster: Cluster, node: str) -> None:
        """Start the node as a daemon and return once it answers."""

    def ready(self, cluster: Cluster) -> None:
        """After every node started: wait until the cluster serves, learn what it reports."""

    def stop(self, cluster: Cluster, node: str) -> None:
        """Stop the node gracefully; a node that is not running is no error."""

    def kill(self, cluster: Cluster, node: str) -> None:
        """SIGKILL the node: a crash."""

    def pause(self, cluster: Cluster, node: str) -> None:
        """SIGSTOP the node."""

    def resume(self, cluster: Cluster, node: str) -> None:
        """SIGCONT the node."""

    def log_files(self, cluster: Cluster, node: str) -> Sequence[str]:
        """Remote paths worth keeping in ``store/<run>/nodes/<node>/``."""
        return []

    def endpoint(self, cluster: Cluster, node: str) -> str:
        """What ``client`` needs to reach the node (``host:port``, or a host)."""

    def client(self, endpoint: str, timeout: float) -> Client:
        """A client bound to the node at ``endpoint``."""

    async def backlog(self, endpoint: str) -> int | None:
        """Work the node still owes others (hints, transfers); None: unknown."""
        return None

    def replicas(self, nodes: Sequence[str], key: str) -> list[str] | None:
        """The nodes that should hold ``key`` (None: unknown, sample every node)."""
        return None

    async def counters(self, endpoint: str) -> Mapping[str, Any]:
        """The node's own counters (``checkers.nodes.COUNTERS`` names the ones checked);
        raises when the node does not answer."""
        raise NotImplementedError

    def data_dir(self, cluster: Cluster, node: str) -> str:
        """The remote directory holding everything the node keeps durable. The system must
        not remove the directory itself after ``install`` (it may be a mount point)."""
        raise NotImplementedError

    def host_python(self, cluster: Cluster, node: str) -> str:
        """A Python on the host that imports ``nemesis.powerfs`` and ``mfusepy`` (only with
        ``Capabilities.host_python``)."""
        raise NotImplementedError


def missing_operations(capabilities: Capabilities, needed: frozenset[str]) -> list[str]:
    return sorted(needed - capabilities.operations)
