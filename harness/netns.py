"""Linux network namespaces: make, list, empty and delete ours; move this process into one.

Every object of ours is named with the ``dh-`` prefix so a later ``harness cluster down``
finds what a crashed run left. Commands go through ``ip`` (iproute2), which works on a
named namespace from anywhere (``ip -n NAME …``, ``ip netns exec NAME …``).

Entering a namespace: Python 3.11 has no ``os.setns``, and the ``setns`` syscall moves only
the calling thread. ``enter`` therefore refuses to run once a second thread exists: it is
called by the main thread before any SSH or asyncio thread starts, and every thread and
subprocess started afterwards inherits the namespace. ``leave`` moves the main thread back.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "dh-"
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")


class NetnsError(Exception):
    pass


def ip(*args: str, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def in_netns(ns: str, *cmd: str, check: bool = True, timeout: float = 20.0) -> str:
    r = subprocess.run(
        ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout
    )
    if check and r.returncode != 0:
        raise NetnsError(f"[{ns}] {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def names() -> list[str]:
    out = ip("netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def exists(ns: str) -> bool:
    return ns in names()


def add(ns: str) -> None:
    if not exists(ns):
        ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")


def pids(ns: str) -> list[int]:
    r = ip("netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def kill_pids(found: list[int], *, grace: float = 3.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL whatever is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in found:
            try:
                os.kill(pid, sig)
                if sig == signal.SIGTERM:
                    os.kill(pid, signal.SIGCONT)  # a paused node must see its SIGTERM
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            found = [p for p in found if _alive(p)]
            if not found:
                return
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def delete(ns: str) -> None:
    """Kill every process in ``ns``, then delete it (its links and bridge go with it)."""
    kill_pids(pids(ns))
    ip("netns", "delete", ns, check=False)


def processes_under(path: str) -> list[int]:
    """Processes whose command line mentions ``path`` (stale daemons a lost namespace left)."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path in cmdline:
            found.append(int(entry.name))
    return found


_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns: {os.strerror(err)}")


@contextmanager
def entered(ns: str) -> Iterator[None]:
    """Run the body with this process's main thread (and every thread it starts) in ``ns``."""
    if threading.current_thread() is not threading.main_thread():
        raise NetnsError("enter a namespace from the main thread only")
    if threading.active_count() != 1:
        raise NetnsError("cannot enter a namespace once other threads run: they would stay outside")
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)
