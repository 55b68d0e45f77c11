"""The simulator's parts, and the correct node through many seeded schedules."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from dynamo.errors import ConnectError, RequestTimeout
from dynamo.versions import VersionedObject
from tests.sim import loop as simloop
from tests.sim.disk import Disk, SimStorage
from tests.sim.explore import SUMMARY, Tally, explore, shrink
from tests.sim.network import Network
from tests.sim.run import run
from tests.sim.schedule import Schedule, generate

SCHEDULES = int(os.environ.get("DYNAMO_SIM_SCHEDULES", "1000"))
SLOW_SCHEDULES = int(os.environ.get("DYNAMO_SIM_SLOW_SCHEDULES", "100000"))


def test_virtual_clock_jumps_to_the_next_timer_without_sleeping() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(10), 2.5)
        return loop.time()

    started = asyncio.new_event_loop().time()
    assert simloop.run(main()) == pytest.approx(3602.5)
    assert asyncio.new_event_loop().time() - started < 5  # not an hour of real time


def test_a_loop_with_nothing_to_do_is_a_deadlock_not_a_hang() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(simloop.Deadlock):
        simloop.run(main())


def test_a_crash_loses_the_writes_not_yet_synced_and_keeps_the_rest() -> None:
    disk = Disk()

    async def main() -> tuple[bool, bool]:
        storage = SimStorage(disk, random.Random(0))
        obj = VersionedObject()
        await storage.put("synced", obj)
        unsynced = storage.put("unsynced", obj, hint="n2")
        seen = storage.get("unsynced") is not None  # reads see queued writes
        storage.crash()
        return seen, unsynced.done()

    seen, resolved = simloop.run(main())
    assert seen and not resolved
    assert disk.keys() == ["synced"]
    assert disk.hinted() == set()


def test_a_buffered_storage_acknowledges_before_the_sync() -> None:
    disk = Disk()

    async def main() -> bool:
        storage = SimStorage(disk, random.Random(0), buffered=True)
        fut = storage.put("k", VersionedObject())
        await fut
        return disk.get("k") is None

    assert simloop.run(main())


def test_a_partition_drops_or_refuses_and_a_dead_node_refuses() -> None:
    async def main() -> list[str]:
        net = Network(random.Random(0))
        a, b = net.attach("a"), net.attach("b")

        async def pong(msg: object) -> dict[str, object]:
            return {"ok": True, "got": msg}

        a.handler = b.handler = pong
        out = []
        reply = await net.request(a, "b", {"op": "ping"}, 1.0)
        out.append(f"delivered {reply['got']['op']}")
        net.faults.grudge = {"a": {"b"}}
        for reject in (False, True):
            net.faults.reject = reject
            try:
                await net.request(a, "b", {"op": "ping"}, 1.0)
            except (RequestTimeout, ConnectError) as exc:
                out.append(type(exc).__name__)
        net.faults.grudge = {}
        net.detach("b")
        try:
            await net.request(a, "b", {"op": "ping"}, 1.0)
        except ConnectError:
            out.append("refused")
        return out

    assert simloop.run(main()) == ["delivered ping", "RequestTimeout", "ConnectError", "refused"]


def test_a_seed_replays_exactly() -> None:
    seed = 7
    first, second = run(generate(seed), seed), run(generate(seed), seed)
    assert first.history == second.history
    assert len(first.history) > 50


def test_a_schedule_survives_its_json() -> None:
    schedule = generate(11)
    assert Schedule.loads(schedule.dumps()) == schedule


def _hold_every_invariant(seeds: range) -> None:
    tally = Tally()
    failure = explore(seeds, tally=tally)
    SUMMARY.append(tally.summary())
    if failure is not None:
        failure.shrunk = shrink(failure)
        SUMMARY.append(failure.report())
        pytest.fail(failure.report(), pytrace=False)


def test_the_node_holds_every_invariant_on_seeded_schedules() -> None:
    """``DYNAMO_SIM_SCHEDULES`` seeds (1,000 by default) of crashes, wipes, partitions,
    flapping links, loss, duplication, joins and leaves under client load."""
    _hold_every_invariant(range(SCHEDULES))


@pytest.mark.slow
def test_the_node_holds_every_invariant_on_many_more_schedules() -> None:
    """``DYNAMO_SIM_SLOW_SCHEDULES`` seeds (100,000 by default): ``pytest -m slow tests/sim``."""
    _hold_every_invariant(range(SCHEDULES, SCHEDULES + SLOW_SCHEDULES))


def test_workers_find_the_same_first_failing_seed_as_one_process() -> None:
    from tests.sim.mutants import MUTANTS

    mutant = MUTANTS["entropy-copies-missing-only"]
    alone = explore(range(8), mutant=mutant, processes=1)
    spread = explore(range(8), mutant=mutant, processes=2)
    assert alone is not None and spread is not None
    assert (spread.seed, spread.invariants) == (alone.seed, alone.invariants)
    assert spread.outcome.history == alone.outcome.history
