"""One schedule played on a simulated cluster, its history recorded, its invariants checked.

The run: start the nodes; play the steps (client processes run their ops one at a time,
faults happen at their times); when the steps are done, heal every fault and restart every
node; then let the cluster settle with no client traffic — hand-off, gossip and anti-entropy
alone — until every replica of every key agrees (or ``SETTLE_BOUND`` passes); then read
every key from every node (the final reads). The history has the design's format
(``/work/shared/design.md``), so ``checkers/`` reads it as it reads a real run's.

Everything random comes from the seed: the network's draws, each node's, each disk's. A run
is a function of ``(seed, schedule, mutant)``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from dynamo.errors import DynamoError
from dynamo.versions import VersionedObject, decode_context, descends
from tests.sim import loop as simloop
from tests.sim.cluster import Cluster, ErrorLog, Settings
from tests.sim.invariants import Violation, check_all
from tests.sim.network import Network
from tests.sim.schedule import Schedule, Step

CLIENT_TIMEOUT = 5.0
SETTLE_BOUND = 60.0
"""Seconds of virtual time the cluster gets, after the faults stop, to agree everywhere."""
SETTLE_POLL = 0.5


@dataclass
class Outcome:
    """What one run found and what it cost."""

    seed: int
    schedule: Schedule
    history: list[dict[str, Any]]
    violations: list[Violation]
    checked: dict[str, int]
    virtual_time: float = 0.0
    settle_time: float | None = None
    messages: int = 0
    stray_copies: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class _Process:
    """A client worker: its current history id and the contexts it last read, per key."""

    logical: int
    id: int
    contexts: dict[str, tuple[str, list[int]]] = field(default_factory=dict)


class Run:
    def __init__(self, schedule: Schedule, seed: int, settings: Settings | None = None) -> None:
        self.schedule = schedule
        self.seed = seed
        self.settings = settings or Settings()
        self.network = Network(random.Random(f"net:{seed}"))
        self.cluster = Cluster(
            list(schedule.nodes), seed, self.settings, self.network, on_unhint=self._unhinted
        )
        self.history: list[dict[str, Any]] = []
        self.violations: list[Violation] = []
        self.checked: dict[str, int] = {}
        self.partition: dict[str, set[str]] = {}
        self.links: set[tuple[str, str]] = set()
        self.next_value = 0
        self.next_process = schedule.processes
        self.background: list[asyncio.Task[Any]] = []
        self.settle_time: float | None = None
        self.virtual_time = 0.0

    # --- the history -----------------------------------------------------------------------

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def record(self, op: dict[str, Any]) -> dict[str, Any]:
        op = {"index": len(self.history), "time": int(self.now() * 1e9), **op}
        self.history.append(op)
        return op

    def violation(self, invariant: str, detail: str) -> None:
        self.violations.append(Violation(invariant, detail, round(self.now(), 6)))

    def count(self, invariant: str, n: int = 1) -> None:
        self.checked[invariant] = self.checked.get(invariant, 0) + n

    # --- the whole run ---------------------------------------------------------------------

    async def main(self) -> None:
        for name in self.schedule.nodes:
            await self.cluster.start(name)
        procs = [_Process(p, p) for p in range(self.schedule.processes)]
        client_steps: dict[int, list[Step]] = {p: [] for p in range(self.schedule.processes)}
        faults: list[Step] = []
        for step in self.schedule.steps:
            if step.kind in ("read", "write", "delete"):
                client_steps[step.args[0] % self.schedule.processes].append(step)
            else:
                faults.append(step)
        workers = [asyncio.ensure_future(self.client(procs[p], s)) for p, s in client_steps.items()]
        for step in faults:
            await self.sleep_until(step.at)
            await self.fault(step)
        await asyncio.gather(*workers)
        await self.heal_all()
        await self.settle()
        await self.final_reads()
        for task in self.background:
            task.cancel()

    async def sleep_until(self, at: float) -> None:
        delay = at - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    # --- clients ---------------------------------------------------------------------------

    async def client(self, proc: _Process, steps: list[Step]) -> None:
        for step in steps:
            await self.sleep_until(step.at)
            _, key, via = step.args[:3]
            if step.kind == "read":
                await self.read(proc, key, via)
            elif step.kind == "write":
                await self.write(proc, key, via, with_context=bool(step.args[3]))
            elif proc.contexts.get(key) is not None:  # a delete needs something read
                await self.write(proc, key, via, with_context=True, delete=True)

    async def request(self, via: str, msg: dict[str, Any]) -> dict[str, Any]:
        return await self.network.request(None, via, msg, CLIENT_TIMEOUT)

    async def read(self, proc: _Process, key: str, via: str, *, final: bool = False) -> None:
        extra = {"final": True} if final else {}
        self.record({"type": "invoke", "process": proc.id, "f": "read", "key": key,
                     "value": None, "node": via, **extra})  # fmt: skip
        try:
            reply = await self.request(via, {"op": "get", "key": key})
        except DynamoError as exc:
            self.record({"type": "fail", "process": proc.id, "f": "read", "key": key,
                         "value": None, "node": via, "error": str(exc)})  # fmt: skip
            return
        ids = sorted(int(v) for v in reply["values"])
        proc.contexts[key] = (reply["context"], ids)
        self.record({"type": "ok", "process": proc.id, "f": "read", "key": key, "value": ids,
                     "context": ids, "node": via, **extra})  # fmt: skip

    async def write(
        self, proc: _Process, key: str, via: str, *, with_context: bool, delete: bool = False
    ) -> None:
        known = proc.contexts.get(key) if with_context else None
        opaque, ids = known if known is not None else ("", [])
        f = "delete" if delete else "write"
        value: int | None = None
        msg: dict[str, Any] = {"op": f if delete else "put", "key": key, "context": opaque}
        if not delete:
            self.next_value += 1
            value = self.next_value
            msg["value"] = str(value).encode()
        invoked = self.now()
        self.record({"type": "invoke", "process": proc.id, "f": f, "key": key, "value": value,
                     "context": ids, "node": via})  # fmt: skip
        if with_context:
            proc.contexts.pop(key, None)  # superseded (or perhaps so): read again first
        try:
            reply = await self.request(via, msg)
        except DynamoError as exc:
            kind = "fail" if exc.definite else "info"
            self.record({"type": kind, "process": proc.id, "f": f, "key": key, "value": value,
                         "node": via, "error": str(exc)})  # fmt: skip
            if kind == "info":
                proc.id, self.next_process = self.next_process, self.next_process + 1
            return
        self.acknowledged(key, decode_context(reply.get("context")), invoked)
        self.record({"type": "ok", "process": proc.id, "f": f, "key": key, "value": value,
                     "node": via})  # fmt: skip

    # --- invariants checked as things happen -----------------------------------------------

    def acknowledged(self, key: str, vv: dict[str, int], since: float) -> None:
        """An acknowledged write is on W disks: W nodes' synced copies have seen its version
        (their version vectors cover the one the coordinator answered with)."""
        members = self.cluster.members.values()
        if any(w >= since for m in members for w in m.wipes):
            return  # a wipe since the invoke may have taken a copy: not decidable here
        self.count("ack-durable")
        holders = []
        for m in members:
            obj = m.disk.get(key)
            if obj is not None and descends(obj.vv, vv):
                holders.append(m.name)
        if len(holders) < self.settings.w:
            self.violation(
                "ack-durable",
                f"write of {key!r} acknowledged with {len(holders)} synced copies "
                f"({', '.join(holders) or 'none'}), W={self.settings.w}",
            )

    def _unhinted(self, holder: str, target: str, key: str, obj: VersionedObject | None) -> None:
        """A fallback drops a hint only once the owner has the hinted object on disk."""
        node = self.cluster.node(holder)
        if node is None or obj is None or node.state.ring is None:
            return
        ring = node.state.ring
        targets = [target] if target in ring.nodes else node.replicas_of(key)
        now = self.now()
        for t in targets:
            member = self.cluster.members.get(t)
            if member is None or any(w > now - 10 for w in member.wipes):
                continue
            self.count("hint-delivered")
            held = member.disk.get(key) or VersionedObject()
            missing = [s.dot for s in obj.siblings if held.vv.get(s.dot[0], 0) < s.dot[1]]
            if missing:
                self.violation(
                    "hint-delivered",
                    f"{holder} dropped its hint of {key!r} for {target} but {t}'s disk lacks "
                    f"{', '.join(f'{a}:{c}' for a, c in missing)}",
                )

    # --- faults ----------------------------------------------------------------------------

    def nemesis(self, f: str, value: Any) -> None:
        self.record({"type": "invoke", "process": "nemesis", "f": f, "value": value})
        self.record({"type": "ok", "process": "nemesis", "f": f, "value": value})

    def apply_grudge(self) -> None:
        grudge = {k: set(v) for k, v in self.partition.items()}
        for a, b in self.links:
            grudge.setdefault(a, set()).add(b)
        self.network.faults.grudge = grudge

    async def fault(self, step: Step) -> None:
        kind, args = step.kind, step.args
        if kind == "partition":
            grudge, reject = args
            self.partition = {k: set(v) for k, v in grudge.items()}
            self.network.faults.reject = bool(reject)
            self.apply_grudge()
            self.nemesis("start-partition", {k: sorted(v) for k, v in grudge.items()})
        elif kind == "heal":
            self.partition = {}
            self.apply_grudge()
            self.nemesis("stop-partition", None)
        elif kind == "link":
            a, b, blocked = args
            (self.links.add if blocked else self.links.discard)((a, b))
            self.apply_grudge()
        elif kind == "loss":
            self.network.faults.loss, self.network.faults.duplicate = args
            self.network.faults.slow = 0.1 if args[0] else 0.0
            self.nemesis("start-loss" if args[0] else "stop-loss", list(args))
        elif kind == "crash":
            victims = [v for v in args if self.cluster.node(v) is not None]
            for v in victims:
                self.cluster.crash(v)
            if victims:
                self.nemesis("kill", victims)
        elif kind == "wipe":
            (victim,) = args
            self.cluster.wipe(victim, self.now())
            self.nemesis("kill", {"nodes": [victim], "wipe": True})
        elif kind == "restart":
            victims = [v for v in args if self.cluster.node(v) is None]
            for v in victims:
                await self.cluster.start(v)
            if victims:
                self.nemesis("start", victims)
        elif kind == "join":
            (name,) = args
            if name not in self.cluster.members:
                self.cluster.add(name)
                await self.cluster.start(name)
                self.background.append(asyncio.ensure_future(self.admin(name, "admin_join")))
        elif kind == "leave":
            (name,) = args
            self.background.append(asyncio.ensure_future(self.admin(name, "admin_leave")))
        else:
            raise ValueError(f"unknown step kind {kind!r}")

    async def admin(self, name: str, op: str) -> bool:
        self.record({"type": "invoke", "process": "nemesis", "f": op, "value": name})
        try:
            await self.request(name, {"op": op})
        except DynamoError as exc:
            self.record({"type": "info", "process": "nemesis", "f": op, "value": name,
                         "error": str(exc)})  # fmt: skip
            return False
        self.record({"type": "ok", "process": "nemesis", "f": op, "value": name})
        return True

    async def heal_all(self) -> None:
        """The end of the faults: every link up, no loss, every node running; a join that
        could not reach a seed is asked again."""
        self.partition, self.links = {}, set()
        self.apply_grudge()
        self.network.faults.loss = self.network.faults.duplicate = self.network.faults.slow = 0.0
        self.nemesis("stop-partition", None)
        for name, member in self.cluster.members.items():
            if not member.up:
                await self.cluster.start(name)
                self.nemesis("start", [name])
        await asyncio.gather(*self.background, return_exceptions=True)
        self.background = []
        for name, member in self.cluster.members.items():
            node = member.node
            assert node is not None
            if name not in self.schedule.nodes and (
                node.state.ring is None or name not in node.state.ring.nodes
            ):
                await self.admin(name, "admin_join")

    # --- settling and the final reads --------------------------------------------------------

    async def settle(self) -> None:
        from tests.sim.invariants import disagreements

        start = self.now()
        problems: list[str] = []
        while self.now() - start <= SETTLE_BOUND:
            problems = disagreements(self.cluster)
            if not problems:
                self.settle_time = self.now() - start
                return
            await asyncio.sleep(SETTLE_POLL)
        self.violation(
            "converged",
            f"not converged {SETTLE_BOUND:g}s after the faults stopped: " + "; ".join(problems[:5]),
        )

    async def final_reads(self) -> None:
        proc = _Process(-1, self.next_process)
        self.next_process += 1
        for key in self.schedule.keys:
            for node in self.cluster.up():
                await self.read(proc, key, node.name, final=True)


@contextmanager
def _quiet_logs(errors: ErrorLog) -> Iterator[None]:
    root = logging.getLogger("dynamo")
    old_level, old_propagate = root.level, root.propagate
    root.setLevel(logging.ERROR)
    root.propagate = False
    root.addHandler(errors)
    try:
        yield
    finally:
        root.removeHandler(errors)
        root.setLevel(old_level)
        root.propagate = old_propagate


def run(
    schedule: Schedule, seed: int, *, mutant: Any = None, settings: Settings | None = None
) -> Outcome:
    """Play ``schedule`` with ``seed`` (and ``mutant``'s patches applied), then check it."""
    settings = settings or Settings()
    if mutant is not None:
        settings = replace(settings, **mutant.settings)
    errors = ErrorLog()
    sim = Run(schedule, seed, settings)
    patches = mutant.patch() if mutant is not None else _nothing()
    with _quiet_logs(errors), patches:
        simloop.run(_timed(sim))
    stray_copies = check_all(sim, errors.records)
    return Outcome(
        seed,
        schedule,
        sim.history,
        sim.violations,
        sim.checked,
        virtual_time=sim.virtual_time,
        settle_time=sim.settle_time,
        messages=sim.network.sent,
        stray_copies=stray_copies,
    )


async def _timed(sim: Run) -> None:
    await sim.main()
    sim.virtual_time = sim.now()


@contextmanager
def _nothing() -> Iterator[None]:
    yield
