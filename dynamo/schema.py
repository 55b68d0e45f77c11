"""What a node accepts: every request, every nested structure in it (versioned objects,
version vectors, contexts, cluster states, rings), checked in full before anything is applied
or persisted.

A frame that fails a check costs one ``BadRequest`` reply naming the first thing wrong, and
changes nothing. The same checks guard what peers send back (gossip and ``replica_get``
replies) and the cluster state a node reloads from its own disk. Every bound here is a bound
on memory or CPU that a small frame could otherwise multiply (``bytes(10**8)`` from a 20-byte
frame, a ring whose walks cost Q² steps), or on values that would later fail to pack.

This module sits on ``versions``, ``membership`` and ``ring`` and knows nothing of the node.
Adding an op means adding its fields to ``OPS``: a field not listed there is refused.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import msgpack

from dynamo.auth import PROOF_BYTES
from dynamo.errors import BadRequest
from dynamo.membership import ClusterState
from dynamo.merkle import DIGEST_BYTES, LEAVES
from dynamo.protocol import DEFAULT_MAX_VALUE, MAX_KEY, Message
from dynamo.versions import VersionedObject, decode_checked

MAX_NAME = 256
"""Node names, actors, hints and addresses."""
MAX_COUNTER = 2**62
"""Version counters and member versions stay far from msgpack's 64-bit limit."""
MAX_PARTITIONS = 4096
"""A ring's walks cost up to Q² steps to build: 4096 is about a second, and far above use."""
MAX_MEMBERS = 1024
MAX_CONTEXT = 64 * 1024
"""Characters of a client's context (a base64 version vector: one entry per actor)."""
MAX_QUORUM = 1024
MAX_SIBLINGS = 65536
STATUSES = ("valid", "joining", "leaving", "left")


class Limits:
    """Bounds that depend on the node's configuration."""

    __slots__ = ("max_value",)

    def __init__(self, max_value: int = DEFAULT_MAX_VALUE) -> None:
        self.max_value = max_value


def _fail(where: str, what: str) -> NoReturn:
    raise BadRequest(f"{where}: {what}")


def _type(value: object) -> str:
    return "nil" if value is None else type(value).__name__


def _str(value: object, where: str, *, longest: int = MAX_NAME) -> str:
    if not isinstance(value, str):
        _fail(where, f"must be a string, not {_type(value)}")
    if not 0 < len(value) <= longest:
        _fail(where, f"must be 1 to {longest} characters, not {len(value)}")
    return value


