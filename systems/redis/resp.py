"""A small asyncio client of the Redis protocol (RESP2): one connection, one call at a time.

Errors are classified where the socket can tell: a connection that could not be opened, or
an error reply, means the command had no effect (``Definite``); a timeout or reset once the
command was sent leaves its effect unknown (``Indefinite``) and closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from systems.errors import Definite
from systems.stream import Stream

Reply = bytes | int | list["Reply"] | None


class ReplyError(Definite):
    """The server answered ``-ERR …``: the command was refused."""

    @property
    def code(self) -> str:
        return str(self).split(" ", 1)[0]


def encode(args: Sequence[bytes | str | int]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Reply | ReplyError:
    """One reply; an error reply is returned (not raised) so arrays can hold them."""
    line = await reader.readuntil(b"\r\n")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        return ReplyError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = await reader.readexactly(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(body)
        if n < 0:
            return None
        items: list[Reply] = []
        for _ in range(n):
            item = await read_reply(reader)
            if isinstance(item, ReplyError):
                raise item
            items.append(item)
        return items
    raise ValueError(f"protocol error: unexpected reply {line[:40]!r}")


class Connection(Stream):
    """One connection to ``host:port``, opened on first use, reopened after a failure."""

    async def call(self, *args: bytes | str | int, timeout: float | None = None) -> Reply:
        """Send one command and return its reply; raise ``Definite`` or ``Indefinite``."""
        reply = await self.exchange(encode(args), read_reply, timeout)
        if isinstance(reply, ReplyError):
            raise reply
        return reply
