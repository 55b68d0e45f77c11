"""The runner's anti-entropy phase against real nodes on loopback: replicas that missed
writes agree again with no client traffic when anti-entropy works, and the checker says
invalid when it does not (a node with anti-entropy off: the broken build it must catch)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from checkers import AntiEntropyConvergence
from checkers.history import load, validate
from dynamo.cluster import LoopbackCluster
from harness import history
from harness.options import TestOptions
from harness.runner import Runner
from nemesis.protocol import NoNemesis
from systems.dynamo.client import DynamoClient
from workloads.base import Op, WorkerState
from workloads.sets import SetWorkload

pytestmark = pytest.mark.cluster

KEYS = [f"s{i}" for i in range(12)]


class Quiet(SetWorkload):
    """Final keys are the diverged ones; the workers only ever read another key, so no
    read repair touches what anti-entropy must mend."""

    def __init__(self) -> None:
        super().__init__(0)
        self.keys = list(KEYS)

    def next_op(self, rng: random.Random, state: WorkerState) -> Op:
        return {"f": "read", "key": "elsewhere", "value": None}


@contextmanager
def diverged_cluster(tmp_path: Path, interval: str) -> Iterator[LoopbackCluster]:
    """Three nodes, N=3 W=2, strict quorum (no fallbacks, so no hints): n3 down while
    every key is written, then back — n3 lacks every key until something repairs it."""
    args = ["--n", "3", "--r", "2", "--w", "2", "--strict-quorum"]
    with LoopbackCluster(
        tmp_path, 3, node_args=[*args, "--anti-entropy-interval", interval]
    ) as c:  # started once here, every node stopped on the way out
        _diverge(c)
        yield c


def _diverge(c: LoopbackCluster) -> None:
    c.kill("n3")
    with c.client("n1") as client:
        for i, key in enumerate(KEYS):
            client.put(key, json.dumps([i]).encode())
    c.start(["n3"])
    for name in ("n1", "n2"):  # both see n3 up again, so anti-entropy may pick it
        with c.client(name) as client:
            deadline = time.monotonic() + 15
            while not _sees_up(client.status(), "n3") and time.monotonic() < deadline:
                time.sleep(0.1)


def _sees_up(status: dict[str, Any], name: str) -> bool:
    members = status.get("members")
    if isinstance(members, dict):
        return bool(members.get(name, {}).get("up"))
    return any(m.get("name") == name and m.get("up") for m in members or [])


def run(tmp_path: Path, c: LoopbackCluster, bound: float) -> list[dict[str, Any]]:
    o = TestOptions(
        workload="set",
        time_limit=0.3,
        rate=20,
        concurrency=1,
        seed=1,
        settle=0,
        final_reads=False,
        anti_entropy_bound=bound,
    )
    w = history.HistoryWriter(tmp_path / "history.jsonl", history.Clock())
    runner = Runner(
        o,
        w,
        Quiet(),
        c.addresses,
        DynamoClient,
        NoNemesis(),
        local_reads=True,  # N=3 of 3 nodes: every node holds every key
    )
    asyncio.run(runner.run())
    w.close()
    return load(tmp_path / "history.jsonl")


def test_replicas_that_missed_writes_agree_again_with_no_client_traffic(tmp_path: Path) -> None:
    with diverged_cluster(tmp_path / "nodes", "0.2") as c:
        ops = run(tmp_path, c, bound=30)
    assert validate(ops) == []
    result = AntiEntropyConvergence().check(ops, {})
    assert result.details["diverged_at_start"] > 0  # anti-entropy had work of its own
    assert result.valid is True, result.details
    assert result.details["rounds"] >= 2


def test_a_node_without_anti_entropy_stays_diverged_and_the_checker_says_invalid(
    tmp_path: Path,
) -> None:
    with diverged_cluster(tmp_path / "nodes", "0") as c:
        ops = run(tmp_path, c, bound=3)
    result = AntiEntropyConvergence().check(ops, {})
    assert result.valid is False
    assert result.details["diverged"] == sorted(KEYS)
