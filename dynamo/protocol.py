"""The wire: length-prefixed msgpack frames over TCP, many requests per connection.

A frame is a 4-byte big-endian length and a msgpack map. A request carries ``id`` (an int the
client chooses; replies echo it, so one connection carries many requests at once) and ``op``.
A reply is ``{"id", "ok": true, ...}`` or ``{"id", "ok": false, "error": {code, message,
definite}}``. The full description is ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

import msgpack

from dynamo.errors import BadRequest

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 4 * 1024 * 1024
DEFAULT_MAX_VALUE = 1024 * 1024
MAX_KEY = 1024

Message = dict[str, Any]

# op -> {field: (types, required)}
_INT = (int,)
_SCHEMAS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "ping": {},
    "status": {},
    "get": {"key": ((str,), True), "r": (_INT, False), "local": ((bool,), False)},
    "put": {
        "key": ((str,), True),
        "value": ((bytes,), True),
        "context": ((str,), False),
        "w": (_INT, False),
        "forwarded": ((bool,), False),
    },
    "delete": {
        "key": ((str,), True),
        "context": ((str,), True),
        "w": (_INT, False),
        "forwarded": ((bool,), False),
    },
    "replica_get": {"key": ((str,), True)},
    "replica_put": {"key": ((str,), True), "obj": ((dict,), True), "hint": ((str,), False)},
    "gossip": {"state": ((dict,), True)},
    "ae_root": {"partition": (_INT, True)},
    "ae_leaves": {"partition": (_INT, True)},
    "ae_keys": {"partition": (_INT, True), "leaves": ((list,), True)},
    "hint_check": {"key": ((str,), True)},
    "replica_reap": {"key": ((str,), True), "digest": ((bytes,), True)},
    "admin_join": {},
    "admin_leave": {},
}


def pack(msg: Message) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def validate(msg: object, *, max_value: int = DEFAULT_MAX_VALUE) -> Message:
    """Check a decoded request against its op's schema; raise ``BadRequest`` with the reason."""
    if not isinstance(msg, dict):
        raise BadRequest("a request must be a map")
    op = msg.get("op")
    schema = _SCHEMAS.get(op) if isinstance(op, str) else None
    if schema is None:
        raise BadRequest(f"unknown operation {op!r}")
    for name, (types, required) in schema.items():
        value = msg.get(name)
        if value is None:
            if required:
                raise BadRequest(f"{op}: missing field {name!r}")
            continue
        if not isinstance(value, types) or (types is _INT and isinstance(value, bool)):
            raise BadRequest(
                f"{op}: field {name!r} must be {'/'.join(t.__name__ for t in types)}, "
                f"not {type(value).__name__}"
            )
    key = msg.get("key")
    if isinstance(key, str) and not 0 < len(key) <= MAX_KEY:
        raise BadRequest(f"{op}: a key must be 1 to {MAX_KEY} characters")
    value = msg.get("value")
    if isinstance(value, bytes) and len(value) > max_value:
        raise BadRequest(f"{op}: value of {len(value)} bytes is over the {max_value}-byte limit")
    return msg


class FrameError(Exception):
    """The byte stream cannot be read as frames any more; the connection must close."""


class FrameProtocol(asyncio.Protocol):
    """Splits a TCP stream into msgpack frames and hands each to ``on_frame``."""

    def __init__(
        self,
        on_frame: Callable[[object], None],
        on_close: Callable[[Exception | None], None] | None = None,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self._on_frame = on_frame
        self._on_close = on_close
        self.max_frame = max_frame
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        offset = 0
        try:
            while len(buf) - offset >= HEADER.size:
                (length,) = HEADER.unpack_from(buf, offset)
                if length > self.max_frame:
                    raise FrameError(f"frame of {length} bytes is over the {self.max_frame} limit")
                end = offset + HEADER.size + length
                if len(buf) < end:
                    break
                body = bytes(buf[offset + HEADER.size : end])
                offset = end
                try:
                    msg = msgpack.unpackb(body, raw=False)
                except Exception as exc:
                    raise FrameError(f"malformed msgpack frame: {exc}") from exc
                self._on_frame(msg)
        except FrameError as exc:
            del buf[:]
            self.frame_error(exc)
            return
        del buf[:offset]

    def frame_error(self, exc: FrameError) -> None:
        """The stream is unreadable: say why (id unknown) and close."""
        if self.transport is not None and not self.transport.is_closing():
            error = {"code": "bad_request", "message": str(exc), "definite": True}
            self.transport.write(pack({"id": None, "ok": False, "error": error}))
            self.transport.close()

    def send(self, msg: Message) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(pack(msg))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._on_close is not None:
            self._on_close(exc)
