"""Typed errors shared by the node and its clients.

Every error carries ``definite``: True when the request certainly had no effect (it never
reached a node, or a node refused it before touching any replica). A harness records a
definite failure as ``fail`` and anything else as ``info`` — a put whose quorum was not met
may still have landed on some replicas.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger("dynamo")


class DynamoError(Exception):
    """Base of every error the node or client raises."""

    code = "error"
    definite = False

    def __init__(self, message: str, *, definite: bool | None = None) -> None:
        super().__init__(message)
        if definite is not None:
            self.definite = definite

    def to_wire(self) -> dict[str, object]:
        return {"code": self.code, "message": str(self), "definite": self.definite}


class BadRequest(DynamoError):
    """The request was malformed: unknown op, wrong-typed field, oversized value."""

    code = "bad_request"
    definite = True


class QuorumError(DynamoError):
    """Fewer than R (get) or W (put) replicas answered in time."""

    code = "quorum"


class RequestTimeout(DynamoError):
    """No answer within the request timeout."""

    code = "timeout"


class ConnectError(DynamoError):
    """The node could not be reached; the request was never sent."""

    code = "connect"
    definite = True


class RemoteError(DynamoError):
    """The node failed while handling the request."""

    code = "remote"


class NotAuthorised(DynamoError):
    """A peer or admin operation from a connection that is not a member's."""

    code = "not_authorised"
    definite = True


_BY_CODE: dict[str, type[DynamoError]] = {
    cls.code: cls
    for cls in (BadRequest, QuorumError, RequestTimeout, ConnectError, RemoteError, NotAuthorised)
}


def from_wire(err: dict[str, object]) -> DynamoError:
    """Rebuild a typed error from an error reply."""
    cls = _BY_CODE.get(str(err.get("code")), RemoteError)
    definite = err.get("definite")
    return cls(
        str(err.get("message", "")), definite=bool(definite) if definite is not None else None
    )


@contextlib.contextmanager
def one_round(what: str) -> Iterator[None]:
    """One round of a background loop: a ``DynamoError`` (a peer down, a request refused) is
    routine; anything else is logged, and the loop goes on either way — one bad reply from a
    peer must not end gossip, hand-off, anti-entropy or reaping for the node's life."""
    try:
        yield
    except DynamoError:
        pass
    except Exception:
        log.exception("%s: a round failed; the next one goes on", what)
