"""Consistent hashing with Q equal partitions and Q/S tokens per node (strategy 3 of the paper).

The key space (the 128-bit MD5 range) is cut into ``q`` equal partitions. Each partition has
one owner; every node owns ``q / S`` of them, give or take one. A key's preference list walks
the partitions clockwise from the key's own, collecting distinct physical nodes: the first
``n`` are the key's replicas, the rest are fallbacks in order.

A ring is a value: ``with_node`` and ``without_node`` return new rings that move only the
partitions they must (a joining node takes partitions from the most loaded nodes; a leaving
node's partitions go to the least loaded), so gossip can carry an explicit assignment and
every node computes the same preference lists from it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

HASH_BITS = 128
DEFAULT_PARTITIONS = 64


@lru_cache(maxsize=1 << 16)
def key_hash(key: str | bytes) -> int:
    """The MD5 position of a key on the ring, as the paper hashes keys (remembered for the
    most recent keys: routing, storage and Merkle trees all ask, once per write)."""
    data = key.encode() if isinstance(key, str) else key
    return int.from_bytes(hashlib.md5(data, usedforsecurity=False).digest(), "big")


@dataclass(frozen=True)
class Ring:
    """An assignment of ``len(owners)`` equal partitions to nodes."""

    owners: tuple[str, ...]

    def __post_init__(self) -> None:
        q = len(self.owners)
        if q < 1 or q & (q - 1):
            raise ValueError(f"the partition count must be a power of two, not {q}")

    @classmethod
    def balanced(cls, nodes: Iterable[str], partitions: int = DEFAULT_PARTITIONS) -> Ring:
        """The deterministic starting ring: nodes (sorted) take partitions round-robin, so
        any ``n <= len(nodes)`` consecutive partitions have distinct owners."""
        members = sorted(set(nodes))
        if not members:
            raise ValueError("a ring needs at least one node")
        if partitions < len(members):
            raise ValueError(f"{partitions} partitions cannot be shared by {len(members)} nodes")
        return cls(tuple(members[i % len(members)] for i in range(partitions)))

    @property
    def partitions(self) -> int:
        return len(self.owners)

    @cached_property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.owners)))

    @cached_property
    def _shift(self) -> int:
        return HASH_BITS - (self.partitions.bit_length() - 1)

    def partition_of(self, key: str | bytes) -> int:
        return key_hash(key) >> self._shift

    def preference_list(self, key: str | bytes, n: int | None = None) -> list[str]:
        """Distinct nodes for ``key`` in ring order; the first ``n`` are its replicas and the
        rest its fallbacks. ``n=None`` returns every node (the extended list)."""
        return self.partition_nodes(self.partition_of(key), n)

    def partition_nodes(self, partition: int, n: int | None = None) -> list[str]:
        return list(self._walks[partition][: n if n is not None else None])

    @cached_property
    def _walks(self) -> tuple[tuple[str, ...], ...]:
        q, total = self.partitions, len(self.nodes)
        walks = []
        for start in range(q):
            seen: dict[str, None] = {}
            for step in range(q):
                seen.setdefault(self.owners[(start + step) % q])
                if len(seen) == total:
                    break
            walks.append(tuple(seen))
        return tuple(walks)

    def replicated_partitions(self, node: str, n: int) -> list[int]:
        """Partitions whose first ``n`` distinct nodes include ``node``."""
        return [p for p in range(self.partitions) if node in self._walks[p][:n]]

    def owned(self, node: str) -> list[int]:
        return [p for p, owner in enumerate(self.owners) if owner == node]

    def load(self) -> Counter[str]:
        return Counter(self.owners)

    def with_node(self, node: str) -> Ring:
        """The ring after ``node`` joins: it takes partitions one at a time from the most
        loaded node until the loads differ by at most one. Only those partitions move."""
        if node in self.nodes:
            return self
        owners = list(self.owners)
        load = Counter(owners)
        load[node] = 0
        while True:
            donor = max(sorted(load), key=lambda m: load[m])
            if load[donor] - load[node] <= 1:
                break
            candidates = [p for p, o in enumerate(owners) if o == donor]
            owners[_best_spot(owners, candidates, node)] = node
            load[donor] -= 1
            load[node] += 1
        return Ring(tuple(owners))

    def without_node(self, node: str) -> Ring:
        """The ring after ``node`` leaves: each of its partitions goes to the least loaded
        remaining node. Only those partitions move."""
        if node not in self.nodes:
            return self
        if len(self.nodes) == 1:
            raise ValueError("the last node cannot leave the ring")
        owners = list(self.owners)
        load = Counter(o for o in owners if o != node)
        for p in [p for p, o in enumerate(owners) if o == node]:
            heir = min(sorted(load), key=lambda m: (load[m], _adjacent(owners, p, m)))
            owners[p] = heir
            load[heir] += 1
        return Ring(tuple(owners))

    def moved(self, other: Ring) -> list[int]:
        """Partitions whose owner differs between two rings of the same size."""
        return [p for p, (a, b) in enumerate(zip(self.owners, other.owners, strict=True)) if a != b]


def _adjacent(owners: Sequence[str], p: int, node: str, reach: int = 2) -> int:
    """How many of the ``reach`` neighbours on each side of ``p`` are already ``node``."""
    q = len(owners)
    return sum(owners[(p + d) % q] == node for d in range(-reach, reach + 1) if d)


def _best_spot(owners: Sequence[str], candidates: Sequence[int], node: str) -> int:
    """The candidate partition whose neighbours are least often ``node`` (ties: lowest)."""
    return min(candidates, key=lambda p: (_adjacent(owners, p, node), p))
