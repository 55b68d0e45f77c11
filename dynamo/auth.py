"""Who may ask for what: peer and admin operations only from members of the cluster.

Clients may ``get``, ``put``, ``delete``, ``status`` and ``ping``. Everything else — the
replica operations, gossip, anti-entropy, hint checks, reaping, forwarded writes and the admin
operations — changes or reveals the cluster's internals, and is a *peer* operation.

Members share a secret (``--secret-file`` or ``DYNAMO_SECRET_FILE``, the same file on every
node). A connection proves it knows the secret once, right after it opens: ``hello`` gets a
fresh random challenge, ``auth`` answers with HMAC-SHA256(secret, challenge); the connection
is then a member's for its life. The secret itself never crosses the wire, and a proof is good
for one connection only.

A node with a secret takes peer operations only on connections that proved it. A node with
none takes them from loopback, and — while ``OPEN_WITHOUT_SECRET`` holds, until every harness
adapter hands its nodes a secret — from anywhere, with a warning at start. A refused request
gets ``not_authorised`` and changes nothing. In-process callers
(the simulator calls ``Node.respond`` with no session) are trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from dynamo.errors import BadRequest, NotAuthorised
from dynamo.protocol import Message

ENV = "DYNAMO_SECRET_FILE"
MIN_SECRET = 16
CHALLENGE_BYTES = 32
PROOF_BYTES = 32
_CONTEXT = b"dynamo-member\0"

OPEN_WITHOUT_SECRET = True
"""A node without a secret takes peer operations from any address (else loopback only)."""

CLIENT_OPS = frozenset({"get", "put", "delete", "preflist", "status", "ping", "hello", "auth"})
"""Everything else is a peer operation (a put or delete marked ``forwarded`` is one too)."""


def load_secret(path: str | Path | None) -> bytes | None:
    """The secret in ``path``, else in the file ``DYNAMO_SECRET_FILE`` names, else None.
    Surrounding whitespace is not part of it; fewer than 16 bytes is an error."""
    name = path if path is not None else os.environ.get(ENV) or None
    if name is None:
        return None
    try:
        secret = Path(name).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the secret file {name}: {exc.strerror or exc}") from None
    if len(secret) < MIN_SECRET:
        raise ValueError(f"the secret in {name} is {len(secret)} bytes; use at least {MIN_SECRET}")
    return secret


def new_secret() -> str:
    """A secret for a new cluster (64 hex digits)."""
    return secrets.token_hex(32)


def proof(secret: bytes, challenge: bytes) -> bytes:
    return hmac.new(secret, _CONTEXT + challenge, hashlib.sha256).digest()


def is_peer_op(msg: Message) -> bool:
    return msg["op"] not in CLIENT_OPS or bool(msg.get("forwarded"))


class Session:
    """One inbound connection: where it comes from, its challenge, whether it proved the
    secret."""

    __slots__ = ("authorised", "challenge", "loopback")

    def __init__(self, peer_host: str | None) -> None:
        self.loopback = _is_loopback(peer_host)
        self.challenge: bytes | None = None
        self.authorised = False

    def handshake(self, msg: Message, secret: bytes | None) -> Message:
        """``hello`` and ``auth``."""
        if msg["op"] == "hello":
            self.challenge = secrets.token_bytes(CHALLENGE_BYTES)
            return {"challenge": self.challenge, "secret": secret is not None}
        if secret is None:
            raise BadRequest("this node has no secret: there is nothing to prove")
        challenge, self.challenge = self.challenge, None  # one answer per challenge
        if challenge is None:
            raise NotAuthorised("auth before hello: ask for a challenge first")
        if not hmac.compare_digest(msg["proof"], proof(secret, challenge)):
            raise NotAuthorised("wrong proof: this node has another cluster secret")
        self.authorised = True
        return {}

    def admit(self, msg: Message, secret: bytes | None) -> None:
        """Raise ``NotAuthorised`` unless this connection may make this request."""
        if self.authorised or not is_peer_op(msg):
            return
        if secret is None and (self.loopback or OPEN_WITHOUT_SECRET):
            return
        what = "a forwarded write" if msg["op"] in CLIENT_OPS else f"{msg['op']!r}"
        how = (
            "prove the cluster secret first (hello, then auth; --secret-file)"
            if secret is not None
            else "this node has no secret, so it takes peer operations only from loopback"
        )
        raise NotAuthorised(f"not authorised: {what} is for cluster members; {how}")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)
