"""Get and put as state machines a reader can follow top to bottom.

get: ask the first N healthy nodes of the key's preference list → wait for R answers →
merge them → answer → then, once the rest answered or failed, if the answers are not all
the same, repair every replica that answered stale or not at all (read repair; a get whose
replicas agree costs no task and no write).

put: stamp the new version on the coordinator's local copy → write it to the first N healthy
nodes, each fallback carrying a hint naming the owner it stands in for (sloppy quorum) →
wait for W durable acknowledgements (the local one counts) → answer.

The coordinator of a put is always one of the nodes it writes to (the node forwards a put it
would not store itself), because a DVV dot is only safe when minted against the
coordinator's own copy of the key (see ``dynamo.versions``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from functools import reduce
from typing import Protocol, TypeVar

from dynamo.errors import DynamoError, QuorumError
from dynamo.versions import VersionedObject, merge, update

T = TypeVar("T")
Plan = list[tuple[str, str | None]]
"""The nodes a request goes to, each with the owner it stands in for (None: it is an owner)."""


class Replicas(Protocol):
    """What a coordinator needs from its node."""

    name: str
    lww: bool
    request_timeout: float
    stats: dict[str, int]

    def clock(self) -> float: ...

    def plan(self, key: str) -> Plan: ...

    async def replica_get(self, target: str, key: str) -> VersionedObject: ...

    async def replica_put(
        self, target: str, key: str, obj: VersionedObject, hint: str | None = None
    ) -> None: ...

    def local_object(self, key: str) -> VersionedObject: ...

    def actor_for(self, obj: VersionedObject) -> str: ...

    def store_local(
        self, key: str, obj: VersionedObject, hint: str | None = None
    ) -> asyncio.Future[None]: ...

    def spawn(self, coro: Awaitable[None]) -> None: ...


async def get(node: Replicas, key: str, r: int) -> VersionedObject:
    plan = node.plan(key)
    tasks = start({target: node.replica_get(target, key) for target, _ in plan})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + node.request_timeout
    answers = await quorum(tasks, r, deadline, what=f"read of {key!r}", definite=True)
    merged = reduce(lambda a, b: merge(a, b, lww=node.lww), answers.values())
    pending = [t for t in tasks if not t.done()]
    if not pending:
        _repair_unless_agreed(node, key, plan, tasks, deadline)
        return merged
    left = len(pending)

    def one_done(_: object) -> None:
        nonlocal left
        left -= 1
        if left == 0:
            _repair_unless_agreed(node, key, plan, tasks, deadline)

    for task in pending:
        task.add_done_callback(one_done)
    return merged


def _repair_unless_agreed(
    node: Replicas, key: str, plan: Plan, tasks: dict[asyncio.Task[T], str], deadline: float
) -> None:
    """Every replica has answered or failed: start a read repair unless all hold the same."""
    first: VersionedObject | None = None
    for task in tasks:
        if task.cancelled() or task.exception() is not None:
            break
        obj: VersionedObject = task.result()  # type: ignore[assignment]
        if first is None:
            first = obj
        elif obj.siblings != first.siblings or obj.vv != first.vv:
            break
    else:
        return
    node.spawn(read_repair(node, key, plan, tasks, deadline))


async def read_repair(
    node: Replicas, key: str, plan: Plan, tasks: dict[asyncio.Task[T], str], deadline: float
) -> None:
    """Once every replica answered or the deadline passed, write the merge of all answers to
    each replica that did not hold exactly it."""
    pending = [t for t in tasks if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
    answers: dict[str, VersionedObject] = {
        tasks[t]: t.result() for t in tasks if t.done() and not t.cancelled() and not t.exception()
    }  # type: ignore[misc]
    if not answers:
        return
    final = reduce(lambda a, b: merge(a, b, lww=node.lww), answers.values())
    hints = dict(plan)
    for target in tasks.values():
        held = answers.get(target)
        if held is not None and held.siblings == final.siblings and held.vv == final.vv:
            continue
        with contextlib.suppress(DynamoError):  # anti-entropy covers what this could not
            await node.replica_put(target, key, final, hints.get(target))
            node.stats["read_repairs"] = node.stats.get("read_repairs", 0) + 1


async def put(
    node: Replicas,
    key: str,
    value: bytes | None,
    context: Mapping[str, int],
    w: int,
    plan: Plan | None = None,
) -> VersionedObject:
    """``plan``: the nodes to write to, when the caller has already worked them out."""
    targets = dict(plan if plan is not None else node.plan(key))
    local = node.local_object(key)
    actor = node.actor_for(local)
    new = update(local, context, actor, value, node.clock(), lww=node.lww)
    own = node.store_local(key, new, targets.get(node.name))
    calls: dict[str, Awaitable[None]] = {node.name: own}
    view = new.replica_view()
    for target, hint in targets.items():
        if target != node.name:
            calls[target] = node.replica_put(target, key, view, hint)
    deadline = asyncio.get_running_loop().time() + node.request_timeout
    await quorum(start(calls), w, deadline, what=f"write of {key!r}", definite=False)
    return new


def start(calls: Mapping[str, Awaitable[T]]) -> dict[asyncio.Task[T], str]:
    """Start every call at once; their exceptions are read by whoever looks, never logged."""
    loop = asyncio.get_running_loop()
    tasks: dict[asyncio.Future[T], str] = {}
    for name, call in calls.items():
        # a future (the local write) is used as it is; a coroutine gets a task
        task = call if isinstance(call, asyncio.Future) else loop.create_task(call)  # type: ignore[arg-type]
        task.add_done_callback(_retrieve)
        tasks[task] = name
    return tasks  # type: ignore[return-value]


async def quorum(
    tasks: dict[asyncio.Task[T], str],
    needed: int,
    deadline: float,
    *,
    what: str,
    definite: bool,
) -> dict[str, T]:
    """Return as soon as ``needed`` tasks succeeded; fail fast once too many have failed.
    The tasks still running go on in the background. (Callbacks and one timer rather than
    ``asyncio.wait`` in a loop: this is on every request's path.)"""
    loop = asyncio.get_running_loop()
    answers: dict[str, T] = {}
    errors: dict[str, str] = {}
    settled: asyncio.Future[None] = loop.create_future()

    def on_done(task: asyncio.Task[T]) -> None:
        name = tasks[task]
        if task.cancelled():
            errors[name] = "cancelled"
        elif (exc := task.exception()) is not None:
            errors[name] = str(exc) if isinstance(exc, DynamoError) else repr(exc)
        else:
            answers[name] = task.result()
        undecided = len(tasks) - len(answers) - len(errors)
        if not settled.done() and (len(answers) >= needed or len(answers) + undecided < needed):
            settled.set_result(None)

    for task in tasks:
        if task.done():
            on_done(task)
        else:
            task.add_done_callback(on_done)
    if len(answers) < needed and not settled.done():
        timer = loop.call_later(max(0.0, deadline - loop.time()), _settle, settled)
        try:
            await settled
        finally:
            timer.cancel()
    if len(answers) >= needed:
        return dict(answers)
    missing = {name: "no answer in time" for name in tasks.values() if name not in answers}
    detail = ", ".join(f"{n}: {why}" for n, why in sorted({**missing, **errors}.items()))
    raise QuorumError(
        f"{what}: {len(answers)} of {len(tasks)} replicas answered, {needed} needed ({detail})",
        definite=definite,
    )


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _retrieve(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()
