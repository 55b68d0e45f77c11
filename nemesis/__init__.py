"""Nemeses: faults with ``setup / invoke(op) / teardown``; teardown heals all they did.

Runs commands on nodes through ``harness.remote`` (the one SSH path) and nothing else.

``build(spec)`` makes the nemesis a ``--nemesis`` value names (see ``nemesis.spec`` for
the grammar): partitions from grudges (``partition``), crashes (``kill``), pauses
(``pause``), clock skew under libfaketime (``clock``), packet loss (``loss``), disk wipes
(``wipe``), owners of a key cut off (``owners``), power loss on powerfs (``power``), or
several composed into one. Each
takes its schedule from the rng the runner passes, so a seed replays the same faults; each
records in the op's ``value`` what it did.
"""

from __future__ import annotations

from nemesis.clock import ClockNemesis
from nemesis.compose import Compose, Part, compose
from nemesis.loss import LossNemesis
from nemesis.owners import OwnersNemesis
from nemesis.partition import PartitionNemesis
from nemesis.power import PowerNemesis
from nemesis.process import ProcessNemesis
from nemesis.spec import NAMES, Spec, parse
from nemesis.wipe import WipeNemesis

__all__ = [
    "NAMES",
    "ClockNemesis",
    "Compose",
    "LossNemesis",
    "OwnersNemesis",
    "PartitionNemesis",
    "PowerNemesis",
    "ProcessNemesis",
    "Spec",
    "WipeNemesis",
    "build",
    "compose",
    "parse",
]


def from_spec(spec: Spec) -> Part | Compose:
    held: set[str] = set()  # kill, pause and wipe share it: none touches another's nodes
    parts: list[Part] = []
    if spec.fault("owners") and (spec.fault("partition") or spec.fault("loss")):
        raise ValueError("owners uses the partition and loss rules: not with partition or loss")
    if spec.fault("power") and any(spec.fault(k) for k in ("kill", "pause", "wipe")):
        raise ValueError("power kills and starts nodes itself: not with kill, pause or wipe")
    for f in spec.faults:
        if f.kind == "partition":
            parts.append(PartitionNemesis(f.targets))
        elif f.kind in ("kill", "pause"):
            parts.append(ProcessNemesis(f.kind, f.targets, held))
        elif f.kind == "owners":
            parts.append(OwnersNemesis(f.targets))
        elif f.kind == "wipe":
            parts.append(WipeNemesis(f.targets, held))
        elif f.kind == "power":
            parts.append(PowerNemesis(f.targets))
        elif f.kind == "clock":
            parts.append(ClockNemesis(f.targets, spec.skew))
        else:
            parts.append(LossNemesis(f.targets, spec.probability))
    return compose(parts)


def build(name: str) -> Part | Compose:
    """The nemesis ``name`` (a ``--nemesis`` value) describes; ``ValueError`` if it is wrong."""
    return from_spec(parse(name))
