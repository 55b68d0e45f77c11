"""One file's volatile state: the page cache of a filesystem that loses what was not synced.

A ``Pages`` holds an open descriptor on the backing file (what a power loss keeps) and, in
memory, every page written since the last sync, the file's current size, and how much of
the backing file is still part of the file (a truncate makes the rest read as zeros even
before it is synced). ``sync`` writes the dirty pages out in page order and fsyncs the
backing file; ``drop`` forgets them, as a power loss would. Nothing here knows FUSE, so
the page cache can be checked against a two-bytearray model without a mount.
"""

from __future__ import annotations

import os

PAGE = 4096


class Pages:
    """The volatile view of one backing file (an inode of ours). Invariants: bytes at or
    past ``size`` in a dirty page are zero, and ``durable_limit <= size``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pages: dict[int, bytearray] = {}
        self.size = 0
        self.durable_limit = 0
        self.drop()

    @property
    def dirty(self) -> bool:
        """Whether anything would be lost by a drop now."""
        if self.pages or self.size != self.durable_limit:
            return True
        return self._backing_size() != self.size

    def dirty_bytes(self) -> int:
        return len(self.pages) * PAGE

    def _backing_size(self) -> int:
        return os.fstat(self.fd).st_size

    def _base_page(self, index: int) -> bytearray:
        """Page ``index`` as the backing file holds it, zeros past ``durable_limit``."""
        start = index * PAGE
        page = bytearray(PAGE)
        valid = min(PAGE, self.durable_limit - start)
        if valid > 0:
            data = os.pread(self.fd, valid, start)
            page[: len(data)] = data
        return page

    def _page(self, index: int) -> bytearray:
        page = self.pages.get(index)
        if page is None:
            page = self.pages[index] = self._base_page(index)
        return page

    def read(self, size: int, offset: int) -> bytes:
        end = min(offset + size, self.size)
        if offset >= end:
            return b""
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, end - pos)
            page = self.pages.get(index)
            if page is None:
                page = self._base_page(index)
            out += page[within : within + take]
            pos += take
        return bytes(out)

    def write(self, data: bytes, offset: int) -> int:
        pos = 0
        while pos < len(data):
            index, within = divmod(offset + pos, PAGE)
            take = min(PAGE - within, len(data) - pos)
            self._page(index)[within : within + take] = data[pos : pos + take]
            pos += take
        self.size = max(self.size, offset + len(data))
        return len(data)

    def truncate(self, length: int) -> None:
        if length < self.size:
            self.durable_limit = min(self.durable_limit, length)
            index, within = divmod(length, PAGE)
            for i in [i for i in self.pages if i > index or (i == index and within == 0)]:
                del self.pages[i]
            if within and index in self.pages:
                self.pages[index][within:] = bytes(PAGE - within)
        self.size = length

    def sync(self, datasync: bool = False) -> None:
        """Make the current contents durable: zero what a truncate cut, write the dirty
        pages in order, fsync (or fdatasync) the backing file."""
        os.ftruncate(self.fd, self.durable_limit)
        os.ftruncate(self.fd, self.size)
        for index in sorted(self.pages):
            start = index * PAGE
            length = min(PAGE, self.size - start)
            if length > 0:
                os.pwrite(self.fd, bytes(self.pages[index][:length]), start)
        (os.fdatasync if datasync else os.fsync)(self.fd)
        self.pages.clear()
        self.durable_limit = self.size

    def drop(self) -> None:
        """Forget everything not synced: the file is what its backing file holds."""
        self.pages.clear()
        self.size = self.durable_limit = self._backing_size()

    def close(self) -> None:
        os.close(self.fd)
