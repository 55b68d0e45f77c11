"""The switch that turns a machine's missing root, sshd or iptables from a skip into an error.

Run for real: pytest is started in a user namespace, where the process is not root (uid 65534)
yet can still read the checkout, so the namespace and iptables tests cannot run there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = ("tests/nemesis/test_iptables.py", "tests/regression/test_plugin.py")

pytestmark = pytest.mark.privileged  # unshare


def pytest_as_non_root(require: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DYNAMO_HARNESS_REQUIRE_HOSTS"}
    if require:
        env["DYNAMO_HARNESS_REQUIRE_HOSTS"] = "1"
    return subprocess.run(
        [
            *("unshare", "--user", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-o", "addopts=-rA --import-mode=importlib", *MODULES),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_root_a_required_namespace_test_is_an_error_naming_what_is_missing() -> None:
    proc = pytest_as_non_root(require=True)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert " passed" not in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-3000:]
    assert "needs root" in proc.stdout and "DYNAMO_HARNESS_REQUIRE_HOSTS is set" in proc.stdout
    assert " error" in proc.stdout.splitlines()[-1], proc.stdout[-500:]


def test_without_root_and_without_the_switch_those_tests_are_skipped_with_the_reason() -> None:
    proc = pytest_as_non_root(require=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    last = proc.stdout.splitlines()[-1]
    assert " skipped" in last and "error" not in last and "passed" not in last, last
    assert "needs root" in proc.stdout
