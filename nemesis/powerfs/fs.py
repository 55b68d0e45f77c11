"""The FUSE filesystem: a passthrough over a backing directory whose file data lives in a
page cache of ours (``Pages``) until ``fsync``/``fdatasync`` of that file, or ``sync``.

What is durable at once and what is not, as in LazyFS: the namespace (create, mkdir,
rename, unlink, rmdir, chmod) goes straight to the backing directory, so a directory fsync
has nothing left to do; file contents (writes and truncates) stay volatile until synced.
A crash therefore leaves a file created but never synced empty — the classic torn
"write a temp file, rename it over" bug shows.

Control: the file ``/.powerfs`` at the root. Writing ``drop`` to it forgets every unsynced
byte (a power loss), ``sync`` makes everything durable; reading it gives a status line.
Locks (SQLite's ``fcntl`` locks) are left to the kernel: no ``lock`` operation is given, so
it keeps them locally; shared ``mmap`` (SQLite's WAL index ``-shm``) goes through the
kernel's page cache, which writes back and reads through us.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import mfusepy

from nemesis.powerfs.pages import Pages

CONTROL = "/.powerfs"
COMMANDS = ("drop", "sync")
_STAT_KEYS = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_blocks")
_TIME_KEYS = ("st_atime", "st_mtime", "st_ctime")


def _error(code: int) -> mfusepy.FuseOSError:
    return mfusepy.FuseOSError(code)


class PowerFs(mfusepy.Operations):
    """Passthrough with volatile file data. One lock serialises every operation."""

    use_ns = True

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self._mutex = threading.RLock()
        self.inodes: dict[int, Pages] = {}  # backing st_ino -> its page cache
        self.handles: dict[int, tuple[int, int]] = {}  # fh -> (st_ino, opened count key)
        self.open_count: dict[int, int] = {}
        self.next_fh = 1
        self.drops = 0
        self.syncs = 0

    # ---------------------------------------------------------------- helpers
    def _path(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _inode(self, path: str) -> tuple[int, Pages]:
        """The page cache of the file at ``path`` (opening its backing file if new)."""
        full = self._path(path)
        ino = os.lstat(full).st_ino
        pages = self.inodes.get(ino)
        if pages is None:
            pages = self.inodes[ino] = Pages(os.open(full, os.O_RDWR))
        return ino, pages

    def _forget(self, ino: int) -> None:
        """Close an inode nobody has open that has nothing unsynced, or that is unlinked."""
        pages = self.inodes.get(ino)
        if pages is None or self.open_count.get(ino, 0) > 0:
            return
        if not pages.dirty or os.fstat(pages.fd).st_nlink == 0:
            pages.close()
            del self.inodes[ino]

    def status(self) -> str:
        dirty = [p for p in self.inodes.values() if p.dirty]
        pending = sum(p.dirty_bytes() for p in dirty)
        return (
            f"files={len(self.inodes)} dirty_files={len(dirty)} dirty_bytes={pending} "
            f"drops={self.drops} syncs={self.syncs}\n"
        )

    def drop(self) -> None:
        with self._mutex:
            for ino in list(self.inodes):
                self.inodes[ino].drop()
                self._forget(ino)
            self.drops += 1

    def sync(self) -> None:
        with self._mutex:
            for ino in list(self.inodes):
                self.inodes[ino].sync()
                self._forget(ino)
            self.syncs += 1

    # ------------------------------------------------------------- attributes
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        with self._mutex:
            if path == CONTROL:
                return {
                    "st_mode": 0o100600,
                    "st_nlink": 1,
                    "st_size": len(self.status()),
                    "st_uid": os.getuid(),
                    "st_gid": os.getgid(),
                }
            st = os.lstat(self._path(path))
            attrs = {key: getattr(st, key) for key in _STAT_KEYS}
            attrs.update({key: getattr(st, key + "_ns") for key in _TIME_KEYS})
            pages = self.inodes.get(st.st_ino)
            if pages is not None:
                attrs["st_size"] = pages.size
            return attrs

    def access(self, path: str, amode: int) -> int:
        if path != CONTROL and not os.access(self._path(path), amode):
            raise _error(errno.EACCES)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.lchown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if path != CONTROL:
            os.utime(self._path(path), ns=times, follow_symlinks=False)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._path(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files")
        return {key: getattr(st, key) for key in (*keys, "f_flag", "f_frsize", "f_namemax")}

    # -------------------------------------------------------------- namespace
    def readdir(self, path: str, fh: int) -> list[str]:
        names = [".", "..", *os.listdir(self._path(path))]
        return [*names, CONTROL[1:]] if path == "/" else names

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._path(path))
        return 0

    def unlink(self, path: str) -> int:
        if path == CONTROL:
            raise _error(errno.EPERM)
        with self._mutex:
            ino = os.lstat(self._path(path)).st_ino
            os.unlink(self._path(path))
            self._forget(ino)
        return 0

    def rename(self, old: str, new: str) -> int:
        if CONTROL in (old, new):
            raise _error(errno.EPERM)
        with self._mutex:
            try:
                replaced = os.lstat(self._path(new)).st_ino
            except FileNotFoundError:
                replaced = None
            os.rename(self._path(old), self._path(new))
            if replaced is not None:
                self._forget(replaced)
        return 0

    def symlink(self, target: str, source: str) -> int:
        os.symlink(source, self._path(target))
        return 0

    def readlink(self, path: str) -> str:
        return os.readlink(self._path(path))

    def link(self, target: str, source: str) -> int:
        os.link(self._path(source), self._path(target))
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        """The namespace is applied to the backing directory at once: nothing to flush."""
        return 0

    # ------------------------------------------------------------------ files
    def _handle(self, ino: int) -> int:
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = (ino, fh)
        self.open_count[ino] = self.open_count.get(ino, 0) + 1
        return fh

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self._mutex:
            if path == CONTROL:
                return 0
            full = self._path(path)
            os.close(os.open(full, os.O_CREAT | os.O_WRONLY, mode))
            ino, _ = self._inode(path)
            return self._handle(ino)

    def open(self, path: str, flags: int) -> int:
        with self._mutex:
            if path == CONTROL:
                return 0
            ino, pages = self._inode(path)
            if flags & os.O_TRUNC:
                pages.truncate(0)
            return self._handle(ino)

    def _pages(self, fh: int) -> Pages:
        try:
            return self.inodes[self.handles[fh][0]]
        except KeyError:
            raise _error(errno.EBADF) from None

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._mutex:
            if fh == 0:
                return self.status().encode()[offset : offset + size]
            return self._pages(fh).read(size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        if fh == 0:
            return self._command(data)
        with self._mutex:
            return self._pages(fh).write(data, offset)

    def _command(self, data: bytes) -> int:
        command = data.decode(errors="replace").strip()
        if command == "drop":
            self.drop()
        elif command == "sync":
            self.sync()
        else:
            raise _error(errno.EINVAL)
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        if path == CONTROL:
            return 0
        with self._mutex:
            _, pages = self._inode(path)
            pages.truncate(length)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        if fh == 0:
            return 0
        with self._mutex:
            self._pages(fh).sync(datasync=bool(datasync))
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        with self._mutex:
            entry = self.handles.pop(fh, None)
            if entry is not None:
                ino = entry[0]
                self.open_count[ino] -= 1
                if not self.open_count[ino]:
                    del self.open_count[ino]
                self._forget(ino)
        return 0
