"""A ``System`` whose every host verb is its deployment's: the shape of the Redis and etcd
adapters (``systems.daemon`` deployments), so each adapter says only what differs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from systems.base import System


class DeployedSystem(System):
    """Verbs delegated to ``self.deployment`` (install, start, wait_healthy, stop, kill,
    pause, resume, log_files, and data_dir for an adapter declaring it); endpoints are the
    hosts' addresses."""

    deployment: Any

    def prepare(self, work: Path) -> None:
        pass

    def install(self, cluster: Cluster, node: str) -> None:
        self.deployment.install(cluster, node)

    def start(self, cluster: Cluster, node: str) -> None:
        self.deployment.start(cluster, node)

    def ready(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            self.deployment.wait_healthy(cluster, node)

    def stop(self, cluster: Cluster, node: str) -> None:
        self.deployment.stop(cluster, node)

    def kill(self, cluster: Cluster, node: str) -> None:
        self.deployment.kill(cluster, node)

    def pause(self, cluster: Cluster, node: str) -> None:
        self.deployment.pause(cluster, node)

    def resume(self, cluster: Cluster, node: str) -> None:
        self.deployment.resume(cluster, node)

    def log_files(self, cluster: Cluster, node: str) -> Sequence[str]:
        return list(self.deployment.log_files(cluster, node))

    def endpoint(self, cluster: Cluster, node: str) -> str:
        return cluster.addresses[node]

    def data_dir(self, cluster: Cluster, node: str) -> str:
        return str(self.deployment.data_dir(cluster, node))
