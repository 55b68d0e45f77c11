"""Get and put as state machines a reader can follow top to bottom.

get: ask the key's N replicas → wait for R answers → merge them → answer.
put: stamp the new version on the coordinator's local copy → write it to N replicas →
wait for W durable acknowledgements (the local one counts) → answer.

The coordinator of a put is always one of the key's replicas (the node forwards a put it
receives for a key it does not replicate), because a DVV dot is only safe when minted
against the coordinator's own copy of the key (see ``dynamo.versions``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping
from functools import reduce
from typing import Protocol, TypeVar

from dynamo.errors import DynamoError, QuorumError
from dynamo.versions import VersionedObject, merge, update

T = TypeVar("T")


class Replicas(Protocol):
    """What a coordinator needs from its node."""

    name: str
    lww: bool
    request_timeout: float

    def replicas_of(self, key: str) -> list[str]: ...

    async def replica_get(self, target: str, key: str) -> VersionedObject: ...

    async def replica_put(self, target: str, key: str, obj: VersionedObject) -> None: ...

    def local_object(self, key: str) -> VersionedObject: ...

    def actor_for(self, obj: VersionedObject) -> str: ...

    def store_local(self, key: str, obj: VersionedObject) -> asyncio.Future[None]: ...


async def get(node: Replicas, key: str, r: int) -> VersionedObject:
    targets = node.replicas_of(key)
    calls = {t: node.replica_get(t, key) for t in targets}
    answers = await quorum(calls, r, node.request_timeout, what=f"read of {key!r}", definite=True)
    return reduce(lambda a, b: merge(a, b, lww=node.lww), answers.values())


async def put(
    node: Replicas, key: str, value: bytes | None, context: Mapping[str, int], w: int
) -> VersionedObject:
    local = node.local_object(key)
    actor = node.actor_for(local)
    new = update(local, context, actor, value, time.time(), lww=node.lww)
    calls: dict[str, Awaitable[None]] = {node.name: node.store_local(key, new)}
    view = new.replica_view()
    for target in node.replicas_of(key):
        if target != node.name:
            calls[target] = node.replica_put(target, key, view)
    await quorum(calls, w, node.request_timeout, what=f"write of {key!r}", definite=False)
    return new


async def quorum(
    calls: Mapping[str, Awaitable[T]],
    needed: int,
    timeout: float,
    *,
    what: str,
    definite: bool,
) -> dict[str, T]:
    """Run ``calls`` at once and return as soon as ``needed`` of them succeeded. Fails fast
    once too many have failed; the calls still running go on in the background."""
    loop = asyncio.get_running_loop()
    tasks = {asyncio.ensure_future(call): name for name, call in calls.items()}
    for task in tasks:
        task.add_done_callback(_retrieve)
    answers: dict[str, T] = {}
    errors: dict[str, str] = {}
    pending = set(tasks)
    deadline = loop.time() + timeout
    while len(answers) < needed and len(answers) + len(pending) >= needed:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        done, pending = await asyncio.wait(
            pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            exc = task.exception()
            if exc is None:
                answers[tasks[task]] = task.result()
            else:
                errors[tasks[task]] = _reason(exc)
    if len(answers) >= needed:
        return answers
    for task in pending:
        errors[tasks[task]] = "no answer in time"
    detail = ", ".join(f"{name}: {why}" for name, why in sorted(errors.items()))
    raise QuorumError(
        f"{what}: {len(answers)} of {len(tasks)} replicas answered, {needed} needed ({detail})",
        definite=definite,
    )


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DynamoError) else f"{type(exc).__name__}: {exc}"


def _retrieve(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()
