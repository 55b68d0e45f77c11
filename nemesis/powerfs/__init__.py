"""powerfs: a FUSE filesystem that loses, on command, every write not yet synced — the
power-loss fault (LazyFS's idea). ``kill -9`` alone cannot show an ack-before-fsync bug:
what the process handed the kernel survives in its page cache. On powerfs it does not.

``pages`` is the page cache (pure, no FUSE); ``fs`` the FUSE operations over it (leans on
mfusepy and libfuse3); ``mount`` the lifecycle and control verbs the CLI and tests use.
"""

from __future__ import annotations

from nemesis.powerfs.mount import (
    PowerFsError,
    drop,
    is_mounted,
    mount,
    mounted,
    preflight,
    status,
    sync,
    unmount,
)

__all__ = [
    "PowerFsError",
    "drop",
    "is_mounted",
    "mount",
    "mounted",
    "preflight",
    "status",
    "sync",
    "unmount",
]
