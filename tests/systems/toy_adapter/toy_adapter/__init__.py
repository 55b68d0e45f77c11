"""A toy system for dynamo-harness, installed from its own package (docs/systems.md).

Each node runs a placeholder daemon (``sleep``) so every process fault has a process to
act on; the client keeps registers in this process's memory, so it is a register no fault
can break. It implements the register operations only: the set workload is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster import Cluster
from systems import daemon
from systems.base import REGISTER_OPS, Capabilities, ReadResult, System
from systems.errors import Definite
from systems.registry import dataclass_from

_REGISTERS: dict[str, str] = {}


@dataclass(frozen=True)
class ToyOptions:
    lifetime: int = 3600  # seconds the placeholder daemon lives
    refuse_writes: bool = False  # every write fails, certainly without effect

    def validate(self) -> None:
        if self.lifetime < 1:
            raise ValueError("lifetime must be >= 1")


class ToyClient:
    def __init__(self, options: ToyOptions) -> None:
        self.options = options

    async def read(self, key: str) -> ReadResult:
        value = _REGISTERS.get(key)
        return ReadResult([] if value is None else [value])

    async def write(self, key: str, value: str, context: str | None = None) -> None:
        if self.options.refuse_writes:
            raise Definite("refused")
        _REGISTERS[key] = value

    async def delete(self, key: str, context: str | None = None) -> None:
        _REGISTERS.pop(key, None)

    async def close(self) -> None:
        pass


class ToySystem(System):
    name = "toy"
    capabilities = Capabilities(operations=REGISTER_OPS)

    def __init__(self, options: ToyOptions) -> None:
        self.options = options

    def prepare(self, work: Path) -> None:
        pass

    def install(self, cluster: Cluster, node: str) -> None:
        d = cluster.remote_dir(node)
        daemon.install(cluster.remote(node), d, "toy", ["sleep", str(self.options.lifetime)])

    def start(self, cluster: Cluster, node: str) -> None:
        daemon.start(cluster.remote(node), cluster.remote_dir(node), "toy")

    def ready(self, cluster: Cluster) -> None:
        pass

    def stop(self, cluster: Cluster, node: str) -> None:
        daemon.stop(cluster.remote(node), cluster.remote_dir(node), ["toy"])

    def kill(self, cluster: Cluster, node: str) -> None:
        daemon.signal(cluster.remote(node), cluster.remote_dir(node), "toy", "KILL")

    def pause(self, cluster: Cluster, node: str) -> None:
        daemon.signal(cluster.remote(node), cluster.remote_dir(node), "toy", "STOP")

    def resume(self, cluster: Cluster, node: str) -> None:
        daemon.signal(cluster.remote(node), cluster.remote_dir(node), "toy", "CONT")

    def log_files(self, cluster: Cluster, node: str) -> Sequence[str]:
        return [f"{cluster.remote_dir(node)}/toy.log"]

    def endpoint(self, cluster: Cluster, node: str) -> str:
        return cluster.addresses[node]

    def client(self, endpoint: str, timeout: float) -> ToyClient:
        return ToyClient(self.options)


def configure(test: Any, options: Mapping[str, str]) -> ToySystem:
    """The entry point: validate ``--system-option``s, touch no host."""
    parsed = dataclass_from(ToyOptions, options, "toy")
    parsed.validate()
    return ToySystem(parsed)
