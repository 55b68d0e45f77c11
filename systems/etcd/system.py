"""etcd as a ``System``: the members of ``systems.etcd.deploy`` and the JSON-gateway client,
on the seam (a set is one key per element under a prefix; a register is one key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from systems.base import REGISTER_OPS, SET_OPS, Capabilities
from systems.deployed import DeployedSystem
from systems.etcd.client import EtcdClient
from systems.etcd.deploy import EtcdConfig, EtcdDeployment
from systems.registry import dataclass_from


class EtcdSystem(DeployedSystem):
    name = "etcd"
    capabilities = Capabilities(
        operations=SET_OPS | REGISTER_OPS, host_env=True, data_dir=True, single_value=True
    )

    def __init__(self, config: EtcdConfig) -> None:
        self.config = config
        self.deployment = EtcdDeployment(config)

    def client(self, endpoint: str, timeout: float) -> EtcdClient:
        return EtcdClient(endpoint, timeout)


def configure(test: Any, options: Mapping[str, str]) -> EtcdSystem:
    config = dataclass_from(EtcdConfig, options, "etcd")
    config.validate(test.node_count if test.provider == "local" else None)
    return EtcdSystem(config)