def _int(value: object, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        _fail(where, f"must be an integer, not {_type(value)}")
    if not low <= value <= high:
        _fail(where, f"must be between {low} and {high}, not {value}")
    return value


def _map(value: object, where: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        _fail(where, f"must be a map, not {_type(value)}")
    return value


def _list(value: object, where: str, longest: int) -> list[Any]:
    if not isinstance(value, list):
        _fail(where, f"must be a list, not {_type(value)}")
    if len(value) > longest:
        _fail(where, f"has {len(value)} items, more than {longest}")
    return value


def _fields(raw: Mapping[Any, Any], where: str, allowed: tuple[str, ...]) -> None:
    for name in raw:
        if name not in allowed:
            _fail(where, f"unknown field {name!r}")


# --- versions ------------------------------------------------------------------------------


def version_vector(raw: object, where: str = "vv") -> dict[str, int]:
    vv = _map(raw, where)
    for actor, counter in vv.items():
        # the common case in one test; the checks that name the fault only when it fails
        if not (
            type(actor) is str
            and 0 < len(actor) <= MAX_NAME
            and type(counter) is int
            and 0 <= counter <= MAX_COUNTER
        ):
            _str(actor, f"{where}: an actor")
            _int(counter, f"{where}[{actor!r}]", 0, MAX_COUNTER)
    return vv


def check_object(
    raw: object, where: str = "obj", *, limits: Limits | None = None, local: bool = False
) -> dict[str, Any]:
    """A versioned object as ``versions.encode`` writes it: siblings ``[actor, counter,
    timestamp, value-or-nil]`` with distinct dots, each covered by the version vector; values
    within ``max_value``. ``local`` allows the actor record (``"a"``) kept on this node's disk."""
    max_value = (limits or Limits()).max_value
    obj = _map(raw, where)
    _fields(obj, where, ("s", "v", "a") if local else ("s", "v"))
    if "s" not in obj or "v" not in obj:
        _fail(where, "needs siblings 's' and a version vector 'v'")
    vv = version_vector(obj["v"], f"{where}.v")
    siblings = _list(obj["s"], f"{where}.s", MAX_SIBLINGS)
    dots: set[tuple[str, int]] = set()
    for i, sibling in enumerate(siblings):
        if not isinstance(sibling, list) or len(sibling) != 4:
            _fail(f"{where}.s[{i}]", "must be [actor, counter, timestamp, value]")
        actor, counter, timestamp, value = sibling
        if (
            type(actor) is str
            and 0 < len(actor) <= MAX_NAME
            and type(counter) is int
            and 1 <= counter <= MAX_COUNTER
            and type(timestamp) is float
            and abs(timestamp) <= 1e12  # false for nan; inf is over
            and (value is None or (type(value) is bytes and len(value) <= max_value))
            and (actor, counter) not in dots
            and vv.get(actor, 0) >= counter
        ):
            dots.add((actor, counter))
            continue  # the common case in one test; below, the checks that name the fault
        at = f"{where}.s[{i}]"
        _str(actor, f"{at} actor")
        _int(counter, f"{at} counter", 1, MAX_COUNTER)
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
            _fail(f"{at} timestamp", f"must be a number, not {_type(timestamp)}")
        if not math.isfinite(timestamp) or abs(timestamp) > 1e12:
            _fail(f"{at} timestamp", f"{timestamp!r} is not a time")
        if value is not None and not isinstance(value, bytes):
            _fail(f"{at} value", f"must be bin or nil, not {_type(value)}")
        if value is not None and len(value) > max_value:
            _fail(f"{at} value", f"{len(value)} bytes is over the {max_value}-byte limit")
        if (actor, counter) in dots:
            _fail(at, f"repeats the dot ({actor!r}, {counter})")
        if vv.get(actor, 0) < counter:
            _fail(at, f"dot ({actor!r}, {counter}) is not covered by the version vector")
        dots.add((actor, counter))
    if "a" in obj and obj["a"] is not None:
        _str(obj["a"], f"{where}.a")
    return obj


def versioned_object(
    raw: object, where: str = "obj", *, limits: Limits | None = None
) -> VersionedObject:
    """Check a peer's object and decode it."""
    return decode_checked(check_object(raw, where, limits=limits))


def context(raw: object, where: str = "context") -> dict[str, int]:
    """A client's context: base64url of a msgpack version vector this node gave out."""
    if raw == "":
        return {}
    text = _str(raw, where, longest=MAX_CONTEXT)
    try:
        decoded = msgpack.unpackb(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except Exception:
        _fail(where, f"not a context: {text[:40]!r}")
    return version_vector(decoded, where)


# --- anti-entropy replies ------------------------------------------------------------------


def digest(raw: object, where: str) -> bytes:
    if not isinstance(raw, bytes) or len(raw) != DIGEST_BYTES:
        _fail(where, f"must be {DIGEST_BYTES} bytes of bin")
    return raw


def leaf_digests(raw: object, peer: str) -> tuple[bytes, ...]:
    """A peer's ``ae_leaves`` answer: exactly ``LEAVES`` digests."""
    leaves = _list(raw, f"{peer}'s leaves", LEAVES)
    if len(leaves) != LEAVES:
        _fail(f"{peer}'s leaves", f"{len(leaves)} of them, not {LEAVES}")
    return tuple(digest(d, f"{peer}'s leaf {i}") for i, d in enumerate(leaves))


def key_digests(raw: object, peer: str) -> dict[str, bytes]:
    """A peer's ``ae_keys`` answer: key -> object digest."""
    keys = _map(raw, f"{peer}'s keys")
    for key, dig in keys.items():
        _str(key, f"{peer}'s keys: a key", longest=MAX_KEY)
        digest(dig, f"{peer}'s digest of {key!r:.40}")
    return keys


# --- membership ----------------------------------------------------------------------------


def _address(value: object, where: str) -> str:
    address = _str(value, where)
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        _fail(where, f"not a HOST:PORT address: {address!r}")
    return address


def ring_owners(raw: object, where: str = "ring") -> list[str]:
    owners = _list(raw, where, MAX_PARTITIONS)
    q = len(owners)
    if q < 1 or q & (q - 1):
        _fail(where, f"the partition count must be a power of two, not {q}")
    for i, owner in enumerate(owners):
        _str(owner, f"{where}[{i}]")
    return owners


def check_state(raw: object, where: str = "state") -> dict[str, Any]:
    """A gossiped cluster state: members (address, status, version), the ring (a power of two
    of owners, every one a member) and its version."""
    state = _map(raw, where)
    _fields(state, where, ("members", "ring", "ring_version"))
    members = _map(state.get("members"), f"{where}.members")
    if len(members) > MAX_MEMBERS:
        _fail(f"{where}.members", f"{len(members)} members, more than {MAX_MEMBERS}")
    for name, member in members.items():
        _str(name, f"{where}.members: a name")
        at = f"{where}.members[{name!r}]"
        m = _map(member, at)
        _fields(m, at, ("address", "status", "version"))
        _address(m.get("address"), f"{at}.address")
        if m.get("status") not in STATUSES:
            _fail(f"{at}.status", f"must be one of {', '.join(STATUSES)}, not {m.get('status')!r}")
        _int(m.get("version"), f"{at}.version", 0, MAX_COUNTER)
    _int(state.get("ring_version", 0), f"{where}.ring_version", 0, MAX_COUNTER)
    if state.get("ring") is not None:
        owners = ring_owners(state["ring"], f"{where}.ring")
        strangers = sorted(set(owners) - set(members))
        if strangers:
            _fail(f"{where}.ring", f"owners that are not members: {', '.join(strangers[:5])}")
    return state


def cluster_state(raw: object, where: str = "state") -> ClusterState:
    """Check a cluster state and build it."""
    return ClusterState.from_wire(check_state(raw, where))


# --- requests ------------------------------------------------------------------------------

Check = Callable[[object, str, Limits], object]


def _key(v: object, at: str, _: Limits) -> object:
    return _str(v, at, longest=MAX_KEY)


def _name(v: object, at: str, _: Limits) -> object:
    return _str(v, at)


def _bool(v: object, at: str, _: Limits) -> object:
    if not isinstance(v, bool):
        _fail(at, f"must be true or false, not {_type(v)}")
    return v


def _quorum(v: object, at: str, _: Limits) -> object:
    return _int(v, at, 1, MAX_QUORUM)


def _version(v: object, at: str, _: Limits) -> object:
    return _int(v, at, -1, MAX_COUNTER)


def _value(v: object, at: str, limits: Limits) -> object:
    if not isinstance(v, bytes):
        _fail(at, f"must be bin, not {_type(v)}")
    if len(v) > limits.max_value:
        _fail(at, f"value of {len(v)} bytes is over the {limits.max_value}-byte limit")
    return v


def _context(v: object, at: str, _: Limits) -> object:
    return context(v, at)


def _obj(v: object, at: str, limits: Limits) -> object:
    return check_object(v, at, limits=limits)


def _state(v: object, at: str, _: Limits) -> object:
    return check_state(v, at)


def _partition(v: object, at: str, _: Limits) -> object:
    return _int(v, at, 0, MAX_PARTITIONS - 1)


def _leaves(v: object, at: str, _: Limits) -> object:
    for i, leaf in enumerate(_list(v, at, LEAVES)):
        _int(leaf, f"{at}[{i}]", 0, LEAVES - 1)
    return v


def _digest(v: object, at: str, _: Limits) -> object:
    return digest(v, at)


def _proof(v: object, at: str, _: Limits) -> object:
    if not isinstance(v, bytes) or len(v) != PROOF_BYTES:
        _fail(at, f"must be {PROOF_BYTES} bytes of bin")
    return v


Fields = dict[str, tuple[Check, bool]]
OPS: dict[str, Fields] = {
    "ping": {},
    "status": {},
    "ring": {},
    "get": {
        "key": (_key, True),
        "r": (_quorum, False),
        "local": (_bool, False),
        "ring_version": (_version, False),
    },
    "put": {
        "key": (_key, True),
        "value": (_value, True),
        "context": (_context, False),
        "w": (_quorum, False),
        "forwarded": (_bool, False),
        "ring_version": (_version, False),
    },
    "delete": {
        "key": (_key, True),
        "context": (_context, True),
        "w": (_quorum, False),
        "forwarded": (_bool, False),
        "ring_version": (_version, False),
    },
    "preflist": {"key": (_key, True)},
    "replica_get": {"key": (_key, True)},
    "replica_put": {"key": (_key, True), "obj": (_obj, True), "hint": (_name, False)},
    "gossip": {"state": (_state, True)},
    "ae_root": {"partition": (_partition, True)},
    "ae_leaves": {"partition": (_partition, True)},
    "ae_keys": {"partition": (_partition, True), "leaves": (_leaves, True)},
    "hint_check": {"key": (_key, True)},
    "replica_reap": {"key": (_key, True), "digest": (_digest, True)},
    "admin_join": {},
    "admin_leave": {},
    "hello": {},
    "auth": {"proof": (_proof, True)},
}
"""Every op and its fields: (check, required). ``id`` and ``op`` are common to all."""


def request_id(raw: object) -> int | None:
    """The id to echo in the reply: the request's, if it is one a client may pick."""
    rid = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(rid, int) and not isinstance(rid, bool) and -(2**63) <= rid < 2**64:
        return rid
    return None


def request(raw: object, limits: Limits | None = None) -> Message:
    """Check a decoded request in full; raise ``BadRequest`` naming the first fault."""
    limits = limits or Limits()
    if not isinstance(raw, dict):
        raise BadRequest(f"a request must be a map, not {_type(raw)}")
    op = raw.get("op")
    fields = OPS.get(op) if isinstance(op, str) else None
    if fields is None:
        raise BadRequest(f"unknown operation {str(op)[:40]!r}")
    if raw.get("id") is not None and request_id(raw) is None:
        raise BadRequest(f"{op}: the id must be an integer")
    for name in raw:
        if name not in fields and name not in ("id", "op"):
            raise BadRequest(f"{op}: unknown field {str(name)[:40]!r}")
    for name, (check, required) in fields.items():
        value = raw.get(name)
        if value is None:
            if required:
                raise BadRequest(f"{op}: missing field {name!r}")
            continue
        check(value, f"{op}: {name}", limits)
    return raw
