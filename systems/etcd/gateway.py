"""A small asyncio client of etcd's v3 JSON gateway (HTTP/1.1, one keep-alive connection).

etcd 3.4 serves its gRPC API as JSON at ``/v3/…`` with keys and values in base64. Only what
a workload needs is here. A connection that could not be opened, or a request that etcd
rejected for certain (a bad request), had no effect (``Definite``); anything else once the
request went out — a timeout, a reset, etcd's own "request timed out" or "leader changed" —
may have been committed (``Indefinite``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from systems.errors import Definite, Indefinite
from systems.stream import Stream

# gRPC codes that mean the request was refused before it was proposed
REFUSED = {3: "invalid argument", 5: "not found", 9: "failed precondition", 11: "out of range"}


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with ``prefix`` (ASCII prefixes)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


UNAVAILABLE = 14
"""gRPC's code for etcd's "leader changed", "no leader", "request timed out"."""


class GatewayError(Indefinite):
    def __init__(self, message: str, code: object = None) -> None:
        super().__init__(message)
        self.code = code


class Gateway(Stream):
    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``/v3/<path>``; the decoded JSON answer."""
        data = json.dumps(body).encode()
        head = (
            f"POST /v3/{path} HTTP/1.1\r\nHost: {self.address}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        status, answer = await self.exchange(head + data, read_response)
        try:
            decoded = json.loads(answer or b"{}")
        except ValueError as e:
            raise Indefinite(f"{self.address}: HTTP {status}: not JSON: {answer[:80]!r}") from e
        if status != 200:
            code = decoded.get("code")
            message = f"{self.address}: HTTP {status}: {decoded.get('error') or answer[:80]!r}"
            if code in REFUSED:
                raise Definite(message)
            raise GatewayError(message, code)
        return decoded


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (Content-Length or chunked)."""
    status_line = await reader.readuntil(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP response: {status_line[:60]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return status, bytes(body)
            body += (await reader.readexactly(size + 2))[:-2]
    return status, await reader.readexactly(int(headers.get("content-length", "0")))
