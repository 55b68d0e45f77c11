"""Broken nodes the simulator must catch: each a small patch applied in the simulation only.

A mutant is a realistic bug of the node, written as a patch around the node's own code
(wrapping or replacing one function, or one setting), never a copy of it, so the mutant
follows the node as it changes. ``tests/sim/test_mutants.py`` runs each through the
simulator and requires it caught by the invariant named here; ``docs/simulation.md`` lists
the seed that caught it and how many schedules that took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from dynamo import coordinator, entropy, handoff, merkle, node, tombstones, versions
from dynamo.errors import DynamoError
from dynamo.versions import VersionedObject


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    caught_by: str
    """The invariant that must catch it (``tests.sim.invariants.NAMES``)."""
    patch: Callable[[], AbstractContextManager[None]]
    settings: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _unpatched() -> Iterator[None]:
    yield


def _wrapping(module: object, name: str, wrap: Callable[[Any], Any]) -> Callable[[], Any]:
    """A patch that replaces ``module.name`` with ``wrap(the original)`` while it lasts."""

    def patch() -> AbstractContextManager[Any]:
        return mock.patch.object(module, name, wrap(getattr(module, name)))

    return patch


class _Overriding:
    """A node as one call sees it: some of its methods replaced, the rest its own."""

    def __init__(self, node: Any, **overrides: Any) -> None:
        self.__dict__["_node"] = node
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_node"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__dict__["_node"], name, value)


# --- durability --------------------------------------------------------------------------------


def _ack_before_fsync() -> Mutant:
    return Mutant(
        "ack-before-fsync",
        "the storage resolves a put as soon as it is queued, before its fsync "
        "(the node's --buffered write buffer, on by mistake)",
        "ack-durable",
        _unpatched,
        {"buffered": True},
    )


def _quorum_counts_failures() -> Mutant:
    """A write's quorum counts a replica write that failed as an acknowledgement."""

    def wrap(original: Any) -> Any:
        async def quorum(tasks: dict[Any, str], needed: int, deadline: float, **kw: Any) -> Any:
            if kw.get("definite", True):  # reads: unchanged
                return await original(tasks, needed, deadline, **kw)

            async def forgiving(task: asyncio.Task[Any]) -> Any:
                try:
                    return await task
                except DynamoError:
                    return None

            counted = {asyncio.ensure_future(forgiving(t)): name for t, name in tasks.items()}
            return await original(counted, needed, deadline, **kw)

        return quorum

    return Mutant(
        "quorum-counts-failures",
        "a write's quorum counts a replica write that failed (refused, lost connection) "
        "as an acknowledgement",
        "ack-durable",
        _wrapping(coordinator, "quorum", wrap),
    )


# --- hinted hand-off ----------------------------------------------------------------------------


def _hint_dropped(*, before_ack: bool) -> Mutant:
    """A fallback drops its hint when delivering it fails, or as it starts delivering."""

    def wrap(original: Any) -> Any:
        async def deliver(n: Any, key: str, target: str) -> str:
            if before_ack:
                n.storage.unhint(target, key)  # "delivering now", before the owner answered
            outcome = await original(n, key, target)
            if outcome == "failed":
                n.storage.unhint(target, key)  # "the owner is unreachable: give up"
            return outcome

        return deliver

    if before_ack:
        name, bug = (
            "hint-dropped-before-ack",
            (
                "a fallback drops its hint as it starts delivering it, before the owner "
                "acknowledged the write on disk"
            ),
        )
    else:
        name, bug = (
            "hint-dropped-on-failure",
            (
                "a fallback drops its hint when delivering it fails (the owner timed out or "
                "refused), so the owner never gets the write"
            ),
        )
    return Mutant(name, bug, "hint-delivered", _wrapping(handoff, "_deliver", wrap))


# --- anti-entropy and read repair ---------------------------------------------------------------


def _entropy_copies_missing_only() -> Mutant:
    def wrap(original: Any) -> Any:
        def differing(ours: dict[str, bytes], theirs: dict[str, bytes]) -> list[str]:
            return [k for k in original(ours, theirs) if (k in ours) != (k in theirs)]

        return differing

    return Mutant(
        "entropy-copies-missing-only",
        "anti-entropy copies keys one replica lacks but never reconciles a key both hold "
        "in different versions",
        "converged",
        _wrapping(merkle, "differing_keys", wrap),
    )


