"""The vagrant provider: the VMs of ``vagrant/Vagrantfile``, reached as ``vagrant ssh-config`` says.

SSH goes where Vagrant forwards it; nodes listen on their private-network addresses, which
the Vagrantfile and this provider both read from ``vagrant/nodes.json``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.cluster import Cluster, iter_blocks
from harness.remote import Host


def hosts_from_ssh_config(text: str, names: list[str], connect_timeout: float) -> list[Host]:
    blocks = dict(iter_blocks(text))
    hosts = []
    for name in names:
        if name not in blocks:
            raise ValueError(f"vagrant ssh-config has no host {name}; is it up?")
        b = blocks[name]
        hosts.append(
            Host(
                name=name,
                address=b.get("hostname", "127.0.0.1"),
                port=int(b.get("port", "22")),
                user="root",
                key_file=Path(b["identityfile"]) if "identityfile" in b else None,
                connect_timeout=connect_timeout,
            )
        )
    return hosts


class VagrantProvider:
    name = "vagrant"

    def __init__(self, cluster: str, vagrant_dir: str, connect_timeout: float = 10.0) -> None:
        self.cluster_name = cluster
        self.dir = Path(vagrant_dir)
        self.connect_timeout = connect_timeout

    def layout(self) -> dict[str, str]:
        return dict(json.loads((self.dir / "nodes.json").read_text())["nodes"])

    @contextmanager
    def session(self) -> Iterator[Cluster]:
        if shutil.which("vagrant") is None:
            raise RuntimeError("the vagrant provider needs the vagrant command")
        addresses = self.layout()
        r = subprocess.run(
            ["vagrant", "ssh-config", *addresses],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if r.returncode != 0:
            raise RuntimeError(f"vagrant ssh-config failed: {r.stderr.strip()}")
        hosts = hosts_from_ssh_config(r.stdout, list(addresses), self.connect_timeout)
        # The provisioner lets root log in with the key Vagrant made for the "vagrant" user.
        cluster = Cluster(self.cluster_name, hosts, addresses)
        try:
            yield cluster
        finally:
            cluster.close()
