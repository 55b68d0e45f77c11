"""The harness: deploys a system under test, drives workloads while nemeses inject faults,
records the history, runs the checkers and writes reports.

Leans on everything: ``systems`` for the system under test (found by entry point; our node
is ``systems.dynamo``), ``workloads`` for abstract operations, ``nemesis`` for faults,
``checkers`` for verdicts. ``systems`` and ``nemesis`` use ``harness.remote`` and
``harness.cluster`` to run commands on nodes.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names, imported on first use so that ``import harness`` (and ``nemesis`` and
# ``systems``, which use ``harness.cluster``) does not pull in fabric and paramiko.
_EXPORTS = {
    "Cluster": "harness.cluster",
    "ExitCode": "harness.exitcodes",
    "Host": "harness.remote",
    "Nemesis": "nemesis.protocol",
    "NemesisContext": "nemesis.protocol",
    "Remote": "harness.remote",
    "RemoteError": "harness.remote",
    "System": "systems.base",
    "TestOptions": "harness.options",
}
__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
