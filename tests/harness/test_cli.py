"""The CLI's contract: bad arguments exit 254 with a message and never touch a host."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.exitcodes import ExitCode
from harness.options import TestOptions, flag

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--no-such-option"],
        ["run", "--workload", "queue"],
        ["run", "--nemesis", "gremlins"],
        ["run", "--n", "3", "--r", "4"],
        ["run", "--time-limit", "0"],
        ["run", "--provider", "ssh"],
        ["run", "--nodes", "10.0.0.1"],
        ["run", "--provider", "ssh", "--nodes", "10.0.0.1", "--cluster", "a; rm -rf /"],
        ["run", "--cluster", "../etc"],
        ["run", "--concurrency", "many"],
        ["run", "--workload", "register", "--workload-option", "deletes=0.5"],
        [
            "run",
            "--workload",
            "register",
            "--workload-option",
            "read=0.9",
            "--workload-option",
            "blind=0.2",
        ],
        ["run", "--workload", "set", "--workload-option", "read_ratio=lots"],
        ["run", "--workload-option", "read_ratio"],
        ["run", "--system", "etcd", "--nemesis", "owners"],
        ["cluster", "sideways"],
        ["test-all", "--nemeses", "none,gremlins"],
        ["test-all", "--test-count", "0"],
        ["check", "/nonexistent/run"],
        ["report", "/"],
    ],
)
def test_bad_arguments_exit_254_with_a_message(args: list[str], cli: Callable[..., Any]) -> None:
    r = cli(*args, timeout=60)
    assert r.returncode == ExitCode.BAD_ARGUMENTS, r.stderr
    assert "error" in r.stderr
    assert "Traceback" not in r.stderr


def test_module_and_console_script_are_the_same_cli(cli: Callable[..., Any]) -> None:
    module = cli("--help", timeout=30)
    script = subprocess.run(
        [str(REPO / ".venv/bin/harness"), "--help"], capture_output=True, text=True, timeout=30
    )
    assert module.returncode == script.returncode == 0
    assert module.stdout.replace("__main__.py", "harness") == script.stdout


def test_every_option_is_a_run_flag_and_round_trips_through_test_json(
    cli: Callable[..., Any],
) -> None:
    help_text = cli("run", "--help", timeout=30).stdout
    for field in dataclasses.fields(TestOptions):
        assert f"--{flag(field.name)}" in help_text, field.name
    o = TestOptions(workload="kv", seed=7, expect=("lost<=0",), nodes=None, rate=0.0)
    assert TestOptions.from_json(o.to_json()) == o


def test_seed_is_fixed_once_and_kept() -> None:
    o = TestOptions().with_seed()
    assert isinstance(o.seed, int)
    assert o.with_seed() == o


def test_python_dash_m_harness_runs_main() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "harness", "cluster", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert r.returncode == 0 and "up,down,status" in r.stdout
