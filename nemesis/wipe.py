"""Disk wipe: ``wipe`` SIGKILLs chosen nodes and deletes their data; ``start-wiped`` starts them.

A node comes back from ``start-wiped`` with an empty disk, as a new incarnation (the
reference node makes a new incarnation id when its data directory is new), so everything
it held must come back from its peers: hinted hand-off, read repair and anti-entropy do
real work, and a write quorum that acknowledged fewer durable copies than it claims loses
writes for good when the one real copy is wiped.

The stop is a real SIGKILL, not a clean stop: a disk that dies takes the process with it
and gives it no chance to hand off hints or flush anything, and a clean stop would hide
exactly the writes this fault is for (those on one disk only). The data goes with the
system's own ``wipe`` verb, so the nemesis knows no store's layout. Targets are sized as
for ``kill`` (one, minority, majority, all); every window closes as it opened, and
teardown starts every node this wiped and did not start, so the fault always heals.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nemesis.base import Bound, NemesisError, Op, each
from nemesis.process import ProcessNemesis
from nemesis.targets import SPECS

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext


class WipeNemesis(ProcessNemesis):
    """``wipe`` of target-spec-sized node sets, then ``start-wiped`` of the same nodes (the
    schedule, and the nodes held with kill and pause, are the process nemesis's)."""

    name = "wipe"
    fault = "wipe"
    undo = "start-wiped"
    fs = frozenset({"wipe", "start-wiped"})

    def __init__(self, targets: Sequence[str] = SPECS, held: set[str] | None = None) -> None:
        Bound.__init__(self)
        self.targets = tuple(targets)
        self.held = set() if held is None else held
        self.mine: list[str] = []
        self.touched: set[str] = set()  # wiped and not started again

    def setup(self, ctx: NemesisContext) -> None:
        if not callable(getattr(ctx.system, "wipe", None)):
            raise NemesisError(f"wipe: the system {ctx.system.name!r} cannot wipe a node's data")
        self.bind(ctx)

    def invoke(self, op: Op) -> Op:
        f = op["f"]
        if f == "wipe":
            each(op["value"], self._wipe)
        elif f == "start-wiped":
            each(op["value"], self._start)
        else:
            raise NemesisError(f"wipe: cannot do {f!r}")
        return op

    def teardown(self) -> None:
        if self.ctx is not None:
            each(sorted(self.touched), self._start)

    def _wipe(self, node: str) -> None:
        system, cluster = self.context.system, self.cluster
        self.touched.add(node)
        system.kill(cluster, node)
        system.wipe(cluster, node)  # type: ignore[attr-defined]

    def _start(self, node: str) -> None:
        system, cluster = self.context.system, self.cluster
        system.stop(cluster, node)  # a no-op after the kill; safe where a kill failed
        system.wipe(cluster, node)  # type: ignore[attr-defined]  # the disk stays lost
        system.start(cluster, node)
        self.touched.discard(node)
