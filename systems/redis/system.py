"""Redis with Sentinel as a ``System``: the deployment of ``systems.redis.deploy`` and the
Sentinel-following client, on the seam (set on SADD/SMEMBERS, register on SET/GET/DEL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from systems.base import REGISTER_OPS, SET_OPS, Capabilities
from systems.deployed import DeployedSystem
from systems.redis.client import RedisClient
from systems.redis.deploy import RedisConfig, RedisDeployment
from systems.registry import dataclass_from


class RedisSystem(DeployedSystem):
    name = "redis"
    capabilities = Capabilities(
        operations=SET_OPS | REGISTER_OPS, host_env=True, data_dir=True, single_value=True
    )

    def __init__(self, config: RedisConfig) -> None:
        self.config = config
        self.deployment = RedisDeployment(config)

    def client(self, endpoint: str, timeout: float) -> RedisClient:
        return RedisClient(endpoint, timeout, wait=self.config.wait)


def configure(test: Any, options: Mapping[str, str]) -> RedisSystem:
    config = dataclass_from(RedisConfig, options, "redis")
    config.validate(test.node_count if test.provider == "local" else None)
    return RedisSystem(config)
