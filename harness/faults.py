"""Kept for imports written before the seam moved: the nemesis protocol is ``nemesis.protocol``."""

from __future__ import annotations

from nemesis.protocol import Nemesis, NemesisContext, NoNemesis, Op, build

__all__ = ["Nemesis", "NemesisContext", "NoNemesis", "Op", "build", "names"]


def names() -> list[str]:
    from nemesis.spec import NAMES

    return ["none", *NAMES]
