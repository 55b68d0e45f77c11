"""The simulator's pytest options and its summary (printed whatever the outcome)."""

from __future__ import annotations

import pytest

from tests.sim.explore import SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("simulation")
        for line in SUMMARY:
            terminalreporter.write_line(line)
