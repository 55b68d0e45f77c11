"""From a stored run to a verdict and an exit code: the analysis, or basic stats until it exists.

``harness.analysis`` (the checkers' side) writes results.json and the reports. Where it is
not installed yet, the basic stats check stands in, so every run still gets a table and an
exit code. ``check`` and ``report`` serve ``harness run``, ``harness check`` and
``harness report`` alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from harness import history, stats, store
from harness.exitcodes import ExitCode


def _module(name: str) -> ModuleType | None:
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise  # the module exists but is broken: say so, don't hide it
        return None


def validate_expect(expect: Sequence[str]) -> None:
    """Raise ValueError on a malformed ``--expect`` bound (before any cluster is made)."""
    parser = _module("harness.expect")
    if parser is None:
        if expect:
            raise ValueError("--expect needs harness.expect, which is not installed yet")
        return
    for bound in expect:
        parser.parse(bound)


def check(run: Path, expect: Sequence[str] = ()) -> ExitCode:
    analysis = _module("harness.analysis")
    if analysis is not None:
        return ExitCode(analysis.analyze(run, expect))
    s = stats.stats(history.read(run / store.HISTORY))
    results = {"valid": s["valid"], "checkers": {"stats": s}}
    (run / store.RESULTS).write_text(json.dumps(results, indent=2) + "\n")
    (run / "report.md").write_text(f"# {run}\n\n{stats.table(s)}\n")
    return ExitCode.VALID if s["valid"] else ExitCode.INVALID


def report(run: Path) -> str:
    rendering = _module("harness.report")
    if rendering is not None:
        return str(rendering.render_text(run))
    return stats.table(stats.stats(history.read(run / store.HISTORY)))
