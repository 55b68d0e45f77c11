"""From a stored run to a verdict and an exit code.

``check`` runs every checker on ``history.jsonl`` (``harness.analysis``), writes results.json
and the reports, and turns the verdict into the exit code CI reads; ``report`` prints the
tables of a stored run. They serve ``harness run``, ``harness check`` and ``harness report``
alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness import analysis, expect
from harness.exitcodes import ExitCode


def validate_expect(bounds: Sequence[str]) -> None:
    """Raise ValueError on a malformed ``--expect`` bound (before any cluster is made)."""
    for bound in bounds:
        expect.parse(bound)


def check(run: Path, bounds: Sequence[str] = ()) -> ExitCode:
    return ExitCode(analysis.analyze(run, bounds))


def report(run: Path) -> str:
    from harness.report import render_text

    return str(render_text(run))
