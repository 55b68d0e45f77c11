"""Merkle trees over one partition's keys, for anti-entropy (the paper's §4.7).

A partition's tree has ``LEAVES`` leaves; a key falls in the leaf picked by the next bits of
its hash after the partition bits, and a leaf's hash is the hash of its (key, object digest)
pairs in key order. The root is the hash of the leaves. Two replicas compare roots (one
small message), then leaves, then the keys of the leaves that differ, and exchange only the
objects that differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import msgpack

from dynamo.storage import HASH_PREFIX_BITS, hash_prefix
from dynamo.versions import VersionedObject, encode

LEAVES = 256
DIGEST_BYTES = 8


def digest(obj: VersionedObject) -> bytes:
    """A short hash of what a replica holds for a key (siblings and version vector)."""
    raw = encode(obj.replica_view())
    raw["v"] = sorted(obj.vv.items())
    return hashlib.blake2b(msgpack.packb(raw), digest_size=DIGEST_BYTES).digest()


def leaf_of(key: str, partitions: int) -> int:
    """The leaf of ``key`` within its partition."""
    bits_after_partition = HASH_PREFIX_BITS - (partitions.bit_length() - 1)
    within = hash_prefix(key) & ((1 << bits_after_partition) - 1)
    return within * LEAVES >> bits_after_partition


@dataclass(frozen=True)
class Tree:
    leaves: tuple[bytes, ...]
    keys: tuple[dict[str, bytes], ...]
    """Per leaf: key -> object digest."""

    @property
    def root(self) -> bytes:
        return hashlib.blake2b(b"".join(self.leaves), digest_size=DIGEST_BYTES).digest()


def build(items: Iterable[tuple[str, bytes]], partitions: int) -> Tree:
    """The tree of a partition from its (key, digest) pairs."""
    buckets: list[dict[str, bytes]] = [{} for _ in range(LEAVES)]
    for key, dig in items:
        buckets[leaf_of(key, partitions)][key] = dig
    leaves = tuple(
        hashlib.blake2b(
            b"".join(k.encode() + b"\0" + d for k, d in sorted(b.items())),
            digest_size=DIGEST_BYTES,
        ).digest()
        for b in buckets
    )
    return Tree(leaves, tuple(buckets))


def differing_leaves(ours: Tree, theirs: tuple[bytes, ...]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(ours.leaves, theirs, strict=True)) if a != b]


def differing_keys(ours: dict[str, bytes], theirs: dict[str, bytes]) -> list[str]:
    """Keys whose digest differs or that only one side has."""
    return sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
