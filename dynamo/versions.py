"""Versions of one key: dotted version vectors (DVV sets), siblings and the LWW alternative.

Why DVV and not the paper's per-coordinator vector clocks: with a plain vector clock the
coordinator stamps a new version by bumping its own entry, so two clients that write with the
same old context through the same coordinator get versions where the second appears to
descend the first — a silent lost write — or, with per-client entries, clocks that grow with
every client (Riak's "sibling explosion"). A dot names each write exactly (actor, counter),
and the write's causal past is the client's context, not the coordinator's local clock, so
concurrent writes stay siblings and a clock has one entry per coordinating actor.

An object is a set of siblings, each with its dot, plus a version vector ``vv`` that covers
everything the object has seen (present or superseded). A sibling of one object is dropped
by a merge only when the other object's vector covers its dot and the other object does not
hold it — the other has seen it and superseded it.

Actors. The DVV-set rule that a coordinator's new dot covers all its earlier dots for the key
holds only while the coordinator remembers every dot it made for that key. A node that loses
that memory (a wiped disk, a hinted copy deleted after hand-off) must not reuse its actor, or
its new write would silently supersede writes it forgot (Riak's kv679). So every local object
records ``actor``: the actor this node writes the key as; a node that has no such record for
a key, or only one made before it last started (a crash may have taken its copy of a write
other replicas acknowledged), takes a fresh actor (``node.incarnation.seq``, never reused).

No truncation: entries are bounded by the actors that ever coordinated the key (replicas, plus
fresh actors after restarts, data loss or hand-off), not by the clients, so the paper's
truncation past 10 entries — which makes clocks lie — is not needed here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import msgpack

VersionVector = dict[str, int]
Dot = tuple[str, int]


def covers(vv: Mapping[str, int], dot: Dot) -> bool:
    return vv.get(dot[0], 0) >= dot[1]


def join(*vvs: Mapping[str, int]) -> VersionVector:
    out: VersionVector = {}
    for vv in vvs:
        for actor, counter in vv.items():
            if counter > out.get(actor, 0):
                out[actor] = counter
    return out


def descends(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    """True when ``a`` has seen everything ``b`` has (``a >= b``)."""
    return all(a.get(actor, 0) >= counter for actor, counter in b.items())


def concurrent(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return not descends(a, b) and not descends(b, a)


class Sibling(NamedTuple):
    """One version: its dot, the coordinator's wall-clock time, and the value (None = deleted).
    Immutable; a named tuple because one is made for every sibling decoded or merged, and a
    frozen dataclass costs three times as much to construct."""

    dot: Dot
    timestamp: float
    value: bytes | None

    @property
    def deleted(self) -> bool:
        return self.value is None


@dataclass(slots=True)
class VersionedObject:
    """What one replica holds for a key."""

    siblings: list[Sibling] = field(default_factory=list)
    vv: VersionVector = field(default_factory=dict)
    actor: str | None = None
    """The actor this replica writes the key as; local, never sent to other replicas."""

    @property
    def values(self) -> list[bytes]:
        """Live values, in dot order (tombstones hidden)."""
        return [s.value for s in self.siblings if s.value is not None]

    @property
    def dots(self) -> set[Dot]:
        return {s.dot for s in self.siblings}

    @property
    def empty(self) -> bool:
        return not self.siblings and not self.vv

    def replica_view(self) -> VersionedObject:
        """The object as sent to another replica: without this replica's actor record."""
        return VersionedObject(list(self.siblings), dict(self.vv))


def merge(a: VersionedObject, b: VersionedObject, *, lww: bool = False) -> VersionedObject:
    """The object that has seen both ``a`` and ``b``. Commutative, associative, idempotent
    (on siblings and vv; ``actor`` is kept from ``a``, the local side)."""
    if lww:
        return _lww(a.siblings + b.siblings, join(a.vv, b.vv), a.actor)
    b_dots, a_dots = b.dots, a.dots
    kept = {s.dot: s for s in a.siblings if s.dot in b_dots or not covers(b.vv, s.dot)}
    for s in b.siblings:
        if s.dot in a_dots or not covers(a.vv, s.dot):
            kept.setdefault(s.dot, s)
    return VersionedObject(_ordered(kept.values()), join(a.vv, b.vv), a.actor)


