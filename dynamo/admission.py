"""Bounds on requests in flight: per connection and in total.

Every frame a node takes starts work that holds memory until its reply is sent. A connection
with ``per_connection`` requests in flight, or any connection while the node has ``total`` in
flight, is paused: the node stops reading it (``FrameProtocol.pause``), so further frames wait
in the kernel's buffers and TCP pushes back on the sender, instead of the node taking an
unbounded number of frames and tasks. A paused connection resumes as soon as a reply brings
both counts under their bounds again.
"""

from __future__ import annotations

from dynamo.protocol import FrameProtocol

DEFAULT_PER_CONNECTION = 512
DEFAULT_TOTAL = 4096


class Admission:
    def __init__(
        self, per_connection: int = DEFAULT_PER_CONNECTION, total: int = DEFAULT_TOTAL
    ) -> None:
        if per_connection < 1 or total < 1:
            raise ValueError("in-flight bounds must be at least 1")
        self.per_connection = per_connection
        self.total = total
        self.inflight = 0
        self._by_connection: dict[FrameProtocol, int] = {}
        self._paused: set[FrameProtocol] = set()

    def _full(self, conn: FrameProtocol) -> bool:
        return self.inflight >= self.total or self._by_connection[conn] >= self.per_connection

    def started(self, conn: FrameProtocol) -> None:
        """A request of ``conn`` was taken; pause ``conn`` if a bound is reached."""
        self.inflight += 1
        self._by_connection[conn] = self._by_connection.get(conn, 0) + 1
        if self._full(conn):
            self._paused.add(conn)
            conn.pause()

    def finished(self, conn: FrameProtocol) -> None:
        """A request of ``conn`` was answered; resume what may read again."""
        self.inflight -= 1
        left = self._by_connection.get(conn, 1) - 1
        if left > 0:
            self._by_connection[conn] = left
        else:
            self._by_connection.pop(conn, None)
        for paused in list(self._paused):
            if self.inflight >= self.total:
                break
            if self._by_connection.get(paused, 0) < self.per_connection:
                self._paused.discard(paused)
                paused.resume()

    def closed(self, conn: FrameProtocol) -> None:
        """``conn`` is gone: it is never resumed (its requests still count until answered)."""
        self._paused.discard(conn)

    @property
    def paused(self) -> int:
        return len(self._paused)
