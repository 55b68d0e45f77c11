"""The set workload: unique integers added to a few keys by read-modify-write.

An add is the client's ``add`` (a store without sets does it its own way: our node reads,
unions the siblings and writes back with the read's context); a read is ``read_set``. An
acknowledged add missing from the final reads is a lost write.
"""

from __future__ import annotations

import random
from typing import Any

from systems.base import SET_OPS
from workloads.base import Op, WorkerState, failed


class SetWorkload:
    name = "set"
    operations = SET_OPS

    def __init__(self, keys: int = 5, *, read_ratio: float = 0.1) -> None:
        if not 0.0 <= read_ratio <= 1.0:
            raise ValueError(f"set workload: read_ratio is a share in [0, 1], not {read_ratio}")
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
        if op["f"] == "read":
            try:
                elements = await client.read_set(key)
            except Exception as e:
                return {"type": "fail", "error": failed(e)["error"]}  # a read changes nothing
            return {"type": "ok", "value": sorted(elements)}
        try:
            await client.add(key, op["value"])
        except Exception as e:
            return failed(e)
        return {"type": "ok", "value": op["value"]}

    async def read_local(self, client: Any, key: str) -> list[Any]:
        return sorted(await client.read_set(key, local=True))

    def final_keys(self) -> list[str]:
        return list(self.keys)

    def final_read(self, key: str) -> Op:
        return {"f": "read", "key": key, "value": None, "final": True}
