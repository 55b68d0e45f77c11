"""Shared helpers of the harness tests: running the CLI, and finding what a run left behind.

They are handed to tests as fixtures (``cli``, ``leftovers``, ``iptables``) because the
suite imports test modules in importlib mode, where a test cannot import a sibling module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUBNET_PREFIX = "10.77."


def harness(
    *args: str, timeout: float = 240, netns: str | None = None, check_rc: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m harness ARGS`` (inside namespace ``netns`` if given), output captured."""
    cmd = [sys.executable, "-m", "harness", *args]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    r = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=dict(os.environ, CI="1")
    )
    if check_rc is not None:
        assert r.returncode == check_rc, f"rc {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def iptables_rules() -> str:
    """The root namespace's iptables rules (counters dropped)."""
    if shutil.which("iptables-save") is None:
        return ""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=20).stdout
    return "\n".join(ln for ln in out.splitlines() if not ln.startswith(("#", ":")))


def leftovers(cluster: str) -> list[str]:
    """Everything of cluster ``cluster`` still on the machine: must be empty after any run."""
    found = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [
        f"netns {ln.split()[0]}" for ln in names.splitlines() if ln.startswith(f"dh-{cluster}-")
    ]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [
        f"root link {ln.split(':')[1].strip()}"
        for ln in links.splitlines()
        if ln.split(":")[1].strip().startswith("dh-")
    ]
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    found += [f"root address {ln}" for ln in addrs.splitlines() if f"inet {SUBNET_PREFIX}" in ln]
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    found += [f"root route {ln}" for ln in routes.splitlines() if ln.startswith(SUBNET_PREFIX)]
    marker = f"/var/lib/dynamo-harness/{cluster}/".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                args = cmdline.replace(b"\0", b" ").decode(errors="replace")
                found.append(f"process {proc.name}: {args}")
    return found


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return harness


@pytest.fixture(scope="session")
def find_leftovers() -> Callable[[str], list[str]]:
    return leftovers


@pytest.fixture(scope="session")
def iptables() -> Callable[[], str]:
    return iptables_rules
