"""The system under test, as Jepsen's DB and Client protocols are.

The runner, nemeses and checkers know a system only through this protocol: how to install
and start it on a host, how to kill, pause and resume it, which files to fetch, and a client
for one node. ``harness.dynamo_system.DynamoSystem`` is the first implementation; another
store plugs in by implementing these verbs (and a client with the ``SystemClient`` calls the
workloads use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from harness.cluster import Cluster


class SystemClient(Protocol):
    """The calls workloads make; ``dynamo.client.AsyncClient`` is one."""

    async def get(self, key: str, *, r: int | None = None) -> object: ...

    async def put(
        self, key: str, value: bytes | str, context: str | None = None, *, w: int | None = None
    ) -> object: ...

    async def delete(self, key: str, context: str | None, *, w: int | None = None) -> object: ...

    async def close(self) -> None: ...


class System(Protocol):
    name: str

    def install(self, cluster: Cluster, node: str) -> None:
        """Put the software, its configuration and a clean data directory on the host."""

    def start(self, cluster: Cluster, node: str) -> None:
        """Start the node as a daemon and return once it answers."""

    def stop(self, cluster: Cluster, node: str) -> None:
        """Stop the node gracefully (SIGTERM, then SIGKILL after a grace period)."""

    def kill(self, cluster: Cluster, node: str) -> None:
        """SIGKILL the node: a crash."""

    def pause(self, cluster: Cluster, node: str) -> None:
        """SIGSTOP the node."""

    def resume(self, cluster: Cluster, node: str) -> None:
        """SIGCONT the node."""

    def log_files(self, cluster: Cluster, node: str) -> Sequence[str]:
        """Remote paths worth keeping in ``store/<run>/nodes/<node>/``."""

    def client(self, address: str, timeout: float) -> SystemClient:
        """A client bound to the one node listening at ``address`` (no fail-over)."""

    def endpoint(self, cluster: Cluster, node: str) -> str:
        """``host:port`` where the node serves clients."""

    def supports_local_reads(self) -> bool:
        """Whether clients can read one node's replica alone (for convergence checks)."""

    async def backlog(self, address: str) -> int | None:
        """Work the node at ``address`` still owes others (hints, transfers); None: unknown."""

    def replicas(self, nodes: Sequence[str], key: str) -> list[str] | None:
        """The nodes that should hold ``key`` (None: unknown, sample every node)."""
