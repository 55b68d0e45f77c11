"""A pytest plugin for availability regression tests against your own cluster.

Installed with the package (entry point ``pytest11``), it adds ``--harness-*`` options and a
``harness`` fixture. A test runs the harness and asserts on what it found::

    def test_no_acknowledged_write_is_lost_under_partitions(harness):
        outcome = harness.run(workload="set", nemesis="partition", time_limit=30)
        assert outcome.lost == 0
        assert outcome.metric("availability") >= 0.95

Options (each also readable from the environment as ``HARNESS_<NAME>``): ``--harness-provider``
(local, ssh or vagrant; default local), ``--harness-nodes`` (ssh: host1,host2,…),
``--harness-ssh-user``, ``--harness-ssh-key``, ``--harness-ssh-port``,
``--harness-ssh-known-hosts``, ``--harness-cluster``,
``--harness-store``, ``--harness-system`` (an installed adapter; default dynamo),
``--harness-system-option KEY=VALUE`` and ``--harness-option NAME=VALUE`` for any other
``harness run`` option.
A test that asks for the fixture without ``--harness-provider`` or ``--harness-nodes`` fails
with a message saying which to give: a regression suite that found no cluster must not pass
as a row of skips. Suites that never ask for the fixture are untouched.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.exitcodes import ExitCode
from harness.options import TestOptions

PASSTHROUGH = (
    "provider",
    "nodes",
    "ssh_user",
    "ssh_key",
    "ssh_port",
    "ssh_known_hosts",
    "cluster",
    "store",
    "system",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "dynamo-harness availability tests")
    for name in PASSTHROUGH:
        group.addoption(
            f"--harness-{name.replace('_', '-')}",
            dest=f"harness_{name}",
            default=os.environ.get(f"HARNESS_{name.upper()}"),
            help=f"harness run --{name.replace('_', '-')} for the harness fixture",
        )
    group.addoption(
        "--harness-system-option",
        dest="harness_system_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option of the system's adapter for every run (repeatable)",
    )
    group.addoption(
        "--harness-option",
        dest="harness_options",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other harness run option for every run, e.g. time_limit=20",
    )


@dataclass
class Outcome:
    """What one run found: its exit code, results.json and where it is stored."""

    code: ExitCode
    run_dir: Path | None
    results: dict[str, Any]

    @property
    def valid(self) -> bool:
        return self.code == ExitCode.VALID

    def metric(self, name: str) -> Any:
        """A value of results.json's metric table (``lost``, ``availability``, …)."""
        return self.results.get("metrics", {}).get(name)

    @property
    def lost(self) -> int | None:
        return self.metric("lost")


@dataclass
class Harness:
    base: TestOptions

    def options(self, **overrides: Any) -> TestOptions:
        return dataclasses.replace(self.base, **overrides)

    def run(self, **overrides: Any) -> Outcome:
        """``harness run`` with the session's cluster options and these overrides."""
        from harness import run

        options = self.options(**overrides)
        options.validate()
        run.build_parts(options)
        result = run.run(options)
        path = result.run_dir / "results.json"
        results = json.loads(path.read_text()) if path.exists() else {}
        return Outcome(result.code, result.run_dir, results)


def _convert(name: str, text: str) -> Any:
    field = {f.name: f for f in dataclasses.fields(TestOptions)}.get(name)
    if field is None:
        raise pytest.UsageError(f"--harness-option: unknown option {name!r}")
    kind = str(field.type)
    if kind.startswith("bool"):
        return text.lower() in ("1", "true", "yes", "on")
    if kind.startswith("int"):
        return int(text)
    if kind.startswith("float"):
        return float(text)
    return text


@pytest.fixture(scope="session")
def harness(pytestconfig: pytest.Config) -> Harness:
    """The harness, bound to the cluster given on the command line (an error when none is)."""
    values: dict[str, Any] = {}
    for name in PASSTHROUGH:
        value = pytestconfig.getoption(f"harness_{name}")
        if value is not None:
            values[name] = int(value) if name == "ssh_port" else value
    if "provider" not in values and "nodes" not in values:
        pytest.fail(
            "the harness fixture has no cluster to test: give --harness-nodes HOST,HOST,... "
            "(with --harness-ssh-key) for your machines, or --harness-provider local for "
            "namespace hosts on this machine (HARNESS_NODES / HARNESS_PROVIDER work too)",
            pytrace=False,
        )
    if "nodes" in values:
        values.setdefault("provider", "ssh")
    for item in pytestconfig.getoption("harness_options"):
        name, sep, text = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--harness-option takes NAME=VALUE, not {item!r}")
        values[name.replace("-", "_")] = _convert(name.replace("-", "_"), text)
    values["system_option"] = tuple(pytestconfig.getoption("harness_system_options"))
    values.setdefault("progress", "plain")
    base = TestOptions(**values)
    base.validate()
    return Harness(base)
