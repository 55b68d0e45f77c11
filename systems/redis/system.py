"""Redis with Sentinel as a ``System``: the deployment of ``systems.redis.deploy`` and the
Sentinel-following client, on the seam (set on SADD/SMEMBERS, register on SET/GET/DEL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from systems.base import REGISTER_OPS, SET_OPS, Capabilities, System
from systems.redis.client import RedisClient
from systems.redis.deploy import RedisConfig, RedisDeployment
from systems.registry import dataclass_from


class RedisSystem(System):
    name = "redis"
    capabilities = Capabilities(operations=SET_OPS | REGISTER_OPS, host_env=True)

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.deployment = RedisDeployment(config)

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

    def client(self, endpoint: str, timeout: float) -> RedisClient:
        return RedisClient(endpoint, timeout, wait=self.config.wait)


def configure(test: Any, options: Mapping[str, str]) -> RedisSystem:
    config = dataclass_from(RedisConfig, options, "redis")
    config.validate(test.node_count if test.provider == "local" else None)
    return RedisSystem(config)
