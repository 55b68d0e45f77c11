"""Mounting powerfs: checks that fail fast, a mount that is always undone, the control verbs.

``mount`` starts ``python -m nemesis.powerfs serve`` as a process of its own (the FUSE
loop must not share a process with anything that touches the mount, or a page fault in
that process could wait on itself) and waits until the control file answers. ``unmount``
asks ``fusermount3 -u``, falls back to a lazy ``-u -z`` when something still has the mount
busy, and ends the server. ``mounted`` is the context manager that does both, on any exit.
The server runs in a session of its own, so a Ctrl-C meant for the caller reaches the caller,
whose ``finally`` unmounts, and never leaves a dead server behind a live mount.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nemesis.powerfs.fs import CONTROL

MOUNT_TIMEOUT = 10.0


class PowerFsError(RuntimeError):
    """powerfs cannot be used here, or a mount failed; the message says why."""


def preflight() -> None:
    """Raise ``PowerFsError`` naming what is missing: /dev/fuse, fusermount3, libfuse, mfusepy."""
    if not os.path.exists("/dev/fuse"):
        raise PowerFsError("/dev/fuse does not exist: this machine or container has no FUSE")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        raise PowerFsError("/dev/fuse is not readable and writable by this user")
    if shutil.which("fusermount3") is None:
        raise PowerFsError("fusermount3 not found: install Debian's fuse3 (scripts/setup.sh does)")
    try:
        import mfusepy  # noqa: F401
    except ImportError as exc:
        raise PowerFsError(
            f"the FUSE binding is missing ({exc}): pip install mfusepy "
            "(a dependency of this project) and apt-get install fuse3"
        ) from exc
    except OSError as exc:
        raise PowerFsError(f"libfuse cannot be loaded ({exc}): apt-get install fuse3") from exc


def is_mounted(mountpoint: Path) -> bool:
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == target for line in f if len(line.split()) > 1)


def control(mountpoint: Path, command: str) -> None:
    """Send ``drop`` or ``sync`` to the filesystem mounted at ``mountpoint``."""
    path = Path(mountpoint) / CONTROL.lstrip("/")
    if not is_mounted(mountpoint):
        raise PowerFsError(f"{mountpoint} is not a mount point")
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, command.encode())
    finally:
        os.close(fd)


def status(mountpoint: Path) -> str:
    if not is_mounted(mountpoint):
        raise PowerFsError(f"{mountpoint} is not a mount point")
    return (Path(mountpoint) / CONTROL.lstrip("/")).read_text()


def drop(mountpoint: Path) -> None:
    """Power loss: forget every byte written since its file was last synced."""
    control(mountpoint, "drop")


def sync(mountpoint: Path) -> None:
    control(mountpoint, "sync")


def mount(backing: Path, mountpoint: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Mount powerfs over ``backing`` at ``mountpoint`` in a server process; return it once
    the mount answers (or raise ``PowerFsError`` with the server's own words, unmounted)."""
    preflight()
    backing, mountpoint = Path(backing), Path(mountpoint)
    if not backing.is_dir():
        raise PowerFsError(f"backing directory {backing} does not exist")
    mountpoint.mkdir(parents=True, exist_ok=True)
    if is_mounted(mountpoint):
        raise PowerFsError(f"{mountpoint} is already a mount point")
    out = open(log, "a+b") if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
    cmd = [sys.executable, "-m", "nemesis.powerfs", "serve", str(backing), str(mountpoint)]
    with out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
        try:
            _wait_mounted(proc, mountpoint, out)
        except BaseException:
            unmount(mountpoint, proc)
            raise
    return proc


def _wait_mounted(proc: subprocess.Popen[bytes], mountpoint: Path, out: IO[bytes]) -> None:
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out.seek(0)
            said = out.read().decode(errors="replace").strip().splitlines()[-5:]
            raise PowerFsError(
                f"powerfs exited {proc.returncode} before mounting: {' / '.join(said)}"
            )
        if is_mounted(mountpoint) and (mountpoint / CONTROL.lstrip("/")).exists():
            return
        time.sleep(0.05)
    raise PowerFsError(f"powerfs did not mount {mountpoint} within {MOUNT_TIMEOUT:.0f} s")


def unmount(mountpoint: Path, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Unmount (lazily if busy) and end the server; never raises for an absent mount."""
    mountpoint = Path(mountpoint)
    if is_mounted(mountpoint):
        done = subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True)
        if done.returncode != 0 and is_mounted(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], capture_output=True)
    if proc is not None and proc.poll() is None:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def mounted(backing: Path, mountpoint: Path, log: Path | None = None) -> Iterator[Path]:
    """powerfs at ``mountpoint`` for the body; unmounted on every exit, Ctrl-C included."""
    proc = mount(backing, mountpoint, log)
    try:
        yield Path(mountpoint)
    finally:
        unmount(mountpoint, proc)
