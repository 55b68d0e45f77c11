"""Crashes and pauses: ``kill`` (SIGKILL) then ``start``; ``pause`` (SIGSTOP) then ``resume``.

Both go through the ``System``'s verbs, so they mean what the system says they mean. A
kill nemesis and a pause nemesis built together share the set of nodes they hold, so
neither pauses a dead node nor kills a paused one: every window closes as it opened.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nemesis import targets as targeting
from nemesis.base import Bound, NemesisError, Op, each
from nemesis.targets import SPECS

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext

UNDO = {"kill": "start", "pause": "resume"}


class ProcessNemesis(Bound):
    """``kill`` or ``pause`` (``fault``) of target-spec-sized node sets, and its undo."""

    def __init__(
        self, fault: str, targets: Sequence[str] = SPECS, held: set[str] | None = None
    ) -> None:
        super().__init__()
        if fault not in UNDO:
            raise ValueError(f"process faults are {', '.join(UNDO)}, not {fault!r}")
        self.name = fault
        self.fault = fault
        self.undo = UNDO[fault]
        self.fs = frozenset({fault, self.undo})
        self.targets = tuple(targets)
        self.held = set() if held is None else held  # nodes any process nemesis holds
        self.mine: list[str] = []  # nodes the schedule holds (killed or paused)
        self.touched: set[str] = set()  # nodes it really did that to and has not undone

    def setup(self, ctx: NemesisContext) -> None:
        self.bind(ctx)

    def next_op(self, rng: random.Random) -> Op | None:
        if self.mine:
            return self._undo()
        free = [n for n in self.nodes if n not in self.held]
        chosen = targeting.pick(rng.choice(self.targets), free, rng)
        if not chosen:
            return None
        self.mine = chosen
        self.held.update(chosen)
        return {"f": self.fault, "value": chosen}

    def _undo(self) -> Op:
        op = {"f": self.undo, "value": self.mine}
        self.held.difference_update(self.mine)
        self.mine = []
        return op

    def invoke(self, op: Op) -> Op:
        f = op["f"]
        if f not in self.fs:
            raise NemesisError(f"{self.name}: cannot do {f!r}")
        each(op["value"], lambda node: self._do(f, node))
        return op

    def heal_ops(self) -> list[Op]:
        return [self._undo()] if self.mine else []

    def teardown(self) -> None:
        """Start every node this killed and did not start; resume every node (harmless)."""
        if self.ctx is None:
            return
        if self.fault == "kill":
            each(sorted(self.touched), lambda node: self._do("start", node))
        else:
            each(self.cluster.nodes, self._resume_any)

    def _do(self, f: str, node: str) -> None:
        system, cluster = self.context.system, self.cluster
        if f in UNDO:
            self.touched.add(node)
            (system.kill if f == "kill" else system.pause)(cluster, node)
            return
        if f == "start":
            system.stop(cluster, node)  # a no-op where the kill happened; safe where it did not
            system.start(cluster, node)
        else:
            system.resume(cluster, node)
        self.touched.discard(node)

    def _resume_any(self, node: str) -> None:
        """SIGCONT ``node``; only a node this paused must answer (the others may be dead)."""
        try:
            self._do("resume", node)
        except Exception:
            if node in self.touched:
                raise
