"""Grudges: the one value every partition is.

A grudge maps a node to the nodes whose packets it drops. Every partition here is built
from an ordering of the nodes (the caller shuffles them with the run's rng), so a grudge
is a pure function of that order: the same seed, the same partitions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

Grudge = dict[str, frozenset[str]]


def majority(n: int) -> int:
    """The smallest number of nodes that is more than half of ``n``."""
    return n // 2 + 1


def complete(components: Sequence[Collection[str]]) -> Grudge:
    """Every node drops every node outside its own component."""
    everyone = frozenset(n for c in components for n in c)
    return {n: everyone - frozenset(c) for c in components for n in c}


def halves(order: Sequence[str]) -> Grudge:
    """Cut in two: the first ``n // 2`` nodes against the rest."""
    cut = len(order) // 2
    return complete([order[:cut], order[cut:]])


def isolate(order: Sequence[str], count: int = 1) -> Grudge:
    """The first ``count`` nodes against the rest (one node alone, a minority, …)."""
    return complete([order[:count], order[count:]])


def majority_minority(order: Sequence[str]) -> Grudge:
    """A majority (the first ``majority(n)`` nodes) against the remaining minority."""
    m = majority(len(order))
    return complete([order[:m], order[m:]])


def bridge(order: Sequence[str]) -> Grudge:
    """Two halves that cannot talk, and one node in the middle that talks to both.

    The bridge is the first node of the second half; it drops nobody and nobody drops it,
    so each side plus the bridge is a majority of an odd cluster.
    """
    cut = len(order) // 2
    middle = order[cut]
    return {
        n: drops - {middle}
        for n, drops in complete([order[:cut], order[cut:]]).items()
        if n != middle
    }


def majorities_ring(ring: Sequence[str]) -> Grudge:
    """Every node sees a majority, but no two nodes see the same one.

    Nodes sit on a ring in the given order and each keeps its ``majority(n) // 2``
    neighbours on either side; ring distance is symmetric, so the grudge is too. It only
    cuts anything from four nodes on.
    """
    n = len(ring)
    reach = majority(n) // 2
    position = {node: i for i, node in enumerate(ring)}
    grudge: Grudge = {}
    for node, i in position.items():
        near = {ring[(i + d) % n] for d in range(-reach, reach + 1)}
        grudge[node] = frozenset(ring) - near
    return grudge


def as_value(grudge: Mapping[str, Collection[str]]) -> dict[str, list[str]]:
    """The grudge as the history records it: sorted lists, nodes that drop nobody left out."""
    return {n: sorted(grudge[n]) for n in sorted(grudge) if grudge[n]}


def is_symmetric(grudge: Mapping[str, Collection[str]]) -> bool:
    return all(a in grudge.get(b, ()) for a, drops in grudge.items() for b in drops)


def views(grudge: Mapping[str, Collection[str]], nodes: Collection[str]) -> dict[str, set[str]]:
    """Whom each node can exchange packets with in both directions (itself included)."""
    return {
        a: {b for b in nodes if b not in grudge.get(a, ()) and a not in grudge.get(b, ())}
        for a in nodes
    }
