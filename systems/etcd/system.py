"""etcd as a ``System``: the members of ``systems.etcd.deploy`` and the JSON-gateway client,
on the seam (a set is one key per element under a prefix; a register is one key)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from systems.base import REGISTER_OPS, SET_OPS, Capabilities, System
from systems.etcd.client import EtcdClient
from systems.etcd.deploy import EtcdConfig, EtcdDeployment
from systems.registry import dataclass_from


class EtcdSystem(System):
    name = "etcd"
    capabilities = Capabilities(operations=SET_OPS | REGISTER_OPS, host_env=True)

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self.deployment = EtcdDeployment(config)

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
        return self.deployment.log_files(cluster, node)

    def endpoint(self, cluster: Cluster, node: str) -> str:
        return cluster.addresses[node]

    def client(self, endpoint: str, timeout: float) -> EtcdClient:
        return EtcdClient(endpoint, timeout)


def configure(test: Any, options: Mapping[str, str]) -> EtcdSystem:
    config = dataclass_from(EtcdConfig, options, "etcd")
    config.validate(test.node_count if test.provider == "local" else None)
    return EtcdSystem(config)
