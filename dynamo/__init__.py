"""The reference Dynamo node and its client.

A node stands alone: it imports nothing of the harness, nemeses, checkers or workloads.
Layers, bottom up: ``ring``, ``versions`` and ``merkle`` (pure), ``storage`` (disk),
``protocol`` and ``connection`` (frames on the wire), ``coordinator`` (the get/put state
machines), the background work of ``gossip``, ``membership``, ``handoff``, ``entropy`` and
``tombstones``, ``node`` (the process that ties them together), ``client`` (what applications
and the harness use), ``cluster`` (a loopback cluster) and ``cli``.
"""

from dynamo.client import AsyncClient, Client, GetResult, PrefList, PutResult
from dynamo.errors import (
    BadRequest,
    ConnectError,
    DynamoError,
    QuorumError,
    RemoteError,
    RequestTimeout,
)

__all__ = [
    "AsyncClient",
    "BadRequest",
    "Client",
    "ConnectError",
    "DynamoError",
    "GetResult",
    "PrefList",
    "PutResult",
    "QuorumError",
    "RemoteError",
    "RequestTimeout",
]
__version__ = "0.1.0"
