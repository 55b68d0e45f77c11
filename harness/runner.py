"""The runner: client workers and the nemesis on one clock, then heal, settle and final reads.

It knows nodes only as endpoints and a client factory, so the same loop runs against a
deployed cluster, a loopback cluster (``bench/``) or anything with the client calls.

Phases: ``workload`` (``--time-limit`` seconds of ops at ``--rate``; the nemesis acts every
``--nemesis-interval``), ``heal`` (the nemesis's heal ops, then its teardown — always),
``settle`` (until no node has hints or transfers pending, at most ``--settle`` seconds),
``anti-entropy`` (with ``--anti-entropy-bound``: no client traffic, each replica's own
copy of every final key read round after round until they agree or the bound passes —
``checkers.anti_entropy``), ``final reads`` (every final key from every node, ops marked
``final``), ``convergence`` (each replica's own copy, when the system can read one
alone), ``node counters`` (one ``node-counters`` op of what each node counted about
itself, when the system can say — ``checkers.nodes``). Ctrl-C or SIGTERM ends the
current phase at once, records what was in flight as ``info``, heals, and skips the reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers.history import HARNESS
from checkers.nodes import NODE_COUNTERS
from harness.history import HistoryWriter
from harness.options import TestOptions
from harness.progress import Progress
from nemesis.protocol import Nemesis, NemesisContext
from workloads.base import Op, WorkerState, Workload, failed

log = logging.getLogger(__name__)

ClientFactory = Callable[[str, float], Any]
INTERRUPT_GRACE = 1.0
SETTLE_POLL = 0.5
AE_ROUND_GAP = 1.0


@dataclass
class Tally:
    """Live counts for progress lines and the run's summary."""

    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    phase: str = "starting"
    fault: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, type_: str) -> None:
        setattr(self, type_, getattr(self, type_) + 1)


@dataclass
class Outcome:
    interrupted: bool
    tally: Tally
    ops: int


class Pace:
    """One worker's share of ``--rate``: invocations at random gaps averaging 1/rate.

    Gaps are counted from when the last invocation was due, not from when its op ended, so
    ops' own latency does not lower the rate; a worker more than a second behind (its ops
    are slower than its share) starts afresh instead of bursting to catch up.
    """

    def __init__(self, rate: float, rng: random.Random) -> None:
        self.mean = 1.0 / rate
        self.rng = rng
        self.due = time.monotonic() + rng.uniform(0, self.mean)

    async def wait(self) -> None:
        now = time.monotonic()
        if now - self.due > 1.0:
            self.due = now
        await asyncio.sleep(max(0.0, self.due - now))
        self.due += self.rng.uniform(0, 2 * self.mean)


