"""The set workload: unique integers added to a few keys by read-modify-write.

An add reads the key, unions the element sets of all siblings, adds its element and puts
the result with the read's context, so the store can tell it supersedes what was read. A
read returns the union of the siblings. An acknowledged add missing from the final reads
is a lost write.
"""

from __future__ import annotations

import json
import random
from typing import Any

from workloads.base import Op, WorkerState, failed


def union(values: list[bytes]) -> set[int]:
    """The elements of every sibling: siblings of a set merge by union."""
    out: set[int] = set()
    for v in values:
        out.update(json.loads(v))
    return out


class SetWorkload:
    name = "set"

    def __init__(self, keys: int = 5, read_ratio: float = 0.1) -> None:
        self.keys = [f"s{i}" for i in range(keys)]
        self.read_ratio = read_ratio
        self._next = 0

    def next_op(self, rng: random.Random, state: WorkerState) -> Op:
        key = rng.choice(self.keys)
        if rng.random() < self.read_ratio:
            return {"f": "read", "key": key, "value": None}
        self._next += 1
        return {"f": "add", "key": key, "value": self._next}

    async def invoke(self, client: Any, op: Op, state: WorkerState) -> Op:
        key = op["key"]
        try:
            got = await client.get(key)
        except Exception as e:
            # The read half of an add writes nothing: whatever went wrong, no effect.
            return {"type": "fail", "error": failed(e)["error"]}
        elements = union(got.values)
        if op["f"] == "read":
            return {"type": "ok", "value": sorted(elements)}
        elements.add(op["value"])
        try:
            await client.put(key, json.dumps(sorted(elements)), got.context)
        except Exception as e:
            return failed(e)
        return {"type": "ok", "value": op["value"]}

    def decode(self, values: list[bytes]) -> list[Any]:
        return sorted(union(values))

    def final_keys(self) -> list[str]:
        return list(self.keys)

    def final_read(self, key: str) -> Op:
        return {"f": "read", "key": key, "value": None, "final": True}
