"""``compose``: several nemeses as one, itself a nemesis (Jepsen's ``nemesis/compose``).

Each op goes to the nemesis that handles its ``f``. Every interval one of them, chosen
with the run's rng, says what to do next; one with nothing to do passes to the next in
that random order. Heal ops and teardowns are everyone's, and every teardown runs even
when another fails.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from nemesis.base import NemesisError, Op, heal_all

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext


class Part(Protocol):
    """A nemesis that says which ops it handles and can plan without a cluster."""

    name: str
    fs: frozenset[str]
    powerfs: bool

    def plan(self, nodes: Sequence[str]) -> None: ...
    def setup(self, ctx: NemesisContext) -> None: ...
    def next_op(self, rng: random.Random) -> Op | None: ...
    def invoke(self, op: Op) -> Op: ...
    def heal_ops(self) -> list[Op]: ...
    def teardown(self) -> None: ...
    def host_env(self, node_dir: str) -> str: ...


class Compose:
    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts) or "none"
        self.fs = frozenset(f for p in self.parts for f in p.fs)
        self.powerfs = any(getattr(p, "powerfs", False) for p in self.parts)
        self.requires = frozenset(c for p in self.parts for c in getattr(p, "requires", ()))
        self.route: dict[str, Part] = {}
        for p in self.parts:
            for f in p.fs:
                if f in self.route:
                    raise ValueError(f"{self.route[f].name} and {p.name} both handle {f!r}")
                self.route[f] = p

    def plan(self, nodes: Sequence[str]) -> None:
        for p in self.parts:
            p.plan(nodes)

    def setup(self, ctx: NemesisContext) -> None:
        for p in self.parts:
            p.setup(ctx)

    def next_op(self, rng: random.Random) -> Op | None:
        for p in rng.sample(self.parts, len(self.parts)):
            op = p.next_op(rng)
            if op is not None:
                return op
        return None

    def invoke(self, op: Op) -> Op:
        part = self.route.get(op["f"])
        if part is None:
            raise NemesisError(f"no nemesis here does {op['f']!r}")
        return part.invoke(op)

    def heal_ops(self) -> list[Op]:
        return [op for p in self.parts for op in p.heal_ops()]

    def host_env(self, node_dir: str) -> str:
        return "; ".join(e for p in self.parts if (e := p.host_env(node_dir)))

    def teardown(self) -> None:
        heal_all([p.teardown for p in reversed(self.parts)])


def compose(parts: Sequence[Part]) -> Part | Compose:
    """One part as itself; several as their composition."""
    return parts[0] if len(parts) == 1 else Compose(parts)
