"""The reference Dynamo node and its client.

A node stands alone: it imports nothing of the harness, nemeses, checkers or workloads.
Layers, bottom up: ``ring`` and ``vclock`` (pure), ``storage`` (disk), ``protocol``
(frames on the wire), ``coordinator`` (get/put state machines), ``server`` (the node
process), ``client`` (what applications and the harness use), ``cli``.
"""

from dynamo.client import AsyncClient, Client, GetResult, PutResult
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
    "PutResult",
    "QuorumError",
    "RemoteError",
    "RequestTimeout",
]
__version__ = "0.1.0"
