"""Registers with siblings: reads, blind writes, context writes and deletes of unique values.

A value is its own version id (``w-41``). A write's ``context`` lists the ids it supersedes:
those the worker last read on that key (``[]`` for a blind write). Reads return every
sibling. The ``kv`` workload is this one with YCSB-A's mix and zipfian keys.
"""

from __future__ import annotations

import bisect
import random
from typing import Any

from systems.base import REGISTER_OPS
from workloads.base import Op, WorkerState, failed, zipf_weights


class RegisterWorkload:
    name = "register"
    operations = REGISTER_OPS
    prefix = "r"
    value_prefix = "w"

    def __init__(
        self,
        keys: int = 50,
        *,
        read: float = 0.45,
        blind: float = 0.25,
        context_write: float = 0.25,
        zipfian: bool = False,
    ) -> None:
        """The mix: ``read``, ``blind`` and ``context_write`` are the shares of reads, blind
        writes and writes with the worker's last-read context; the rest are deletes (which,
        like context writes, need a context: without one they become blind writes)."""
        shares = {"read": read, "blind": blind, "context_write": context_write}
        bad = [f"{k}={v}" for k, v in shares.items() if not 0.0 <= v <= 1.0]
        if bad or sum(shares.values()) > 1.0 + 1e-9:
            raise ValueError(
                f"register workload: read, blind and context_write are shares in [0, 1] "
                f"summing to at most 1 (the rest are deletes), not {', '.join(bad) or shares}"
            )
        self.keys = [f"{self.prefix}{i}" for i in range(keys)]
        self.read, self.blind, self.context_write = read, blind, context_write
        self._cum = zipf_weights(keys) if zipfian else None
        self._next = 0
        self._touched: set[str] = set()

    def _key(self, rng: random.Random) -> str:
        if self._cum is None:
            return rng.choice(self.keys)
        i = bisect.bisect_left(self._cum, rng.random() * self._cum[-1])
        return self.keys[min(i, len(self.keys) - 1)]

    def _value(self) -> str:
        self._next += 1
        return f"{self.value_prefix}-{self._next}"

    def next_op(self, rng: random.Random, state: WorkerState) -> Op:
        key = self._key(rng)
        known = state.contexts.get(key)
        x = rng.random()
        if x < self.read:
            return {"f": "read", "key": key, "value": None}
        self._touched.add(key)
        if x < self.read + self.blind or known is None or not known[1]:
            # after an empty read there is nothing to supersede: a delete would carry no
            # context (the node refuses one) and a context write is a blind write
            return {"f": "write", "key": key, "value": self._value(), "context": []}
        if x < self.read + self.blind + self.context_write:
            return {"f": "write", "key": key, "value": self._value(), "context": known[1]}
        return {"f": "delete", "key": key, "value": None, "context": known[1]}

    async def invoke(self, client: Any, op: Op, state: WorkerState) -> Op:
        key, f = op["key"], op["f"]
        if f == "read":
            return await self._read(client, key, state)
        known = state.contexts.get(key)
        context = known[0] if op.get("context") and known is not None else None
        try:
            if f == "write":
                await client.write(key, op["value"], context)
            else:
                await client.delete(key, context)
        except Exception as e:
            return failed(e)
        finally:
            if op.get("context"):
                state.contexts.pop(key, None)  # superseded (or perhaps so): read again first
        return {"type": "ok", "value": op["value"]}

    async def _read(self, client: Any, key: str, state: WorkerState) -> Op:
        try:
            got = await client.read(key)
        except Exception as e:
            return {"type": "fail", "error": failed(e)["error"]}  # a read changes nothing
        ids = sorted(got.values)
        state.contexts[key] = (got.context, ids)
        return {"type": "ok", "value": ids, "context": ids}

    async def read_local(self, client: Any, key: str) -> list[Any]:
        return sorted((await client.read(key, local=True)).values)

    def final_keys(self) -> list[str]:
        return sorted(self._touched, key=lambda k: int(k[len(self.prefix) :]))

    def final_read(self, key: str) -> Op:
        return {"f": "read", "key": key, "value": None, "final": True}
