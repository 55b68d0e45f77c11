"""The fuzzer (``dynamo.fuzz``) against a real node process: structure-aware requests of
every op, and raw bytes, through real sockets. The node never fails on a request (no
``remote`` error, no missing reply), never dies, never saves an object or cluster state that
does not pass the schema, and its memory stays bounded. CI sends a few thousand frames;
``bench/fuzz_bench.py`` sends 100,000 and more."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamo import schema
from dynamo.cluster import LoopbackCluster
from dynamo.fuzz import Target, bad_stored, raw_frames, requests

pytestmark = pytest.mark.cluster

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NODE_ARGS = ["--n", "1", "--r", "1", "--w", "1", "--request-timeout", "0.1"]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    with LoopbackCluster(tmp_path_factory.mktemp("fuzz"), 1, node_args=NODE_ARGS) as c:
        yield c


def rss(cluster: LoopbackCluster) -> int:
    return int(psutil.Process(cluster.procs["n1"].pid).memory_info().rss)


def test_fuzzed_frames_never_crash_the_node_nor_get_saved(
    node: LoopbackCluster, tmp_path: Path
) -> None:
    address = node.addresses["n1"]
    target = Target(address)
    before = rss(node)

    @FUZZ
    @given(st.data())
    def fuzz_requests(data: st.DataObject) -> None:
        assert target.send(data.draw(st.lists(requests(address), min_size=1, max_size=24))) == []
        assert node.procs["n1"].poll() is None

    @FUZZ
    @given(raw_frames)
    def fuzz_bytes(data: bytes) -> None:
        assert target.send_raw(data) == []
        assert node.procs["n1"].poll() is None

    for _ in range(8):  # hypothesis draws short lists as often as long ones
        fuzz_requests()
        if target.tally.frames >= 2500:
            break
    fuzz_bytes()
    target.close()
    tally = target.tally
    assert tally.crashes == []
    assert tally.frames >= 2000
    assert set(tally.ops) >= set(schema.OPS)  # every op was sent
    assert tally.answers["ok"] > 0 and tally.answers["bad_request"] > 0
    assert rss(node) - before < 64 * 1024 * 1024
    assert node.client("n1").ping()
    node.stop()
    assert bad_stored(node.data_dir / "n1") == []
