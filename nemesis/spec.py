"""The ``--nemesis`` value: which faults, which targets, and their parameters.

Grammar: comma-separated items, each a fault, optionally with ``:``-given targets joined
by ``/``, or a ``name=value`` parameter::

    partition                       every partition kind in turn, chosen at random
    partition-majorities-ring       one kind (also: partition:ring)
    kill:one/minority,pause         kill one node or a minority; pause any target size
    clock,skew=5                    clock offsets of up to ±5 s
    loss:all,p=0.3                  every node drops 30 % of what it sends to the others
    wipe                            SIGKILL one node, delete its data, start it (also
                                    wipe:one/minority/majority/all; not part of ``all``:
                                    wiping W nodes at once loses writes on any store)
    power                           power loss: SIGKILL nodes at one instant and drop every
                                    write their disks (powerfs mounts) had not synced, then
                                    start them (also power:one/minority/majority/all/replicas;
                                    replicas: every owner of a key at once; not part of ``all``)
    owners:steady/flapping/lossy    isolate every owner of a key (writes on fallbacks
                                    only); flapping heals and cuts every 1-2 s; lossy
                                    alternates the cut with loss from fallbacks to owners
    all                             partition, kill, pause, clock and loss
    none                            no faults
"""

from __future__ import annotations

from dataclasses import dataclass

from nemesis.targets import SPECS

PARTITION_KINDS = ("one", "halves", "majority", "ring", "bridge")
PROCESS_FAULTS = ("kill", "pause")
FAULTS = ("partition", "kill", "pause", "clock", "loss")
ALIASES = {
    "partition-random-node": ("partition", ("one",)),
    "partition-random-halves": ("partition", ("halves",)),
    "partition-majority-minority": ("partition", ("majority",)),
    "partition-majorities-ring": ("partition", ("ring",)),
    "partition-bridge": ("partition", ("bridge",)),
    "bridge": ("partition", ("bridge",)),
}
OWNER_MODES = ("steady", "flapping", "lossy")
POWER_TARGETS = (*SPECS, "replicas")
OPT_IN = {"wipe": ("one",), "owners": OWNER_MODES, "power": POWER_TARGETS}
"""Faults ``all`` leaves out, with the targets they take when none are given."""
NAMES = (*FAULTS, *OPT_IN, *ALIASES, "all")
DEFAULT_PROBABILITY = 0.2
DEFAULT_SKEW = 30.0


@dataclass(frozen=True)
class Fault:
    """One kind of fault and the targets (or, for partitions, the kinds) it may use."""

    kind: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    faults: tuple[Fault, ...] = ()
    probability: float = DEFAULT_PROBABILITY
    skew: float = DEFAULT_SKEW

    def fault(self, kind: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind), None)


def _choices(kind: str) -> tuple[str, ...]:
    return {"partition": PARTITION_KINDS, "owners": OWNER_MODES, "power": POWER_TARGETS}.get(
        kind, SPECS
    )


def _fault(item: str) -> list[Fault]:
    name, _, given = item.partition(":")
    if name == "all":
        if given:
            raise ValueError("'all' takes no targets")
        return [Fault(k, _choices(k)) for k in FAULTS]
    if name in ALIASES:
        if given:
            raise ValueError(f"{name!r} takes no targets; use partition:KIND/KIND")
        kind, targets = ALIASES[name]
        return [Fault(kind, targets)]
    if name not in FAULTS and name not in OPT_IN:
        raise ValueError(f"unknown nemesis {name!r}; choose from {', '.join(NAMES)} or none")
    choices = _choices(name)
    if not given:
        return [Fault(name, OPT_IN.get(name, choices))]
    targets = tuple(given.split("/"))
    bad = [t for t in targets if t not in choices]
    if bad:
        raise ValueError(f"{name}: unknown target {bad[0]!r}; choose from {', '.join(choices)}")
    return [Fault(name, tuple(dict.fromkeys(targets)))]


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: not a number") from None


def parse(text: str) -> Spec:
    """The spec ``text`` describes; ``ValueError`` saying what is wrong otherwise."""
    faults: dict[str, Fault] = {}
    params: dict[str, float] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item or item == "none":
            continue
        if "=" in item:
            name, _, value = item.partition("=")
            if name not in ("p", "skew"):
                raise ValueError(f"unknown nemesis parameter {name!r}; use p=… or skew=…")
            params[name] = _number(name, value)
            continue
        for f in _fault(item):
            have = faults.get(f.kind)
            merged = f.targets if have is None else (*have.targets, *f.targets)
            faults[f.kind] = Fault(f.kind, tuple(dict.fromkeys(merged)))
    p = params.get("p", DEFAULT_PROBABILITY)
    skew = params.get("skew", DEFAULT_SKEW)
    if not 0 < p <= 1:
        raise ValueError(f"p={p:g}: a loss probability is in (0, 1]")
    if skew <= 0:
        raise ValueError(f"skew={skew:g}: must be > 0 seconds")
    return Spec(tuple(faults.values()), p, skew)
