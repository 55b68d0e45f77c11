from __future__ import annotations

from collections.abc import Iterator

import pytest

from dynamo.cluster import LoopbackCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    """Five real node processes on loopback (N=3, R=2, W=2), shared by a module's tests."""
    with LoopbackCluster(
        tmp_path_factory.mktemp("cluster"), 5, node_args=["--request-timeout", "1.5"]
    ) as c:
        yield c


@pytest.fixture
def live(cluster: LoopbackCluster) -> Iterator[LoopbackCluster]:
    """The shared cluster, with every node a test killed started again afterwards."""
    yield cluster
    dead = [name for name, proc in cluster.procs.items() if proc.poll() is not None]
    if dead:
        cluster.start(dead)
