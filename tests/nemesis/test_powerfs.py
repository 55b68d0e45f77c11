"""powerfs: the page cache against a model, and the mounted filesystem's laws — what a
sync makes durable survives a drop, what it did not is lost, the namespace is durable at
once — plus its lifecycle (always unmounted) and its errors (clear, at start).

Tests that mount are marked ``cluster`` (they start a FUSE server process); run them under
``flock /tmp/dh-cluster.lock``. Without FUSE they skip, or fail where CI requires hosts.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from nemesis import powerfs
from nemesis.powerfs.mount import PowerFsError, control, is_mounted, mount, unmount
from nemesis.powerfs.pages import PAGE, Pages

# ------------------------------------------------------------------ the page cache, no FUSE


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[Pages]:
    fd = os.open(tmp_path / "f", os.O_CREAT | os.O_RDWR, 0o644)
    p = Pages(fd)
    yield p
    p.close()


def test_synced_write_survives_drop_and_unsynced_write_is_lost(pages: Pages) -> None:
    pages.write(b"durable", 0)
    pages.sync()
    pages.write(b"VOLATILE", 3)
    assert pages.read(100, 0) == b"durVOLATILE"
    pages.drop()
    assert pages.read(100, 0) == b"durable"


def test_write_reaches_backing_file_only_at_sync(pages: Pages, tmp_path: Path) -> None:
    pages.write(b"x" * (3 * PAGE), 10)
    assert (tmp_path / "f").read_bytes() == b""
    pages.sync(datasync=True)
    assert (tmp_path / "f").read_bytes() == bytes(10) + b"x" * (3 * PAGE)


def test_unsynced_truncate_is_undone_by_drop(pages: Pages) -> None:
    pages.write(b"a" * 100, 0)
    pages.sync()
    pages.truncate(10)
    pages.truncate(50)
    assert pages.read(100, 0) == b"a" * 10 + bytes(40)
    pages.drop()
    assert pages.read(200, 0) == b"a" * 100


def test_synced_truncate_then_extend_reads_zeros(pages: Pages, tmp_path: Path) -> None:
    pages.write(b"a" * 100, 0)
    pages.sync()
    pages.truncate(10)
    pages.truncate(50)
    pages.sync()
    pages.drop()
    assert pages.read(100, 0) == b"a" * 10 + bytes(40)
    assert (tmp_path / "f").read_bytes() == b"a" * 10 + bytes(40)


class PagesAgainstModel(RuleBasedStateMachine):
    """Pages beside two bytearrays: what the file is now, and what a power loss keeps."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(os.environ.get("TMPDIR", "/tmp"))
        self.path = self.dir / f"powerfs-model-{os.getpid()}-{id(self)}"
        self.pages = Pages(os.open(self.path, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600))
        self.now = bytearray()
        self.durable = bytearray()

    @rule(offset=st.integers(0, 3 * PAGE), data=st.binary(min_size=1, max_size=PAGE + 100))
    def write(self, offset: int, data: bytes) -> None:
        self.pages.write(data, offset)
        if offset > len(self.now):
            self.now += bytes(offset - len(self.now))
        self.now[offset : offset + len(data)] = data

    @rule(length=st.integers(0, 4 * PAGE))
    def truncate(self, length: int) -> None:
        self.pages.truncate(length)
        self.now = self.now[:length] + bytes(max(0, length - len(self.now)))

    @rule(datasync=st.booleans())
    def sync(self, datasync: bool) -> None:
        self.pages.sync(datasync)
        self.durable = bytearray(self.now)

    @rule()
    def drop(self) -> None:
        self.pages.drop()
        self.now = bytearray(self.durable)

    @rule(offset=st.integers(0, 4 * PAGE), size=st.integers(0, 2 * PAGE))
    def read(self, offset: int, size: int) -> None:
        assert self.pages.read(size, offset) == bytes(self.now[offset : offset + size])

    @invariant()
    def whole_file_and_backing_agree_with_model(self) -> None:
        assert self.pages.size == len(self.now)
        assert self.pages.read(len(self.now) + 1, 0) == bytes(self.now)
        assert self.pages.dirty or self.path.read_bytes() == bytes(self.now)

    def teardown(self) -> None:
        self.pages.close()
        self.path.unlink()