def update(
    local: VersionedObject,
    context: Mapping[str, int],
    actor: str,
    value: bytes | None,
    timestamp: float,
    *,
    lww: bool = False,
) -> VersionedObject:
    """A client's put at the coordinator: a new sibling with a fresh dot of ``actor``; local
    siblings covered by the client's ``context`` are superseded, the others stay."""
    counter = max(local.vv.get(actor, 0), context.get(actor, 0)) + 1
    new = Sibling((actor, counter), timestamp, value)
    vv = join(local.vv, context, {actor: counter})
    if lww:
        return _lww([*local.siblings, new], vv, actor)
    kept = [s for s in local.siblings if not covers(context, s.dot)]
    return VersionedObject(_ordered([*kept, new]), vv, actor)


def _lww(siblings: Iterable[Sibling], vv: VersionVector, actor: str | None) -> VersionedObject:
    """Last writer wins: only the sibling with the newest wall-clock timestamp survives."""
    winner = max(siblings, key=lambda s: (s.timestamp, s.dot), default=None)
    return VersionedObject([winner] if winner else [], vv, actor)


def _ordered(siblings: Iterable[Sibling]) -> list[Sibling]:
    return sorted(siblings, key=lambda s: s.dot)


def encode(obj: VersionedObject, *, local: bool = False) -> dict[str, object]:
    """A msgpack-ready form; ``local=True`` keeps the actor record (for this node's disk)."""
    out: dict[str, object] = {
        "s": [[s.dot[0], s.dot[1], s.timestamp, s.value] for s in obj.siblings],
        "v": obj.vv,
    }
    if local and obj.actor is not None:
        out["a"] = obj.actor
    return out


def decode(raw: Mapping[str, object]) -> VersionedObject:
    """Inverse of :func:`encode`; raises ``ValueError`` on a malformed object."""
    try:
        siblings = [
            Sibling((str(a), int(c)), float(t), _value(v))
            for a, c, t, v in raw["s"]  # type: ignore[attr-defined]
        ]
        vv = {str(k): int(v) for k, v in raw["v"].items()}  # type: ignore[attr-defined]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed versioned object: {exc}") from exc
    actor = raw.get("a")
    return VersionedObject(_ordered(siblings), vv, str(actor) if actor is not None else None)


def decode_checked(raw: Mapping[str, object]) -> VersionedObject:
    """:func:`decode` of an object ``schema.check_object`` has passed: its fields already
    have their types (a timestamp may be an int), so nothing is converted again."""
    siblings = [
        Sibling((a, c), float(t), v)
        for a, c, t, v in raw["s"]  # type: ignore[attr-defined]
    ]
    actor = raw.get("a")
    return VersionedObject(
        _ordered(siblings),
        dict(raw["v"]),  # type: ignore[call-overload]
        actor if isinstance(actor, str) else None,
    )


def _value(v: object) -> bytes | None:
    """A stored value as it is: never ``bytes(v)``, which makes ``bytes(10**9)`` of an int."""
    if v is None or isinstance(v, bytes):
        return v
    raise TypeError(f"a value must be bin or nil, not {type(v).__name__}")


def encode_context(vv: Mapping[str, int]) -> str:
    """The opaque context handed to clients: the version vector, msgpack in base64url."""
    return base64.urlsafe_b64encode(msgpack.packb(dict(sorted(vv.items())))).decode().rstrip("=")


def decode_context(context: str | None) -> VersionVector:
    """Inverse of :func:`encode_context`; ``None`` or ``""`` is the empty context (a blind
    write). Raises ``ValueError`` on anything that is not a context this node gave out."""
    if not context:
        return {}
    try:
        raw = msgpack.unpackb(base64.urlsafe_b64decode(context + "=" * (-len(context) % 4)))
        return {str(k): int(v) for k, v in raw.items()}
    except Exception as exc:
        raise ValueError(f"not a context: {context[:40]!r}") from exc
