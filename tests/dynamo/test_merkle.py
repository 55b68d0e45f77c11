"""Merkle trees kept current key by key equal the tree built from scratch."""

from __future__ import annotations

import random

from dynamo.merkle import build, digest
from dynamo.versions import Sibling, VersionedObject


def obj(value: bytes) -> VersionedObject:
    return VersionedObject([Sibling(("a", 1), 1.0, value)], {"a": 1})


def test_a_tree_updated_key_by_key_equals_the_tree_built_from_its_keys() -> None:
    rnd = random.Random(7)
    held: dict[str, bytes] = {f"k{i}": digest(obj(b"%d" % i)) for i in range(300)}
    tree = build(held.items(), 1)
    before = tree.root
    for _ in range(500):
        key = f"k{rnd.randrange(400)}"
        if rnd.random() < 0.3:
            held.pop(key, None)
            tree.set(key, None)
        else:
            held[key] = digest(obj(rnd.randbytes(8)))
            tree.set(key, held[key])
    fresh = build(held.items(), 1)
    assert tree.root != before
    assert tree.root == fresh.root
    assert tree.leaves == fresh.leaves
    assert tree.keys == fresh.keys


def test_a_changed_key_changes_only_its_leaf() -> None:
    tree = build(((f"k{i}", digest(obj(b"v"))) for i in range(100)), 1)
    leaves = tree.leaves
    tree.set("k5", digest(obj(b"other")))
    changed = [i for i, (a, b) in enumerate(zip(leaves, tree.leaves, strict=True)) if a != b]
    assert len(changed) == 1
    assert "k5" in tree.keys[changed[0]]
