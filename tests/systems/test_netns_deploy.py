"""Redis+Sentinel and etcd deployed on namespace hosts: they start, become healthy, survive a
kill and restart of one node, stop, and leave no process behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from harness import netns
from harness.cluster import Cluster
from harness.providers import LocalProvider
from harness.providers.local import LocalCluster
from harness.remote import on_all
from systems.etcd.client import EtcdClient
from systems.etcd.deploy import EtcdConfig, EtcdDeployment
from systems.redis.client import RedisClient
from systems.redis.deploy import RedisConfig, RedisDeployment

pytestmark = pytest.mark.netns

NAME = "pytsys"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    local = LocalCluster(NAME, 3)
    local.down()
    with LocalProvider(local).session() as c:
        yield c
    assert local.ours() == []
    assert netns.processes_under(f"{local.base}/") == []


def everywhere(cluster: Cluster, verb: object) -> None:
    on_all(cluster.all_remotes(), lambda r: verb(cluster, r.name))  # type: ignore[operator]


def left(cluster: Cluster) -> list[str]:
    """Processes of this cluster's nodes besides sshd (the namespaces share one pid space)."""
    out = cluster.remote("n1").run(["pgrep", "-a", "-f", f"/{cluster.name}/n"], check=False).stdout
    return [ln for ln in out.splitlines() if "sshd" not in ln and "pgrep" not in ln]


SYSTEMS = {
    "redis": (lambda: RedisDeployment(RedisConfig()), RedisClient),
    "etcd": (lambda: EtcdDeployment(EtcdConfig()), EtcdClient),
}


@pytest.mark.parametrize("system", SYSTEMS)
def test_deployed_system_is_healthy_survives_a_kill_and_stops_clean(
    cluster: Cluster, system: str
) -> None:
    make, client = SYSTEMS[system]
    dep = make()
    everywhere(cluster, dep.install)
    everywhere(cluster, dep.start)
    everywhere(cluster, dep.wait_healthy)

    async def add_and_read(node: str, element: int) -> set[int]:
        c = client(cluster.addresses[node], 2.0)
        try:
            await c.add("s0", element)
            return await c.read_set("s0")
        finally:
            await c.close()

    assert asyncio.run(add_and_read("n3", 1)) == {1}
    dep.kill(cluster, "n2")
    dep.start(cluster, "n2")
    dep.wait_healthy(cluster, "n2")
    assert asyncio.run(add_and_read("n2", 2)) == {1, 2}
    everywhere(cluster, dep.stop)
    assert left(cluster) == []


def test_a_remote_argument_with_spaces_and_a_semicolon_stays_one_argument(
    cluster: Cluster,
) -> None:
    """Over the real SSH path: the file is made under its odd name and nothing else runs
    (a shell reading the name would make ``dh-canary`` in the login directory)."""
    remote, d = cluster.remote("n1"), cluster.remote_dir("n1")
    name = "odd name; touch dh-canary"
    remote.run(["mkdir", "-p", d])
    remote.run(["touch", f"{d}/{name}"])
    assert remote.run(["test", "-f", f"{d}/{name}"], check=False).ok
    assert not remote.run(["test", "-e", "dh-canary"], check=False).ok
    listed = remote.run_shell('ls -1 "$1" | grep -F -x -- "$2"', d, name)
    assert listed.stdout.strip() == name
    remote.run(["rm", "-f", f"{d}/{name}"])
