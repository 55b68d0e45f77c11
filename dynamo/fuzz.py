"""A structure-aware fuzzer of the wire protocol, for ``tests/dynamo/test_fuzz.py`` and
``bench/fuzz_bench.py`` (it needs hypothesis: the ``test`` extra; the node never imports it).

Frames are of two kinds. *Requests*: every op of ``schema.OPS`` with its fields drawn valid
most of the time and wrong otherwise — a wrong scalar, a missing or extra field, or a valid
nested structure (versioned object, cluster state, context) broken at one random depth.
*Raw bytes*: bodies that are not msgpack maps, and lengths that lie. ``Target`` sends them to
a node through a real socket and checks every reply: one reply per request frame, each a map
with ``ok``, and every error one of the codes a client can be told; ``remote`` (the node
failed on a request) or no reply in time is a crash.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from hypothesis import strategies as st

from dynamo import schema
from dynamo.errors import BadRequest
from dynamo.logstore import META, PUT, frames, records
from dynamo.protocol import HEADER
from dynamo.versions import encode_context

ANSWERS = {"bad_request", "quorum", "timeout", "connect", "not_authorised"}
"""Error codes a hostile frame may get; anything else (``remote``) is a crash."""

NAMES = ("n1", "n2", "n3")
CLOSED_PORT = 9  # the discard port: nothing listens on loopback, connections are refused

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=16)
    | st.binary(max_size=32)
)
junk = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
"""Any msgpack value at all."""

keys = st.sampled_from([f"k{i}" for i in range(8)]) | st.text(min_size=1, max_size=24)
actors = st.sampled_from(["n1.aaaaaa.1", "n2.bbbbbb.7"]) | st.text(min_size=1, max_size=12)
vvs = st.dictionaries(actors, st.integers(1, 6), max_size=3)


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid versioned object: distinct dots, each covered by the version vector."""
    vv = draw(vvs)
    dots = sorted({(a, draw(st.integers(1, c))) for a, c in vv.items() for _ in range(2)})
    chosen = draw(st.lists(st.sampled_from(dots), unique=True, max_size=3)) if dots else []
    siblings = [
        [a, c, draw(st.floats(0, 2e9)), draw(st.none() | st.binary(max_size=48))] for a, c in chosen
    ]
    return {"s": siblings, "v": vv}


@st.composite
def states(draw: st.DrawFn, address: str) -> dict[str, Any]:
    """A valid cluster state around the node at ``address`` (named n1); other members'
    addresses refuse connections, so nothing waits on them."""
    names = ["n1", *draw(st.lists(st.sampled_from(NAMES[1:]), unique=True))]
    members = {
        n: {
            "address": address if n == "n1" else f"127.0.0.1:{CLOSED_PORT}",
            "status": draw(st.sampled_from(schema.STATUSES)),
            "version": draw(st.integers(0, 6)),
        }
        for n in names
    }
    size = draw(st.sampled_from([64, 64, 64, 8]))
    ring = draw(st.none() | st.lists(st.sampled_from(names), min_size=size, max_size=size))
    return {"members": members, "ring": ring, "ring_version": draw(st.integers(0, 6))}