PagesAgainstModel.TestCase.settings = settings(max_examples=150, stateful_step_count=30)
test_pages_behave_as_the_model = PagesAgainstModel.TestCase


# ------------------------------------------------------------------ errors at start


def test_missing_dev_fuse_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.path.exists
    monkeypatch.setattr(os.path, "exists", lambda p: p != "/dev/fuse" and real(p))
    with pytest.raises(PowerFsError, match="/dev/fuse does not exist"):
        powerfs.preflight()


def test_missing_fusermount3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: that error comes first")
    with pytest.raises(PowerFsError, match="fusermount3 not found: install Debian's fuse3"):
        powerfs.preflight()


def test_missing_binding_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        pytest.skip("no FUSE here: an earlier check fails first")
    monkeypatch.setitem(sys.modules, "mfusepy", None)
    with pytest.raises(PowerFsError, match=r"the FUSE binding is missing.*pip install mfusepy"):
        powerfs.preflight()


def test_cli_on_something_not_mounted_says_so_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "nemesis.powerfs", "drop", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"powerfs: {tmp_path} is not a mount point" in done.stderr


# ------------------------------------------------------------------ mounted


@pytest.fixture
def mnt(fuse: None, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(backing, mountpoint) with powerfs mounted between them."""
    backing = tmp_path / "backing"
    backing.mkdir()
    with powerfs.mounted(backing, tmp_path / "mnt", tmp_path / "powerfs.log") as m:
        yield backing, m
    assert not is_mounted(tmp_path / "mnt")


def _write(path: Path, data: bytes, *, fsync: bool, offset: int = 0, flags: int = 0) -> None:
    fd = os.open(path, os.O_CREAT | os.O_RDWR | flags, 0o644)
    try:
        os.pwrite(fd, data, offset)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@pytest.mark.cluster
def test_mounted_fsynced_data_survives_drop_unsynced_is_lost(mnt: tuple[Path, Path]) -> None:
    backing, m = mnt
    _write(m / "f", b"kept", fsync=True)
    _write(m / "f", b"gone", fsync=False, offset=4)
    assert (m / "f").read_bytes() == b"keptgone"
    assert (backing / "f").read_bytes() == b"kept"
    powerfs.drop(m)
    assert (m / "f").read_bytes() == b"kept"


@pytest.mark.cluster
def test_mounted_sync_command_makes_everything_durable(mnt: tuple[Path, Path]) -> None:
    _, m = mnt
    _write(m / "a", b"one", fsync=False)
    _write(m / "b", b"two", fsync=False)
    assert "dirty_files=2" in powerfs.status(m)
    powerfs.sync(m)
    powerfs.drop(m)
    assert ((m / "a").read_bytes(), (m / "b").read_bytes()) == (b"one", b"two")
    assert "dirty_files=0" in powerfs.status(m)


@pytest.mark.cluster
def test_mounted_ftruncate_is_volatile_until_fsync(mnt: tuple[Path, Path]) -> None:
    _, m = mnt
    _write(m / "f", b"x" * 100, fsync=True)
    with (m / "f").open("r+b") as f:
        f.truncate(10)  # ftruncate(2)
    assert (m / "f").stat().st_size == 10
    powerfs.drop(m)
    assert (m / "f").read_bytes() == b"x" * 100
    _write(m / "f", b"", fsync=True, flags=os.O_TRUNC)
    powerfs.drop(m)
    assert (m / "f").read_bytes() == b""


@pytest.mark.cluster
def test_mounted_rename_is_durable_at_once_but_unsynced_data_is_not(
    mnt: tuple[Path, Path],
) -> None:
    """The torn "write a temp file, rename it over" bug: the name moves, the data is lost."""
    _, m = mnt
    _write(m / "target", b"old contents", fsync=True)
    _write(m / "tmp", b"new contents", fsync=False)
    os.rename(m / "tmp", m / "target")
    _fsync_dir(m)
    powerfs.drop(m)
    assert sorted(os.listdir(m)) == [".powerfs", "target"]
    assert (m / "target").read_bytes() == b""
    _write(m / "tmp", b"synced", fsync=True)
    os.rename(m / "tmp", m / "target")
    powerfs.drop(m)
    assert (m / "target").read_bytes() == b"synced"


@pytest.mark.cluster
def test_mounted_unlink_stays_unlinked_after_drop(mnt: tuple[Path, Path]) -> None:
    backing, m = mnt
    fd = os.open(m / "f", os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b"data")
    os.fsync(fd)
    os.pwrite(fd, b"more", 4)
    os.unlink(m / "f")
    os.fsync(fd)  # an fsync of an unlinked file is harmless
    os.close(fd)
    powerfs.drop(m)
    assert not (m / "f").exists()
    assert not (backing / "f").exists()


@pytest.mark.cluster
def test_mounted_directory_fsync_and_mkdir(mnt: tuple[Path, Path]) -> None:
    _, m = mnt
    (m / "d").mkdir()
    _write(m / "d" / "f", b"in a dir", fsync=True)
    _fsync_dir(m / "d")
    _fsync_dir(m)
    powerfs.drop(m)
    assert (m / "d" / "f").read_bytes() == b"in a dir"
    os.unlink(m / "d" / "f")
    os.rmdir(m / "d")
    assert not (m / "d").exists()


@pytest.mark.cluster
def test_mounted_sqlite_wal_full_keeps_every_commit(mnt: tuple[Path, Path]) -> None:
    """What the node does: WAL (with its mmapped -shm index) and synchronous=FULL."""
    _, m = mnt
    db = sqlite3.connect(m / "db.sqlite", isolation_level=None)
    assert db.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
    reader = sqlite3.connect(m / "db.sqlite", isolation_level=None)
    for i in range(300):
        db.execute("INSERT INTO t VALUES (?, ?)", (i, os.urandom(200)))
    assert reader.execute("SELECT count(*) FROM t").fetchone() == (300,)
    reader.close()
    db.close()
    powerfs.drop(m)
    db = sqlite3.connect(m / "db.sqlite", isolation_level=None)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("SELECT count(*) FROM t").fetchone() == (300,)
    db.close()


@pytest.mark.cluster
def test_mounted_unknown_command_is_refused(mnt: tuple[Path, Path]) -> None:
    _, m = mnt
    with pytest.raises(OSError) as info:
        control(m, "reboot")
    assert info.value.errno == errno.EINVAL
    assert "drops=0" in powerfs.status(m)


@pytest.mark.cluster
def test_mounted_is_unmounted_when_the_body_is_interrupted(fuse: None, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    with pytest.raises(KeyboardInterrupt), powerfs.mounted(tmp_path / "b", tmp_path / "m"):
        fd = os.open(tmp_path / "m" / "busy", os.O_CREAT | os.O_RDWR)  # keeps the mount busy
        raise KeyboardInterrupt
    with contextlib.suppress(OSError):  # the server is gone: ENOTCONN
        os.close(fd)
    assert not is_mounted(tmp_path / "m")


@pytest.mark.cluster
def test_unmount_clears_the_mount_of_a_killed_server(fuse: None, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    proc = mount(tmp_path / "b", tmp_path / "m")
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert is_mounted(tmp_path / "m")  # "transport endpoint is not connected"
    finally:
        unmount(tmp_path / "m", proc)
    assert not is_mounted(tmp_path / "m")


@pytest.mark.cluster
def test_mount_errors_are_clear(mnt: tuple[Path, Path], tmp_path: Path) -> None:
    backing, m = mnt
    with pytest.raises(PowerFsError, match=r"backing directory .* does not exist"):
        mount(tmp_path / "absent", tmp_path / "m2")
    with pytest.raises(PowerFsError, match="is already a mount point"):
        mount(backing, m)


def test_a_server_that_dies_before_mounting_is_reported_with_its_words(tmp_path: Path) -> None:
    from nemesis.powerfs.mount import _wait_mounted

    with (tmp_path / "log").open("a+b") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.exit('fuse: bad mount point')"],
            stdout=out,
            stderr=out,
        )
        with pytest.raises(PowerFsError, match="powerfs exited 1 before mounting: fuse: bad mount"):
            _wait_mounted(proc, tmp_path, out)
