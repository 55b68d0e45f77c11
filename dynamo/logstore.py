"""Durable storage as an append-only log (Bitcask's design): ``dynamo node --storage log``.

One file, ``<data dir>/data.log/current``, is a sequence of frames; each frame is one batch
of the writer thread: a header (body length, CRC-32 of the body, little-endian u32s), then a
body of msgpack records laid end to end::

    [PUT, key, blob, hint or None]   [DELETE, key]   [HINT, key, target]
    [UNHINT, key, target]            [META, name, value]

A batch is made durable with one ``pwrite`` and one ``fdatasync``: that replaces SQLite's
commit (its B-tree pages, WAL frames and checksums) and is most of why this engine costs
less CPU per put. The file is kept a MiB of written zeros ahead of its last frame, so most
``fdatasync``s have no new size to journal; replay ends at the first zeroed header. The
futures of a batch resolve after its ``fdatasync`` returned, exactly as ``SqliteStorage``'s
after ``COMMIT``; the group commit, the cache of decoded objects and reads of queued writes
are the same code (``GroupCommitStorage``).

In memory, a key directory maps each live key to where its record lies (offset, length)
and its hash prefix; a read the cache misses is one ``pread``. The live keys are also kept
in 4,096 buckets by the top bits of their hash prefix, so ``scan`` of a partition looks only
at the keys of the buckets the partition covers. Metadata and hints are kept whole in
memory. All of it is rebuilt at open by replaying the file. A frame that fails its check
at the end of the file is a batch a power cut tore (it was never acknowledged: its
``fdatasync`` had not returned) and is cut off; one with good data after it is corruption
of acknowledged data, and the open fails naming the file and offset.

Compaction (Bitcask's merge) runs on the writer thread between batches once the dead bytes
(overwritten and deleted records, headers, old metadata) exceed both the live bytes and
``compact_min``: it writes the live records to ``data.log/compact``, ``fdatasync``s it,
renames it over ``current`` and ``fsync``s the directory before the next batch. A crash at
any step leaves either the old file (and a partial ``compact``, removed at open) or the new
one, each complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import msgpack

from dynamo.storage import (
    CACHE_OBJECTS,
    HASH_PREFIX_BITS,
    GroupCommitStorage,
    VersionedObject,
    Write,
    drop_hint,
    hash_prefix,
)

PUT, DELETE, HINT, UNHINT, META = range(5)
HEADER = struct.Struct("<II")
COMPACT_MIN = 16 << 20
COMPACT_CHUNK = 1 << 20
"""Bytes of records per frame of a compacted file."""
PREALLOCATE = 1 << 20
"""Zeros written ahead of the last frame at a time, so most ``fdatasync``s change no size."""
BUCKET_SHIFT = HASH_PREFIX_BITS - 12
"""A key's bucket is its hash prefix's top 12 bits: a partition of a ring of up to 4,096 is
one bucket or more, never part of one."""

log = logging.getLogger(__name__)


class CorruptLog(Exception):
    """Acknowledged data on disk fails its check: the node must not start on it."""


class Slot(NamedTuple):
    offset: int
    length: int
    h: int


def frames(data: bytes, name: str) -> Iterator[tuple[int, int, bytes]]:
    """(offset, end, body) of each good frame. Stops at a torn tail — a header cut short,
    zeroed or claiming more bytes than there are, or a body that fails its CRC with nothing
    but zeros after it (the caller cuts the file at the end of the last good frame) — and
    raises ``CorruptLog`` where a tail cannot be torn: a frame that fails its CRC with data
    after it, or any bad spot with a good frame after it (a zeroed sector or a damaged length
    in the middle of the file: cutting there would drop acknowledged batches)."""
    pos, size = 0, len(data)
    while pos < size:
        if size - pos < HEADER.size:
            break
        length, crc = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if end > size or (length, crc) == (0, 0):
            break
        body = data[pos + HEADER.size : end]
        if zlib.crc32(body) != crc:
            if data.count(0, end) < size - end:
                raise CorruptLog(f"{name}: corrupt frame at offset {pos} with data after it")
            return
        yield pos, end, body
        pos = end
    if pos < size and (good := next_frame(data, pos + 1)) is not None:
        raise CorruptLog(f"{name}: bad frame header at offset {pos}, a good frame at {good}")


FRAME_START = re.compile(rb"[\x92-\x94][\x00-\x04]")
"""What a frame's body starts with: the msgpack array header of a record (2 to 4 items) and
its kind (PUT to META)."""


def next_frame(data: bytes, start: int) -> int | None:
    """The offset of the first good frame (a sane length, its CRC right) at or after
    ``start``, or None. Only where a body could start is looked at: about one candidate per
    record after ``start``."""
    size = len(data)
    for match in FRAME_START.finditer(data, start + HEADER.size):
        pos = match.start() - HEADER.size
        length, crc = HEADER.unpack_from(data, pos)
        body = match.start()
        if 0 < length <= size - body and zlib.crc32(data[body : body + length]) == crc:
            return pos
    return None


def records(body: bytes) -> Iterator[tuple[int, int, list[Any]]]:
    """(offset in body, length, record) of each record of a frame's body."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(body)
    start = 0
    for record in unpacker:
        end = unpacker.tell()
        yield start, end - start, record
        start = end


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Replay makes a tuple per key and no reference cycles; the cyclic collector, walking
    them again and again as they pile up, added about a tenth to a million-key replay (4.3-4.6 s
    against 3.9-4.2 s paused, three alternating pairs in one process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body), zlib.crc32(body)) + body


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class LogStorage(GroupCommitStorage):
    """An append-only log with an in-memory key directory, group-committed by the writer
    thread, compacted when it is more than half dead."""

    def __init__(
        self,
        path: Path,
        *,
        buffered: bool = False,
        cache_objects: int = CACHE_OBJECTS,
        compact_min: int = COMPACT_MIN,
    ) -> None:
        super().__init__(buffered=buffered, cache_objects=cache_objects)
        self.path = path
        self.compact_min = compact_min
        self.compactions = 0
        if not path.exists():
            path.mkdir(parents=True)
            _fsync_dir(path.parent)
        self._dir_lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._dir_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._dir_lock)
            raise RuntimeError(f"{path} is in use by another process") from None
        self._keys: dict[str, Slot] = {}
        """Each live key's record in the file (written by the writer thread under _lock)."""
        self._buckets: dict[int, set[str]] = {}
        """The live keys by the top bits of their hash prefix (``BUCKET_SHIFT``), for ``scan``
        (written with ``_keys``)."""
        self._lock = threading.Lock()
        """Held by a reader off the writer thread while it looks in _keys or reads the file,
        and by the writer while it changes _keys or swaps the file."""
        self._disk_hints: dict[str, set[str]] = {}
        """The hints on disk (writer thread): what a compaction writes."""
        self._meta: dict[str, str] = {}
        self._live = 0
        """Bytes of the records of live keys."""
        self._failed: BaseException | None = None
        """A failed fdatasync: what is on disk is unknown, so nothing more is written."""
        self._compact_at = 0
        """Size below which no compaction is tried (moved on after one fails)."""
        self._compact_now = False
        """``compact`` asked for one."""
        (path / "compact").unlink(missing_ok=True)
        try:
            self._fd, self._size = self._open_current()
            self._allocated = os.fstat(self._fd).st_size
            """The file's size: zeros from ``_size`` on."""
        except BaseException:
            os.close(self._dir_lock)
            raise
        for key, targets in self._disk_hints.items():
            self.hints[key] = set(targets)
        self._start()

    # --- replay ----------------------------------------------------------------------------

    def _open_current(self) -> tuple[int, int]:
        current = self.path / "current"
        created = not current.exists()
        fd = os.open(current, os.O_RDWR | os.O_CREAT, 0o644)
        if created:
            os.fsync(fd)
            _fsync_dir(self.path)
        try:
            with open(current, "rb") as f:
                data = f.read()
            size = 0
            with collector_paused():
                for offset, end, body in frames(data, str(current)):
                    self._apply(offset + HEADER.size, body)
                    size = end
            if data.count(0, size) < len(data) - size:  # not only the zeros written ahead
                log.warning("%s: cut a torn tail of %d bytes", current, len(data) - size)
                os.ftruncate(fd, size)  # never acknowledged: its fdatasync had not returned
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return fd, size

    def _apply(self, base: int, body: bytes) -> None:
        """Replay a frame whose body starts at file offset ``base``."""
        for offset, length, record in records(body):
            self._apply_record(record, base + offset, length)

    def _apply_record(self, record: list[Any], offset: int, length: int) -> None:
        """Bring the key directory, hints and metadata up to date with a durable record (the
        opener, or the writer thread under ``_lock``)."""
        kind, key, keys, hints = record[0], record[1], self._keys, self._disk_hints
        if kind == PUT:
            old = keys.get(key)
            if old is None:
                h = hash_prefix(key)
                self._buckets.setdefault(h >> BUCKET_SHIFT, set()).add(key)
            else:
                self._live -= old.length
                h = old.h
            self._live += length
            keys[key] = Slot(offset, length, h)
            if record[3] is not None:
                hints.setdefault(key, set()).add(record[3])
        elif kind == DELETE:
            old = keys.pop(key, None)
            if old is not None:
                self._live -= old.length
                self._buckets[old.h >> BUCKET_SHIFT].discard(key)
        elif kind == HINT:
            hints.setdefault(key, set()).add(record[2])
        elif kind == UNHINT:
            drop_hint(hints, record[2], key)
        else:
            self._meta[key] = record[2]

    # --- reads ---------------------------------------------------------------------------

    def _read_disk(self, key: str) -> bytes | None:
        with self._lock:
            slot = self._keys.get(key)
            if slot is None:
                return None
            data = os.pread(self._fd, slot.length, slot.offset)
        try:
            record = msgpack.unpackb(data, raw=False)
        except ValueError:
            record = None
        if not (isinstance(record, list) and record[:2] == [PUT, key]):
            raise CorruptLog(f"{self.path / 'current'}: bad record at offset {slot.offset}")
        blob: bytes = record[2]
        return blob

    def scan(self, low: int, high: int) -> Iterator[tuple[str, VersionedObject]]:
        found: list[str] = []
        with self._lock:
            slots, buckets = self._keys, self._buckets
            for bucket in range(low >> BUCKET_SHIFT, ((high - 1) >> BUCKET_SHIFT) + 1):
                found += [k for k in buckets.get(bucket, ()) if low <= slots[k].h < high]
        keys = sorted(found)
        cache = self._cache
        for key in keys:
            obj = cache[key] if key in cache else self._read(key)
            if obj is not None:
                yield key, obj

    def count(self) -> int:
        return len(self._keys)

    def meta_get(self, name: str) -> str | None:
        return self._meta.get(name)

    def meta_set(self, name: str, value: str) -> None:
        """Queued to the writer like a put; returns once its batch is on disk."""
        self._ask(Write("meta", name, value.encode()))

    def compact(self) -> None:
        """Have the writer compact the file after its next batch; return once it has."""
        self._ask(Write("compact", ""))

    def _ask(self, write: Write) -> None:
        """Queue ``write`` from any thread and wait for the writer to be done with it."""
        if self._closed:
            raise RuntimeError("storage is closed")
        write.synced = threading.Event()
        self._queue.put(write)
        write.synced.wait()
        if write.error is not None:
            raise write.error

    # --- the writer thread -----------------------------------------------------------------

    def _commit(self, batch: list[Write]) -> BaseException | None:
        if self._failed is not None:
            return self._failed
        packb = msgpack.packb
        applied: list[list[Any]] = []
        for w in batch:
            if w.op == "compact":
                self._compact_now = True
            elif w.op == "put":
                applied.append([PUT, w.key, w.blob, w.target])
            elif w.op == "delete":
                applied.append([DELETE, w.key])
            elif w.op == "unhint":
                applied.append([UNHINT, w.key, w.target])
            else:
                assert w.blob is not None
                applied.append([META, w.key, w.blob.decode()])
        if not applied:
            return None
        parts = [packb(record) for record in applied]
        body = b"".join(parts)
        data = frame(body)
        end = self._size + len(data)
        try:
            if end > self._allocated:  # this fdatasync journals the new size, once a MiB
                _write_all(self._fd, bytes(end + PREALLOCATE - self._allocated), self._allocated)
                self._allocated = end + PREALLOCATE
            _write_all(self._fd, data, self._size)
        except OSError as e:
            try:
                os.ftruncate(self._fd, self._size)
                self._allocated = self._size
            except OSError:
                self._failed = e
            return e
        try:
            os.fdatasync(self._fd)
        except OSError as e:
            self._failed = e
            return e
        offset = self._size + HEADER.size
        with self._lock:
            for record, part in zip(applied, parts, strict=True):
                self._apply_record(record, offset, len(part))
                offset += len(part)
        self._size += len(data)
        return None

    def _after_batch(self) -> None:
        dead = self._size - self._live
        due = dead > max(self._live, self.compact_min) and self._size >= self._compact_at
        if self._failed is None and (due or self._compact_now):
            self._compact()
        self._compact_now = False

    def _reached(self, step: str) -> None:
        """A test seam: called at each step of a compaction."""

    def _compact(self) -> None:
        """Rewrite the live records to a new file and rename it over ``current`` (the
        writer thread, between batches; or a test, with the writer idle)."""
        compact, current = self.path / "compact", self.path / "current"
        fd = os.open(compact, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        keys: dict[str, Slot] = {}
        size, chunk, chunk_keys = 0, bytearray(), []

        def flush() -> None:
            nonlocal size, chunk
            if chunk:
                data = frame(bytes(chunk))
                _write_all(fd, data, size)
                base = size + HEADER.size
                for key, offset, length in chunk_keys:
                    keys[key] = Slot(base + offset, length, self._keys[key].h)
                size += len(data)
                chunk = bytearray()
                chunk_keys.clear()

        def add(record: list[Any], key: str | None = None) -> None:
            packed = msgpack.packb(record)
            if key is not None:
                chunk_keys.append((key, len(chunk), len(packed)))
            chunk.extend(packed)
            if len(chunk) >= COMPACT_CHUNK:
                flush()

        try:
            for key, slot in self._keys.items():
                record = msgpack.unpackb(os.pread(self._fd, slot.length, slot.offset), raw=False)
                add([PUT, key, record[2], None], key)
            for key, targets in self._disk_hints.items():
                for target in sorted(targets):
                    add([HINT, key, target])
            for name, value in self._meta.items():
                add([META, name, value])
            flush()
            self._reached("written")
            os.fdatasync(fd)
            self._reached("synced")
        except OSError as e:  # the old file is whole: go on with it, try again later
            os.close(fd)
            compact.unlink(missing_ok=True)
            self._compact_at = self._size + self.compact_min
            log.warning("compaction of %s failed: %s", self.path, e)
            return
        try:
            os.rename(compact, current)
            self._reached("renamed")
            _fsync_dir(self.path)
            self._reached("dir synced")
        except OSError as e:  # which file is current after a crash is unknown: stop writing
            self._failed = e
            os.close(fd)
            log.error("compaction of %s failed after the rename: %s", self.path, e)
            return
        with self._lock:
            old, self._fd, self._keys = self._fd, fd, keys
        os.close(old)
        self._size = self._allocated = size
        self._live = sum(s.length for s in keys.values())
        self.compactions += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()
        os.close(self._fd)
        os.close(self._dir_lock)
