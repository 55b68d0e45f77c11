"""The ssh provider: hosts that already exist (VMs, machines, or ``harness cluster up`` hosts).

Nodes are named n1…nN in the order given; each listens on the address it is reached at.
The harness runs where it can reach them (for namespace hosts: inside the control
namespace, ``ip netns exec dh-<cluster>-ctl harness run --provider ssh …``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.cluster import Cluster
from harness.remote import Host


def parse_nodes(nodes: str | None, nodes_file: str | None) -> list[str]:
    found: list[str] = []
    if nodes:
        found += [n.strip() for n in nodes.split(",") if n.strip()]
    if nodes_file:
        text = Path(nodes_file).read_text()
        found += [ln.split("#")[0].strip() for ln in text.splitlines() if ln.split("#")[0].strip()]
    if not found:
        raise ValueError("no hosts given")
    if len(set(found)) != len(found):
        raise ValueError(f"a host is listed twice: {found}")
    return found


class SshProvider:
    name = "ssh"

    def __init__(
        self,
        cluster: str,
        addresses: list[str],
        *,
        user: str = "root",
        key_file: str | None = None,
        port: int = 22,
        known_hosts: str | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.cluster_name = cluster
        self.hosts = [
            Host(
                name=f"n{i}",
                address=addr,
                port=port,
                user=user,
                key_file=Path(key_file) if key_file else None,
                known_hosts=Path(known_hosts) if known_hosts else None,
                connect_timeout=connect_timeout,
            )
            for i, addr in enumerate(addresses, 1)
        ]

    @contextmanager
    def session(self) -> Iterator[Cluster]:
        cluster = Cluster(self.cluster_name, self.hosts, {h.name: h.address for h in self.hosts})
        try:
            yield cluster
        finally:
            cluster.close()
