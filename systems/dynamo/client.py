"""Our node's client speaking the harness's abstract operations.

A set is one key whose value is a JSON list: ``add`` reads the key, unions the elements of
every sibling, adds its element and writes the result with the read's context, so the node
can tell the write supersedes what was read. A register is the key's siblings. The node's
own errors say whether a request had no effect (``definite``); they become ``Definite`` or
``Indefinite`` here, with the node's error code in the message.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import TypeVar

from dynamo.client import AsyncClient
from dynamo.errors import DynamoError
from systems.base import ReadResult
from systems.errors import Definite, Indefinite, describe

T = TypeVar("T")


def union(values: list[bytes]) -> set[int]:
    """The elements of every sibling: siblings of a set merge by union."""
    out: set[int] = set()
    for v in values:
        out.update(json.loads(v))
    return out


async def _call(call: Awaitable[T]) -> T:
    try:
        return await call
    except DynamoError as e:
        kind = Definite if e.definite else Indefinite
        raise kind(f"{e.code}: {e}") from e


class DynamoClient:
    def __init__(self, address: str, timeout: float) -> None:
        self.node = AsyncClient([address], timeout=timeout)

    # sets

    async def read_set(self, key: str, *, local: bool = False) -> set[int]:
        return union((await _call(self.node.get(key, local=local))).values)

    async def add(self, key: str, element: int) -> None:
        try:
            got = await _call(self.node.get(key))
        except Exception as e:  # the read half of an add writes nothing
            raise Definite(describe(e)) from e
        elements = union(got.values) | {element}
        await _call(self.node.put(key, json.dumps(sorted(elements)), got.context))

    # registers

    async def read(self, key: str, *, local: bool = False) -> ReadResult:
        got = await _call(self.node.get(key, local=local))
        return ReadResult([v.decode() for v in got.values], got.context)

    async def write(self, key: str, value: str, context: str | None = None) -> None:
        await _call(self.node.put(key, value, context))

    async def delete(self, key: str, context: str | None = None) -> None:
        await _call(self.node.delete(key, context))  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.node.close()
