"""``nemesis.host.prepare``: what a killed run left on a host is cleared before the next start.

Real shell, real iptables (in a throw-away namespace), a real strobe loop in a temp dir.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from nemesis import clock, iptables
from nemesis.host import prepare_command

pytestmark = pytest.mark.privileged


def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` ends within ``timeout`` (a reset kills it; the kernel may lag a moment)."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_prepare_clears_chains_strobe_and_offset_and_writes_the_faketime_env(
    tmp_path: Path,
) -> None:
    d = str(tmp_path)
    left = [
        iptables.rules(iptables.PARTITION, "10.9.0.1", iptables.drop_from(["10.9.0.12"])),
        iptables.rules(iptables.LOSS, "10.9.0.1", iptables.lose_to(["10.9.0.13"], 0.4)),
        clock.write_offset(d, 7.25),
        clock.start_strobe(d, -3.0),
    ]
    script = "\n".join([*left, "sleep 0.3", f"cat {d}/{clock.STROBE_PID}", "echo ====="])
    script += f"\n{prepare_command(d, clock.ClockNemesis().host_env(d))}\niptables-save\n"
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    before, after = r.stdout.split("=====")
    strobe = int(before.split()[-1])
    assert gone(strobe)
    assert "DH-" not in after
    assert not (tmp_path / clock.STROBE_PID).exists()
    assert (tmp_path / clock.OFFSET_FILE).read_text() == "+0.000\n"
    env = dict(ln.split("=", 1) for ln in (tmp_path / "node.env").read_text().splitlines())
    assert env["FAKETIME_TIMESTAMP_FILE"] == f"{d}/{clock.OFFSET_FILE}"
    assert {k: env[k] for k in clock.ENV} == clock.ENV
    if any(Path(lib).exists() for lib in clock.LIBRARIES):
        assert Path(env["LD_PRELOAD"]).exists()


def test_prepare_without_a_clock_nemesis_leaves_node_env_empty(tmp_path: Path) -> None:
    d = str(tmp_path / "node")
    r = subprocess.run(["unshare", "-n", "sh", "-c", prepare_command(d)], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "node" / "node.env").read_text() == ""


def test_a_strobe_loop_flips_the_offset_until_stopped(tmp_path: Path) -> None:
    d = str(tmp_path)
    subprocess.run(["sh", "-c", clock.start_strobe(d, 4.5)], check=True, timeout=10)
    seen = set()
    deadline = time.monotonic() + 3
    while len(seen) < 2 and time.monotonic() < deadline:
        path = tmp_path / clock.OFFSET_FILE
        if path.exists():
            seen.add(path.read_text().strip())
        time.sleep(0.02)
    pid = int((tmp_path / clock.STROBE_PID).read_text())
    subprocess.run(["sh", "-c", clock.reset(d)], check=True, timeout=10)
    assert seen == {"+4.500", "+0.000"}
    assert gone(pid)
    assert (tmp_path / clock.OFFSET_FILE).read_text() == "+0.000\n"
