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


class Tree:
    """A partition's tree, kept current key by key (``set``): a write re-hashes nothing at
    once; the leaves it touched are hashed again when the tree is next read."""

    def __init__(self, keys: list[dict[str, bytes]], partitions: int) -> None:
        self.keys = keys
        """Per leaf: key -> object digest."""
        self.partitions = partitions
        self._leaves: list[bytes | None] = [None] * len(keys)

    @property
    def leaves(self) -> tuple[bytes, ...]:
        hashed = self._leaves
        for i, leaf in enumerate(hashed):
            if leaf is None:
                hashed[i] = _leaf_hash(self.keys[i])
        return tuple(hashed)  # type: ignore[arg-type]

    @property
    def root(self) -> bytes:
        return hashlib.blake2b(b"".join(self.leaves), digest_size=DIGEST_BYTES).digest()

    def set(self, key: str, dig: bytes | None) -> None:
        """``key`` now holds an object of digest ``dig`` (None: it is gone)."""
        leaf = leaf_of(key, self.partitions)
        if dig is None:
            self.keys[leaf].pop(key, None)
        else:
            self.keys[leaf][key] = dig
        self._leaves[leaf] = None


def _leaf_hash(bucket: dict[str, bytes]) -> bytes:
    return hashlib.blake2b(
        b"".join(k.encode() + b"\0" + d for k, d in sorted(bucket.items())),
        digest_size=DIGEST_BYTES,
    ).digest()


def build(items: Iterable[tuple[str, bytes]], partitions: int) -> Tree:
    """The tree of a partition from its (key, digest) pairs."""
    buckets: list[dict[str, bytes]] = [{} for _ in range(LEAVES)]
    for key, dig in items:
        buckets[leaf_of(key, partitions)][key] = dig
    return Tree(buckets, partitions)


def differing_leaves(ours: Tree, theirs: tuple[bytes, ...]) -> list[int]:
    return [i for i, (a, b) in enumerate(zip(ours.leaves, theirs, strict=True)) if a != b]


def differing_keys(ours: dict[str, bytes], theirs: dict[str, bytes]) -> list[str]:
    """Keys whose digest differs or that only one side has."""
    return sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
