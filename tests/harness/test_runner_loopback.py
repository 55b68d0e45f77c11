"""The runner and the workloads against real nodes on loopback: histories the checkers accept."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workloads
from checkers.history import load, validate
from checkers.nodes import COUNTERS, Hints, NodeCounters
from dynamo.cluster import LoopbackCluster
from harness import history
from harness.options import TestOptions
from harness.runner import Runner
from nemesis.protocol import NemesisContext, NoNemesis
from systems.dynamo import DynamoConfig, DynamoSystem
from systems.dynamo.client import DynamoClient

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackCluster]:
    with LoopbackCluster(tmp_path_factory.mktemp("loop"), 5) as c:
        yield c


def client(address: str, timeout: float) -> DynamoClient:
    return DynamoClient(address, timeout)


def run(
    tmp_path: Path, endpoints: dict[str, str], workload: str, nemesis: Any = None, **kw: Any
) -> list[dict[str, Any]]:
    kw = {"time_limit": 1.5, "rate": 300, "seed": 1, "settle": 0.2, **kw}
    o = TestOptions(workload=workload, **kw)
    w = history.HistoryWriter(tmp_path / "history.jsonl", history.Clock())
    system = DynamoSystem(DynamoConfig())
    runner = Runner(
        o,
        w,
        workloads.build(workload, o.keys),
        endpoints,
        client,
        nemesis or NoNemesis(),
        local_reads=True,
        replicas=lambda key: system.replicas(list(endpoints), key),
        backlog=system.backlog,
        counters=system.counters,
    )
    asyncio.run(runner.run())
    w.close()
    return load(tmp_path / "history.jsonl")


@pytest.mark.parametrize("workload", ["set", "register", "kv"])
def test_each_workload_writes_a_history_the_design_accepts(
    nodes: LoopbackCluster, tmp_path: Path, workload: str
) -> None:
    ops = run(tmp_path, nodes.addresses, workload)
    assert validate(ops) == []
    client_ops = [op for op in ops if isinstance(op["process"], int)]
    assert sum(op["type"] == "ok" for op in client_ops) > 100
    assert {op["node"] for op in client_ops} == set(nodes.addresses)  # round-robin binding
    finals = [op for op in client_ops if op.get("final")]
    assert finals and {op["node"] for op in finals} == set(nodes.addresses)
    local = [op for op in ops if op["process"] == "convergence" and op["type"] == "ok"]
    assert local and all(op["f"] == "read-local" for op in local)
    copies: dict[str, set[str]] = {}
    for op in local:  # only a key's replicas are sampled, and without faults they agree
        copies.setdefault(op["key"], set()).add(json.dumps(op["value"]))
    assert all(len(v) == 1 for v in copies.values()), copies


def test_set_final_reads_hold_every_acknowledged_add_without_faults(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    ops = run(tmp_path, nodes.addresses, "set")
    acked = {op["value"] for op in ops if op["f"] == "add" and op["type"] == "ok"}
    seen: set[int] = set()
    for op in ops:
        if op.get("final") and op["type"] == "ok":
            seen.update(op["value"])
    assert acked and acked <= seen


def test_register_writes_name_the_versions_they_supersede(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    ops = run(tmp_path, nodes.addresses, "register", keys=3)
    reads: dict[tuple[int, str], list[str]] = {}
    context_writes = 0
    for op in ops:
        if op["process"] in ("nemesis", "convergence") or op["type"] == "invoke":
            if op["type"] == "invoke" and op["f"] in ("write", "delete") and op["context"]:
                assert op["context"] == reads[(op["process"], op["key"])]
                context_writes += 1
            continue
        if op["f"] == "read" and op["type"] == "ok":
            assert op["value"] == op["context"]
            reads[(op["process"], op["key"])] = op["value"]
    assert context_writes > 0


def test_a_dead_node_gives_definite_failures_and_the_run_goes_on(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    endpoints = dict(nodes.addresses)
    endpoints["n6"] = "127.0.0.1:9"  # nothing listens: connection refused, never sent
    ops = run(tmp_path, endpoints, "register", concurrency=6, final_reads=False)
    assert validate(ops) == []
    dead = [op for op in ops if op.get("node") == "n6" and op["type"] != "invoke"]
    assert dead and all(op["type"] == "fail" and op["error"] for op in dead)
    assert any(op["type"] == "ok" for op in ops if op.get("node") == "n1")
    [report] = [op for op in ops if op["f"] == "node-counters"]
    assert set(report["value"]) == set(endpoints) and "error" in report["value"]["n6"]
    assert Hints().check(ops, {}).valid == "unknown"  # n6 could not be asked


def test_a_run_ends_with_each_nodes_counters_and_every_hint_accounted_for(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    ops = run(tmp_path, nodes.addresses, "set")
    assert validate(ops) == []
    [report] = [op for op in ops if op["f"] == "node-counters"]
    assert ops[-1] is report or ops[-1]["index"] == report["index"]  # the last op of the run
    assert set(report["value"]) == set(nodes.addresses)
    for counted in report["value"].values():
        assert set(COUNTERS) <= set(counted), counted
    assert NodeCounters().check(ops, {}).valid is True
    hints = Hints().check(ops, {})
    assert hints.valid is True and hints.details["vanished"] == [], hints.details


class Recording:
    """A nemesis that does nothing to the nodes and records the calls the runner makes."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def setup(self, ctx: NemesisContext) -> None:
        self.calls.append("setup")

    def next_op(self, rng: random.Random) -> dict[str, Any] | None:
        return {"f": "start-partition", "value": {"n1": ["n2"]}}

    def invoke(self, op: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(op["f"])
        return op

    def heal_ops(self) -> list[dict[str, Any]]:
        return [{"f": "stop-partition", "value": None}]

    def teardown(self) -> None:
        self.calls.append("teardown")


def test_nemesis_ops_share_the_clients_clock_and_teardown_follows_the_heal(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    nemesis = Recording()
    o = TestOptions(time_limit=1.2, nemesis_interval=0.5, seed=3, settle=0, final_reads=False)
    w = history.HistoryWriter(tmp_path / "history.jsonl", history.Clock())
    ctx = NemesisContext(None, None, random.Random(0))  # type: ignore[arg-type]
    runner = Runner(o, w, workloads.build("set"), nodes.addresses, client, nemesis, ctx)
    asyncio.run(runner.run())
    w.close()
    ops = load(tmp_path / "history.jsonl")
    assert validate(ops) == []
    faults = [op for op in ops if op["process"] == "nemesis"]
    assert [op["type"] for op in faults[:2]] == ["invoke", "info"]
    assert faults[-1]["f"] == "stop-partition"
    assert nemesis.calls[0] == "setup" and nemesis.calls[-2:] == ["stop-partition", "teardown"]
    times = [op["time"] for op in ops]
    assert times == sorted(times)


def test_a_worker_whose_op_ends_info_goes_on_under_a_new_process(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    nodes.signal("n1", signal.SIGSTOP)  # its clients time out: outcome unknown
    try:
        ops = run(tmp_path, nodes.addresses, "register", op_timeout=0.3, final_reads=False, keys=5)
    finally:
        nodes.signal("n1", signal.SIGCONT)
    assert validate(ops) == []  # includes: a process never invokes after an info
    infos = [op for op in ops if op.get("node") == "n1" and op["type"] == "info"]
    assert len(infos) >= 2
    n1_processes = {
        op["process"] for op in ops if op.get("node") == "n1" and isinstance(op["process"], int)
    }
    assert len(n1_processes) >= 2 and max(n1_processes) >= 10  # fresh ids past --concurrency


def test_settle_ends_when_no_node_owes_anything_not_at_its_limit(
    nodes: LoopbackCluster, tmp_path: Path
) -> None:
    t = time.monotonic()
    ops = run(tmp_path, nodes.addresses, "set", settle=60.0)
    assert time.monotonic() - t < 30  # 1.5 s of workload; a fault-free cluster owes nothing
    assert any(op.get("final") for op in ops)