def _read_repair_overwrites_siblings() -> Mutant:
    """Read repair writes back only the newest sibling (with the merged vector), so the
    replicas it repairs drop the concurrent siblings the vector now covers."""

    def newest(obj: VersionedObject) -> VersionedObject:
        if len(obj.siblings) < 2:
            return obj
        winner = max(obj.siblings, key=lambda s: (s.timestamp, s.dot))
        return VersionedObject([winner], dict(obj.vv), obj.actor)

    def wrap(original: Any) -> Any:
        async def read_repair(n: Any, key: str, *args: Any) -> None:
            async def replica_put(target: str, k: str, obj: VersionedObject, hint: Any) -> None:
                await n.replica_put(target, k, newest(obj), hint)

            await original(_Overriding(n, replica_put=replica_put), key, *args)

        return read_repair

    return Mutant(
        "read-repair-overwrites-siblings",
        "read repair writes back only the newest sibling of the merged answers, so the "
        "replicas it repairs lose the concurrent ones",
        "no-lost-write",
        _wrapping(coordinator, "read_repair", wrap),
    )


def _stray_copy_kept() -> Mutant:
    def wrap(original: Any) -> Any:
        def stray(n: Any, key: str) -> None:
            return None  # "a replica write is a replica write"

        return stray

    return Mutant(
        "stray-copy-kept",
        "a node keeps a copy a peer with an older ring wrote to it after a join, where it "
        "no longer replicates the key (seed 724's bug before it was fixed)",
        "no-stranded-copy",
        _wrapping(handoff, "stray", wrap),
    )


# --- tombstones ---------------------------------------------------------------------------------


def _reaper_ignores_unreachable() -> Mutant:
    """The reaper takes an owner or member that does not answer as agreeing."""

    def wrap(original: Any) -> Any:
        async def reap_everywhere(n: Any, key: str, obj: VersionedObject, owners: list[str]) -> Any:
            async def replica_get(target: str, k: str) -> VersionedObject:
                try:
                    return await n.replica_get(target, k)
                except DynamoError:
                    return obj.replica_view()  # "it must have the tombstone by now"

            async def call(target: str, msg: dict[str, Any], timeout: Any = None) -> Any:
                try:
                    return await n.call(target, msg, timeout)
                except DynamoError:
                    return {"hinted": False}

            return await original(
                _Overriding(n, replica_get=replica_get, call=call), key, obj, owners
            )

        return reap_everywhere

    return Mutant(
        "reaper-ignores-unreachable",
        "the tombstone reaper counts an owner (or member) that does not answer as holding "
        "the tombstone, and reaps while it still holds the old value",
        "no-resurrection",
        _wrapping(tombstones, "_reap_everywhere", wrap),
    )


# --- merge ----------------------------------------------------------------------------------------

_MERGING = (node, coordinator, entropy)
"""The node's modules that call ``versions.merge`` (the invariants keep the real one)."""


def _merging(wrap: Callable[[Any], Any]) -> Callable[[], AbstractContextManager[None]]:
    @contextmanager
    def patch() -> Iterator[None]:
        broken = wrap(versions.merge)
        with ExitStack() as stack:
            for module in _MERGING:
                stack.enter_context(mock.patch.object(module, "merge", broken))
            yield

    return patch


def _merge_keeps_superseded() -> Mutant:
    def wrap(original: Any) -> Any:
        def merge(a: VersionedObject, b: VersionedObject, *, lww: bool = False) -> VersionedObject:
            out = original(a, b, lww=lww)
            seen = out.dots
            extra = [s for s in [*a.siblings, *b.siblings] if s.dot not in seen and s.value]
            if not extra:
                return out
            siblings = sorted({s.dot: s for s in [*out.siblings, *extra]}.values(), key=_dot)
            return VersionedObject(siblings, out.vv, out.actor)

        return merge

    return Mutant(
        "merge-keeps-superseded",
        "merge keeps every value either side holds, so a version superseded on one replica "
        "comes back as a sibling of its successor",
        "no-false-sibling",
        _merging(wrap),
    )


def _merge_drops_concurrent() -> Mutant:
    def wrap(original: Any) -> Any:
        def merge(a: VersionedObject, b: VersionedObject, *, lww: bool = False) -> VersionedObject:
            out = original(a, b, lww=lww)
            if not versions.concurrent(a.vv, b.vv):
                return out
            kept = [s for s in out.siblings if s.dot in b.dots]  # "the incoming one wins"
            return VersionedObject(kept, out.vv, out.actor)

        return merge

    return Mutant(
        "merge-drops-concurrent",
        "merge of two concurrent objects keeps only the incoming one's siblings (and "
        "both vectors), silently losing the other's writes",
        "no-lost-write",
        _merging(wrap),
    )


def _dot(s: versions.Sibling) -> versions.Dot:
    return s.dot


MUTANTS: dict[str, Mutant] = {
    m.name: m
    for m in (
        _ack_before_fsync(),
        _quorum_counts_failures(),
        _hint_dropped(before_ack=False),
        _hint_dropped(before_ack=True),
        _entropy_copies_missing_only(),
        _read_repair_overwrites_siblings(),
        _stray_copy_kept(),
        _reaper_ignores_unreachable(),
        _merge_keeps_superseded(),
        _merge_drops_concurrent(),
    )
}
