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

HEADER = struct.Struct(">I")
DEFAULT_MAX_FRAME = 4 * 1024 * 1024
DEFAULT_MAX_VALUE = 1024 * 1024
MAX_KEY = 1024

Message = dict[str, Any]


def pack(msg: Message) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    return HEADER.pack(len(body)) + body


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
        reads_wait_for_writes: bool = False,
    ) -> None:
        """``reads_wait_for_writes`` (a server's connections): stop reading while the
        transport's write buffer is over its high-water mark, so a peer that sends requests
        and does not read the replies cannot make the node buffer them without end."""
        self._on_frame = on_frame
        self._on_close = on_close
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._held = False
        self._write_blocked = False
        self._reads_wait_for_writes = reads_wait_for_writes
        self.transport: asyncio.Transport | None = None
        self._packer = msgpack.Packer(use_bin_type=True)
        self._out: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._loop = asyncio.get_running_loop()
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._parse()

    def _parse(self) -> None:
        """Hand on every complete frame in the buffer, until ``pause``."""
        buf = self._buffer
        offset = 0
        try:
            while not self.paused and len(buf) - offset >= HEADER.size:
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

    @property
    def paused(self) -> bool:
        return self._held or self._write_blocked

    def pause(self) -> None:
        """Take no more frames: those already buffered wait, and the socket is not read, so
        TCP pushes back on the sender."""
        self._reading(held=True, write_blocked=self._write_blocked)

    def resume(self) -> None:
        self._reading(held=False, write_blocked=self._write_blocked)

    def pause_writing(self) -> None:
        if self._reads_wait_for_writes:
            self._reading(held=self._held, write_blocked=True)

    def resume_writing(self) -> None:
        if self._reads_wait_for_writes:
            self._reading(held=self._held, write_blocked=False)

    def _reading(self, *, held: bool, write_blocked: bool) -> None:
        was = self.paused
        self._held, self._write_blocked = held, write_blocked
        if self.paused == was:
            return
        transport = self.transport
        if self.paused:
            if transport is not None:
                transport.pause_reading()
            return
        if transport is not None and not transport.is_closing():
            transport.resume_reading()
        self._parse()

    def frame_error(self, exc: FrameError) -> None:
        """The stream is unreadable: say why (id unknown) and close."""
        if self.transport is not None and not self.transport.is_closing():
            error = {"code": "bad_request", "message": str(exc), "definite": True}
            self.transport.write(pack({"id": None, "ok": False, "error": error}))
            self.transport.close()

    def send(self, msg: Message) -> None:
        """Queue a frame; the frames of one loop tick go out in one write (one syscall)."""
        if self.transport is None or self.transport.is_closing():
            return
        body = self._packer.pack(msg)
        out = self._out
        out.append(HEADER.pack(len(body)))
        out.append(body)
        if len(out) == 2:
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._on_close is not None:
            self._on_close(exc)
