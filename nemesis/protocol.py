"""The nemesis seam: how the runner drives faults, on the same clock as the clients.

A nemesis is ``setup / invoke(op) / teardown``. The runner asks it for its next op every
``--nemesis-interval`` seconds (``next_op``), records the invocation (``invoke``, process
``nemesis``), calls ``invoke`` in a thread (faults are SSH commands) and records what it
did as ``info``. After the time limit it invokes ``heal_ops`` so the history shows every
fault ending, then ``teardown`` — always, also after an error or Ctrl-C — which must undo
everything.

What a nemesis needs of the hosts it says itself (``host_env``): the harness writes those
lines to each node's ``node.env`` before the system starts, and refuses a system that does
not declare it starts its processes with them. A nemesis with ``powerfs`` set (power loss)
has each node's data directory on a powerfs mount for the whole run; the harness refuses a
system that does not name its data directory (``Capabilities.data_dir``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from harness.cluster import Cluster
    from systems.base import System

Op = dict[str, Any]


@dataclass
class NemesisContext:
    cluster: Cluster
    system: System
    rng: random.Random


class Nemesis(Protocol):
    name: str
    powerfs: bool
    """The nodes' data directories must be powerfs mounts: the harness mounts them after
    install and before the first start, and unmounts them once the nodes are stopped."""
    requires: frozenset[str]
    """The ``systems.base.Capabilities`` a system must declare for this nemesis (``owners``
    for the owners fault); the harness refuses the run before any host is touched."""

    def setup(self, ctx: NemesisContext) -> None: ...

    def next_op(self, rng: random.Random) -> Op | None:
        """The next fault to inject (``f`` and ``value``), or None for nothing this time."""

    def invoke(self, op: Op) -> Op:
        """Do ``op``; return it completed, ``value`` saying what was done (a grudge, a node)."""

    def heal_ops(self) -> list[Op]:
        """Ops that end the faults still in force (e.g. ``stop-partition``)."""

    def teardown(self) -> None: ...

    def host_env(self, node_dir: str) -> str:
        """Shell printing ``KEY=value`` lines the node's processes must start with ("": none)."""


class NoNemesis:
    """``--nemesis none``: a fault-free run."""

    name = "none"
    powerfs = False
    requires: frozenset[str] = frozenset()

    def setup(self, ctx: NemesisContext) -> None:
        pass

    def next_op(self, rng: random.Random) -> Op | None:
        return None

    def invoke(self, op: Op) -> Op:
        return op

    def heal_ops(self) -> list[Op]:
        return []

    def teardown(self) -> None:
        pass

    def host_env(self, node_dir: str) -> str:
        return ""


def build(name: str) -> Nemesis:
    """The nemesis a ``--nemesis`` value names; ``ValueError`` if it is wrong."""
    if name == "none":
        return NoNemesis()
    import nemesis

    return nemesis.build(name)
