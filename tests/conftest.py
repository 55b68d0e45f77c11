"""What the machine must have for the tests that use real hosts, and what happens when it lacks it.

A test marked ``netns`` builds namespace hosts with their own sshd; one marked ``privileged``
changes iptables or namespaces on the machine itself. Where the machine cannot do that (no root,
no sshd, no iptables) such a test is skipped, with the reason — on a developer's laptop that is
what one wants. In CI it is not: a runner that quietly lost root would turn the fault-injection
suite into a row of skips and a green build. So when ``DYNAMO_HARNESS_REQUIRE_HOSTS`` is set
(``.ci/run`` sets it) a missing requirement is an error that names what is missing.

Tests marked ``slow`` (mutation runs, long simulations, many power-loss trials) are the suites
that do not fit CI's budget: they are left out unless the ``-m`` expression names ``slow``
(``pytest -m slow``, ``pytest -m "slow and not netns"``), and each has its command in the README.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

REQUIRE = "DYNAMO_HARNESS_REQUIRE_HOSTS"

# No per-example deadline: the property tests assert what is computed, never how fast, and on a
# shared 2-core machine one slow example (a ring of 12 nodes built while a cluster test runs)
# must not fail the suite. Timing lives in bench/.
settings.register_profile("dynamo-harness", deadline=None)
settings.load_profile("dynamo-harness")


def _root() -> bool:
    return os.geteuid() == 0


def _sshd() -> bool:
    return shutil.which("sshd") is not None or Path("/usr/sbin/sshd").exists()


def _tool(name: str) -> bool:
    return shutil.which(name) is not None or Path("/usr/sbin", name).exists()


NEEDS: dict[str, dict[str, Any]] = {
    "netns": {
        "root": _root,
        "iproute2 (ip)": lambda: _tool("ip"),
        "openssh-server (sshd)": _sshd,
        "iptables": lambda: _tool("iptables"),
    },
    "privileged": {
        "root": _root,
        "iptables": lambda: _tool("iptables"),
        "unshare": lambda: _tool("unshare"),
    },
}


def missing(marker: str) -> list[str]:
    """What the machine lacks for tests marked ``marker`` (empty: nothing)."""
    return [what for what, present in NEEDS[marker].items() if not present()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in NEEDS:
        if item.get_closest_marker(marker) is None:
            continue
        lacking = missing(marker)
        if not lacking:
            continue
        reason = f"needs {', '.join(lacking)}"
        if os.environ.get(REQUIRE):
            pytest.fail(
                f"{reason}: {REQUIRE} is set (as in CI), so a test that cannot run here is an "
                "error, not a skip; run as root on a machine with those, or unset it",
                pytrace=False,
            )
        pytest.skip(reason)


@pytest.fixture(scope="session")
def fuse() -> None:
    """powerfs can mount here (``/dev/fuse``, ``fusermount3``, the FUSE binding); otherwise
    the test is skipped — or fails, when ``DYNAMO_HARNESS_REQUIRE_HOSTS`` is set (CI)."""
    from nemesis.powerfs import PowerFsError, preflight

    try:
        preflight()
    except PowerFsError as exc:
        if os.environ.get(REQUIRE):
            pytest.fail(f"powerfs cannot run here: {exc}", pytrace=False)
        pytest.skip(str(exc))
