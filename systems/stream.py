"""One asyncio TCP connection that a wire client sends requests on, one at a time.

It holds the classification every adapter's client shares: a connection that cannot be
opened means the request was never sent (``Definite``); a timeout, reset or garbled answer
once it was sent leaves its effect unknown (``Indefinite``) and closes the connection, so
the next request starts on a fresh one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from systems.errors import Definite, Indefinite

T = TypeVar("T")


class Stream:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def exchange(
        self,
        request: bytes,
        answer: Callable[[asyncio.StreamReader], Awaitable[T]],
        timeout: float | None = None,
    ) -> T:
        """Send ``request`` (opening the connection if needed) and read ``answer`` back."""
        if self._writer is None:
            try:
                async with asyncio.timeout(self.timeout):
                    self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            except (OSError, TimeoutError) as e:
                raise Definite(f"connect {self.address}: {type(e).__name__}: {e}") from e
        assert self._reader is not None
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                self._writer.write(request)
                await self._writer.drain()
                return await answer(self._reader)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            await self.close()
            what = "timeout" if isinstance(e, TimeoutError) else f"{type(e).__name__}: {e}"
            raise Indefinite(f"{self.address}: {what}") from e

    async def close(self) -> None:
        w, self._reader, self._writer = self._writer, None, None
        if w is not None:
            w.close()
            try:
                async with asyncio.timeout(1.0):
                    await w.wait_closed()
            except (OSError, TimeoutError):
                pass
