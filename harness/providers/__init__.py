"""Providers: where hosts come from. ``local`` (namespaces), ``ssh`` (given hosts), ``vagrant``.

Each yields a ``Cluster`` from ``session()``; all of them are then deployed to and faulted
the same way, over SSH.
"""

from __future__ import annotations

from harness.cluster import Provider
from harness.options import TestOptions
from harness.providers.local import LocalCluster, LocalProvider
from harness.providers.ssh import SshProvider, parse_nodes
from harness.providers.vagrant import VagrantProvider

__all__ = [
    "LocalCluster",
    "LocalProvider",
    "SshProvider",
    "VagrantProvider",
    "build",
    "local_cluster",
]


def local_cluster(o: TestOptions) -> LocalCluster:
    return LocalCluster(o.cluster, o.node_count, o.subnet)


def build(o: TestOptions) -> Provider:
    if o.provider == "local":
        return LocalProvider(local_cluster(o), connect_timeout=o.connect_timeout)
    if o.provider == "ssh":
        return SshProvider(
            o.cluster,
            parse_nodes(o.nodes, o.nodes_file),
            user=o.ssh_user,
            key_file=o.ssh_key,
            port=o.ssh_port,
            known_hosts=o.ssh_known_hosts,
            connect_timeout=o.connect_timeout,
        )
    if o.provider == "vagrant":
        return VagrantProvider(o.cluster, o.vagrant_dir, o.connect_timeout)
    raise ValueError(f"unknown provider {o.provider!r}")