class Runner:
    def __init__(
        self,
        options: TestOptions,
        history: HistoryWriter,
        workload: Workload,
        endpoints: dict[str, str],
        client_factory: ClientFactory,
        nemesis: Nemesis,
        nemesis_context: NemesisContext | None = None,
        *,
        progress: Progress | None = None,
        local_reads: bool = False,
        replicas: Callable[[str], Sequence[str] | None] | None = None,
        backlog: Callable[[str], Awaitable[int | None]] | None = None,
        counters: Callable[[str], Awaitable[Mapping[str, Any]]] | None = None,
    ) -> None:
        self.o = options
        self.history = history
        self.workload = workload
        self.endpoints = endpoints
        self.nodes = list(endpoints)
        self.make_client = client_factory
        self.nemesis = nemesis
        self.nemesis_context = nemesis_context
        self.progress = progress
        self.local_reads = local_reads
        self.replicas = replicas
        self.backlog = backlog
        self.counters = counters
        self.tally = Tally()
        self.interrupted = False
        self._stop = asyncio.Event()
        self._interrupt = asyncio.Event()
        self._next_process = options.concurrency

    # the whole run

    async def run(self) -> Outcome:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        reporter = asyncio.create_task(self._report())
        try:
            try:
                if self.nemesis_context is not None:
                    await asyncio.to_thread(self.nemesis.setup, self.nemesis_context)
                await self._workload_phase()
                self.tally.phase = "heal"
                for op in self.nemesis.heal_ops():
                    await self._nemesis_op(op)
            finally:
                await asyncio.to_thread(self.nemesis.teardown)  # also after a failed setup
                self.tally.fault = "none"
            if not self.interrupted:
                await self._after_heal()
        finally:
            reporter.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            self._show()
        return Outcome(self.interrupted, self.tally, self.history.count)

    def _on_signal(self, sig: int) -> None:
        log.warning("%s: stopping the run", signal.Signals(sig).name)
        self.interrupted = True
        self._interrupt.set()
        self._stop.set()

    async def _after_heal(self) -> None:
        if self.o.settle > 0:
            self.tally.phase = "settle"
            await self._settle()
        if self.o.anti_entropy_bound > 0 and self.local_reads and not self.interrupted:
            self.tally.phase = "anti-entropy"
            await self._until_interrupted(self._anti_entropy())
        if self.o.final_reads and not self.interrupted:
            self.tally.phase = "final reads"
            await self._until_interrupted(self._final_reads())
        if self.local_reads and not self.interrupted:
            self.tally.phase = "convergence"
            await self._until_interrupted(self._convergence_reads())
        if self.counters is not None and not self.interrupted:
            self.tally.phase = "node counters"
            await self._until_interrupted(self._node_counters())
        self.tally.phase = "done"

    async def _node_counters(self) -> None:
        """One ``node-counters`` op: what each node counted about itself (an error in
        place of a node that does not answer) — ``checkers.nodes``."""
        assert self.counters is not None
        answers = await asyncio.gather(
            *(self.counters(a) for a in self.endpoints.values()), return_exceptions=True
        )
        value = {
            node: dict(a) if isinstance(a, Mapping) else {"error": str(a) or type(a).__name__}
            for node, a in zip(self.endpoints, answers, strict=True)
        }
        self.history.record("ok", HARNESS, NODE_COUNTERS, value=value)

    async def _settle(self) -> None:
        """Wait until no node owes others anything (``backlog`` 0 everywhere), at most
        ``--settle`` seconds; without a way to ask, wait the whole ``--settle``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.o.settle
        while not self.interrupted and (left := deadline - loop.time()) > 0:
            if self.backlog is not None:
                owed = await asyncio.gather(
                    *(self.backlog(a) for a in self.endpoints.values()), return_exceptions=True
                )
                self.tally.extra["backlog"] = owed
                if all(n == 0 for n in owed):
                    log.info("settled: no node has hints or transfers pending")
                    return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._interrupt.wait(), min(left, SETTLE_POLL))

    async def _until_interrupted(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._interrupt.wait())
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not task.done():
            await asyncio.sleep(INTERRUPT_GRACE)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # workload phase

    async def _workload_phase(self) -> None:
        self.tally.phase = "workload"
        workers = [asyncio.create_task(self._worker(i)) for i in range(self.o.concurrency)]
        nemesis = asyncio.create_task(self._nemesis_loop())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.o.time_limit)
        self._stop.set()
        grace = INTERRUPT_GRACE if self.interrupted else self.o.op_timeout + 2
        _done, pending = await asyncio.wait([*workers, nemesis], timeout=grace)
        for t in pending:
            t.cancel()
        results = await asyncio.gather(*workers, nemesis, return_exceptions=True)
        for r in results:
            if isinstance(r, Exception):
                raise r

    def _fresh_process(self) -> int:
        p = self._next_process
        self._next_process += 1
        return p

    async def _worker(self, worker: int) -> None:
        node = self.nodes[worker % len(self.nodes)]
        client = self.make_client(self.endpoints[node], self.o.op_timeout)
        rng = random.Random(f"{self.o.seed}/{worker}")
        state = WorkerState()
        process = worker
        pace = Pace(self.o.rate / self.o.concurrency, rng) if self.o.rate > 0 else None
        try:
            while not self._stop.is_set():
                await (pace.wait() if pace else asyncio.sleep(0))
                if self._stop.is_set():
                    break
                op = self.workload.next_op(rng, state)
                done = await self._perform(client, process, node, op, state)
                if done["type"] == "info":
                    process = self._fresh_process()
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _perform(
        self, client: Any, process: int, node: str, op: Op, state: WorkerState
    ) -> dict[str, Any]:
        """Invoke ``op`` through ``client``, recording the invocation and its completion."""
        f = op["f"]
        fields = {k: v for k, v in op.items() if k != "f"}
        fields["node"] = node
        self.history.record("invoke", process, f, **fields)
        self.tally.invoked += 1
        try:
            async with asyncio.timeout(self.o.op_timeout * 3):  # a backstop; clients time out
                result = await self.workload.invoke(client, op, state)
        except asyncio.CancelledError:
            self.history.record("info", process, f, **fields, error="interrupted")
            self.tally.count("info")
            raise
        except Exception as e:  # a bug in a workload must not stop the run: unknown outcome
            result = failed(e)
        completion = {**fields, **{k: v for k, v in result.items() if k != "type"}}
        done = self.history.record(result["type"], process, f, **completion)
        self.tally.count(result["type"])
        return done

    # nemesis

    async def _nemesis_loop(self) -> None:
        rng = random.Random(f"{self.o.seed}/nemesis")
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.o.nemesis_interval)
            if self._stop.is_set():
                return
            op = self.nemesis.next_op(rng)
            if op is not None:
                await self._nemesis_op(op)

    async def _nemesis_op(self, op: Op) -> None:
        f = op["f"]
        self.history.record("invoke", "nemesis", f, value=op.get("value"))
        self.tally.fault = f
        try:
            done = await asyncio.to_thread(self.nemesis.invoke, op)
            self.history.record("info", "nemesis", f, value=done.get("value"))
        except Exception as e:
            log.exception("nemesis %s failed", f)
            self.history.record(
                "info", "nemesis", f, value=op.get("value"), error=f"{type(e).__name__}: {e}"
            )

    # after the heal

    async def _final_reads(self) -> None:
        keys = self.workload.final_keys()
        await asyncio.gather(*(self._read_all(node, keys) for node in self.nodes))

    async def _read_all(self, node: str, keys: Sequence[str]) -> None:
        client = self.make_client(self.endpoints[node], self.o.op_timeout)
        process = self._fresh_process()
        state = WorkerState()
        try:
            for key in keys:
                done = await self._perform(
                    client, process, node, self.workload.final_read(key), state
                )
                if done["type"] == "info":
                    process = self._fresh_process()
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    def _holders(self, keys: Sequence[str]) -> dict[str, Sequence[str]]:
        return {k: (self.replicas(k) if self.replicas else None) or self.nodes for k in keys}

    async def _convergence_reads(self) -> None:
        """Each replica's own copy of every final key: did anti-entropy converge them?"""
        keys = self.workload.final_keys()
        holders = self._holders(keys)
        await asyncio.gather(
            *(self._read_local(n, [k for k in keys if n in holders[k]]) for n in self.nodes)
        )

    async def _anti_entropy(self) -> None:
        """No client traffic: rounds of local reads of every final key on each of its
        replicas, a second apart, until every key's replicas agree or the bound passes."""
        loop = asyncio.get_running_loop()
        bound = self.o.anti_entropy_bound
        keys = self.workload.final_keys()
        holders = self._holders(keys)
        self.history.record("ok", "anti-entropy", "start", value={"bound": bound})
        deadline = loop.time() + bound
        round_ = 0
        while not self.interrupted:
            self.tally.extra["anti-entropy round"] = round_
            held = await asyncio.gather(
                *(
                    self._read_local(
                        n, [k for k in keys if n in holders[k]], "anti-entropy", round_
                    )
                    for n in self.nodes
                )
            )
            states: dict[str, set[Any]] = {}
            for node_states in held:
                for key, state in node_states.items():
                    states.setdefault(key, set()).add(state)
            apart = sum(1 for s in states.values() if len(s) > 1 or None in s)
            self.tally.extra["keys apart"] = apart
            if not apart or loop.time() >= deadline:
                log.info("anti-entropy phase: %d keys apart after round %d", apart, round_)
                return
            round_ += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._interrupt.wait(), min(AE_ROUND_GAP, deadline - loop.time())
                )

    async def _read_local(
        self,
        node: str,
        keys: Sequence[str],
        process: str = "convergence",
        round_: int | None = None,
    ) -> dict[str, Any]:
        """Read ``keys`` from ``node``'s own storage, one sample op each; returns each
        key's state (a frozenset of its versions; None when the read failed)."""
        client = self.make_client(self.endpoints[node], self.o.op_timeout)
        fields: dict[str, Any] = {"node": node}
        if round_ is not None:
            fields["round"] = round_
        states: dict[str, Any] = {}
        try:
            for key in keys:
                self.history.record("invoke", process, "read-local", key=key, value=None, **fields)
                try:
                    value = await self.workload.read_local(client, key)
                except Exception as e:
                    self.history.record(
                        **failed(e), process=process, f="read-local", key=key, value=None, **fields
                    )
                    states[key] = None
                    continue
                self.history.record("ok", process, "read-local", key=key, value=value, **fields)
                items = value if isinstance(value, list) else [value]
                states[key] = frozenset(repr(v) for v in items)
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        return states

    # progress

    async def _report(self) -> None:
        while True:
            self._show()
            await asyncio.sleep(0.5)

    def _show(self) -> None:
        if self.progress is not None:
            self.progress.update(self.tally)