@st.composite
def broken(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid structure with one part, at a random depth, replaced by junk."""
    value = draw(valid)
    if not isinstance(value, dict | list) or not value:
        return draw(junk)
    node: Any = value
    while True:
        slots = list(node) if isinstance(node, dict) else list(range(len(node)))
        slot = draw(st.sampled_from(slots))
        child = node[slot]
        if isinstance(child, dict | list) and child and draw(st.booleans()):
            node = child
            continue
        node[slot] = draw(junk)
        return value


def fields(address: str) -> dict[str, st.SearchStrategy[Any]]:
    """A valid value of every field of ``schema.OPS``."""
    return {
        "key": keys,
        "r": st.integers(0, 3),
        "local": st.booleans(),
        "value": st.binary(max_size=64),
        "context": st.just("") | vvs.map(encode_context),
        "w": st.integers(0, 3),
        "forwarded": st.booleans(),
        "ring_version": st.integers(-1, 3) | st.integers(0, 2**62),
        "obj": objects(),
        "hint": st.sampled_from(NAMES) | st.text(max_size=8),
        "state": states(address),
        "partition": st.integers(0, 63) | st.integers(-3, 5000),
        "leaves": st.lists(st.integers(0, 255), max_size=8),
        "digest": st.binary(min_size=8, max_size=8),
        "proof": st.binary(min_size=32, max_size=32),
    }


def _often(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid three times in five, else broken inside or replaced whole."""
    return st.one_of(valid, valid, valid, broken(valid), junk)


def _request(
    op: str, valid: dict[str, st.SearchStrategy[Any]], *, broken: bool
) -> st.SearchStrategy[dict[str, Any]]:
    ident: st.SearchStrategy[Any] = st.integers(0, 2**32)
    required: dict[str, st.SearchStrategy[Any]] = {"op": st.just(op), "id": ident}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if broken:
        required["id"] = ident | junk
        optional["extra"] = junk
    for name, (_, needed) in schema.OPS[op].items():
        value = _often(valid[name]) if broken else valid[name]
        (required if needed and not broken else optional)[name] = value
    return st.fixed_dictionaries(required, optional=optional)


def requests(address: str) -> st.SearchStrategy[Any]:
    """A request frame's content: a well-formed request of an op half the time, one with
    broken, missing or extra fields otherwise, and now and then anything at all."""
    valid = fields(address)
    return st.one_of(
        *(_request(op, valid, broken=b) for op in schema.OPS for b in (False, True)), junk
    )


def _framed(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


raw_frames = st.one_of(
    st.binary(max_size=64).map(_framed),
    st.binary(max_size=64),
    st.builds(lambda n, b: struct.pack(">I", n) + b, st.integers(0, 2**32 - 1), st.binary()),
    junk.map(lambda v: _framed(msgpack.packb(v, use_bin_type=True))),
)
"""Bytes as they come: lying lengths, cut frames, bodies that are not requests."""


@dataclass
class Tally:
    frames: int = 0
    raw: int = 0
    ops: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)


class Target:
    """A node under fuzz: frames go to it over real sockets, every reply is checked."""

    def __init__(self, address: str, *, timeout: float = 10.0) -> None:
        host, _, port = address.rpartition(":")
        self.where = (host, int(port))
        self.timeout = timeout
        self.tally = Tally()
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.where, timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def send(self, messages: list[Any]) -> list[str]:
        """Pipeline request frames on one connection; expect one good reply for each.
        Returns the crashes they caused."""
        seen = len(self.tally.crashes)
        if self._sock is None:
            self._sock = self._connect()
        sock = self._sock
        sock.sendall(b"".join(_framed(msgpack.packb(m, use_bin_type=True)) for m in messages))
        for m in messages:
            op = m.get("op") if isinstance(m, dict) else None
            self.tally.ops[op if isinstance(op, str) and op in schema.OPS else "(none)"] += 1
        self.tally.frames += len(messages)
        for _ in messages:
            reply = self._reply(sock)
            if reply is None:
                self._crash(f"no reply to a request frame in {self.timeout:g}s")
                self.close()
                break
            self._check(reply)
        return self.tally.crashes[seen:]

    def send_raw(self, data: bytes) -> list[str]:
        """Raw bytes on a fresh connection, then end of input: the node may answer (an error
        for an unreadable stream) and close, but must not crash."""
        seen = len(self.tally.crashes)
        self.tally.frames += 1
        self.tally.raw += 1
        with self._connect() as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while (reply := self._reply(sock)) is not None:
                self._check(reply)
        return self.tally.crashes[seen:]

    def _reply(self, sock: socket.socket) -> Any:
        try:
            header = _read(sock, HEADER.size)
            if header is None:
                return None
            body = _read(sock, HEADER.unpack(header)[0])
        except (TimeoutError, ConnectionError):
            return None
        return None if body is None else msgpack.unpackb(body, raw=False)

    def _check(self, reply: Any) -> None:
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._crash(f"not a reply: {reply!r:.200}")
        elif reply["ok"]:
            self.tally.answers["ok"] += 1
        else:
            error = reply.get("error") or {}
            code = error.get("code")
            self.tally.answers[str(code)] += 1
            if code not in ANSWERS:
                self._crash(f"{code}: {error.get('message')!r:.300}")

    def _crash(self, what: str) -> None:
        self.tally.crashes.append(what)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _read(sock: socket.socket, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 16))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def stored(data_dir: Path) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Every object blob (key, blob) and every cluster state (JSON text) a node's data
    directory holds, whichever engine wrote it: SQLite's current rows, or every record the
    log was ever written with (overwritten ones too, until a compaction drops them)."""
    objects: list[tuple[str, bytes]] = []
    states: list[str] = []
    db, current = data_dir / "data.sqlite", data_dir / "data.log" / "current"
    if not db.exists() and not current.exists():
        raise FileNotFoundError(f"{data_dir} holds neither engine's files")
    if db.exists():
        with contextlib.closing(sqlite3.connect(db)) as conn:
            objects += conn.execute("SELECT key, obj FROM objects").fetchall()
            rows = conn.execute("SELECT value FROM meta WHERE name = 'cluster_state'")
            states += [text for (text,) in rows]
    if current.exists():
        for _, _, body in frames(current.read_bytes(), str(current)):
            for _, _, record in records(body):
                if record[0] == PUT:
                    objects.append((record[1], record[2]))
                elif record[0] == META and record[1] == "cluster_state":
                    states.append(record[2])
    return objects, states


def bad_stored(data_dir: Path) -> list[str]:
    """What a node's data directory holds that it should never have saved: objects or a
    cluster state that do not pass ``schema``."""
    bad = []
    objects, states = stored(data_dir)
    for key, blob in objects:
        try:
            schema.check_object(msgpack.unpackb(blob), key, local=True)
        except (BadRequest, ValueError) as exc:
            bad.append(f"object {key!r}: {exc}")
    for text in states:
        try:
            schema.check_state(json.loads(text), "saved state")
        except (BadRequest, ValueError) as exc:
            bad.append(f"cluster state: {exc}")
    return bad
