"""etcd 3.4 on the test's hosts: one member per node, a static initial cluster.

On each host everything lives in ``/var/lib/dynamo-harness/<cluster>/<node>/``::

    etcd.sh  etcd.pid  etcd.log  etcd.data/
    powerfs/  powerfs.log   under the power-loss fault (``nemesis.power``): etcd.data/ is a
                            powerfs mount over etcd.data.disk/

The data directory is wiped at install only: a member that was killed restarts from its own
log and snapshot, as after a crash. Election and heartbeat timeouts are short (the defaults
are 1000 / 100 ms) so that leader changes happen within a short run.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.cluster import Cluster
from systems import daemon

CLIENT_PORT = 2379
PEER_PORT = 2380
PACKAGES = ("etcd-server", "etcd-client")


@dataclass(frozen=True)
class EtcdConfig:
    """What a run may change of the deployment (``--system-option KEY=VALUE``)."""

    heartbeat_ms: int = 100
    election_ms: int = 1000
    start_timeout: float = 30.0

    def validate(self, nodes: int | None = None) -> None:
        if self.heartbeat_ms < 10:
            raise ValueError("heartbeat_ms must be >= 10")
        if self.election_ms < 5 * self.heartbeat_ms:
            raise ValueError("election_ms must be at least 5 times heartbeat_ms (etcd's own rule)")
        if nodes is not None and nodes not in (1, 3, 5, 7):
            raise ValueError(f"etcd runs here on 1, 3, 5 or 7 nodes, not {nodes}")


class EtcdDeployment:
    def __init__(self, config: EtcdConfig) -> None:
        self.config = config

    def dir(self, cluster: Cluster, node: str) -> str:
        return cluster.remote_dir(node)

    def data_dir(self, cluster: Cluster, node: str) -> str:
        """The member's ``--data-dir``: its WAL, snapshots and bbolt database."""
        return f"{self.dir(cluster, node)}/etcd.data"

    def argv(self, cluster: Cluster, node: str) -> list[str]:
        a, c = cluster.addresses[node], self.config
        initial = ",".join(f"{n}=http://{cluster.addresses[n]}:{PEER_PORT}" for n in cluster.nodes)
        return [
            "etcd",
            "--name",
            node,
            "--data-dir",
            self.data_dir(cluster, node),
            "--listen-peer-urls",
            f"http://{a}:{PEER_PORT}",
            "--initial-advertise-peer-urls",
            f"http://{a}:{PEER_PORT}",
            "--listen-client-urls",
            f"http://{a}:{CLIENT_PORT}",
            "--advertise-client-urls",
            f"http://{a}:{CLIENT_PORT}",
            "--initial-cluster",
            initial,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            f"dh-{cluster.name}",
            "--heartbeat-interval",
            str(c.heartbeat_ms),
            "--election-timeout",
            str(c.election_ms),
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
        ]

    def install(self, cluster: Cluster, node: str) -> None:
        remote, d = cluster.remote(node), self.dir(cluster, node)
        daemon.ensure_programs(remote, ("etcd", "etcdctl"), PACKAGES)
        daemon.stop(remote, d, ["etcd"], grace=5)
        remote.run(["mkdir", "-p", d])
        remote.run(["rm", "-rf", self.data_dir(cluster, node), f"{d}/etcd.log"])
        daemon.install(remote, d, "etcd", self.argv(cluster, node))

    def _etcdctl(self, cluster: Cluster, node: str, *command: str) -> list[str]:
        endpoint = f"http://{cluster.addresses[node]}:{CLIENT_PORT}"
        return ["env", "ETCDCTL_API=3", "etcdctl", "--endpoints", endpoint,
                "--command-timeout", "2s", *command]  # fmt: skip

    def start(self, cluster: Cluster, node: str) -> None:
        """Start the member and return once it serves clients (it needs no quorum for that)."""
        remote, d = cluster.remote(node), self.dir(cluster, node)
        daemon.start(remote, d, "etcd")
        probe = self._etcdctl(cluster, node, "endpoint", "status")
        daemon.wait_until(remote, d, "etcd", probe, self.config.start_timeout)

    def wait_healthy(self, cluster: Cluster, node: str) -> None:
        """Until the member answers a quorum read (the cluster has a leader it follows)."""
        remote, d = cluster.remote(node), self.dir(cluster, node)
        probe = self._etcdctl(cluster, node, "endpoint", "health")
        daemon.wait_until(remote, d, "etcd", probe, self.config.start_timeout)

    def kill(self, cluster: Cluster, node: str) -> None:
        daemon.signal(cluster.remote(node), self.dir(cluster, node), "etcd", "KILL")

    def pause(self, cluster: Cluster, node: str) -> None:
        daemon.signal(cluster.remote(node), self.dir(cluster, node), "etcd", "STOP")

    def resume(self, cluster: Cluster, node: str) -> None:
        daemon.signal(cluster.remote(node), self.dir(cluster, node), "etcd", "CONT")

    def stop(self, cluster: Cluster, node: str) -> None:
        daemon.stop(cluster.remote(node), self.dir(cluster, node), ["etcd"])

    def log_files(self, cluster: Cluster, node: str) -> list[str]:
        d = self.dir(cluster, node)
        return [f"{d}/etcd.log", f"{d}/etcd.sh", f"{d}/powerfs.log"]
