"""Who is in the cluster (gossiped, eventually agreed) and who is up (each node's own view).

``ClusterState`` is what gossip carries: every member's address and status with a per-member
version, and the ring with its version. Two states merge member by member (higher version
wins) and ring by ring (higher version wins; ties broken by the owners, so every node picks the
same one). Nothing here does I/O.

``Health`` is the failure detector, local to each node as in the paper (§4.8): a peer is down
after a request to it failed to connect or timed out, and up again after any answer. A down
peer is skipped by sloppy quorum and probed in the background until it answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from dynamo.ring import Ring

Status = Literal["valid", "joining", "leaving", "left"]


@dataclass
class Member:
    address: str
    status: Status = "valid"
    version: int = 1

    def to_wire(self) -> dict[str, Any]:
        return {"address": self.address, "status": self.status, "version": self.version}


@dataclass
class ClusterState:
    members: dict[str, Member] = field(default_factory=dict)
    ring: Ring | None = None
    ring_version: int = 0

    @classmethod
    def bootstrap(cls, seeds: dict[str, str], partitions: int) -> ClusterState:
        """The state every initial member computes alike from the same seed list."""
        members = {name: Member(address) for name, address in seeds.items()}
        return cls(members, Ring.balanced(seeds, partitions), 1)

    def addresses(self) -> dict[str, str]:
        return {n: m.address for n, m in self.members.items() if m.status != "left"}

    def merge(self, other: ClusterState) -> bool:
        """Take whatever in ``other`` is newer; return True when the ring changed."""
        for name, theirs in other.members.items():
            ours = self.members.get(name)
            if ours is None or theirs.version > ours.version:
                self.members[name] = Member(theirs.address, theirs.status, theirs.version)
        if other.ring is None:
            return False
        if self.ring is None or (other.ring_version, other.ring.owners) > (
            self.ring_version,
            self.ring.owners,
        ):
            changed = self.ring != other.ring
            self.ring, self.ring_version = other.ring, other.ring_version
            return changed
        return False

    def set_member(self, name: str, address: str, status: Status) -> None:
        ours = self.members.get(name)
        version = ours.version + 1 if ours is not None else 1
        self.members[name] = Member(address, status, version)

    def set_ring(self, ring: Ring) -> None:
        self.ring, self.ring_version = ring, self.ring_version + 1

    def to_wire(self) -> dict[str, Any]:
        return {
            "members": {n: m.to_wire() for n, m in sorted(self.members.items())},
            "ring": list(self.ring.owners) if self.ring else None,
            "ring_version": self.ring_version,
        }

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ClusterState:
        members = {
            str(n): Member(str(m["address"]), m["status"], int(m["version"]))
            for n, m in raw["members"].items()
        }
        ring = Ring(tuple(raw["ring"])) if raw.get("ring") else None
        return cls(members, ring, int(raw.get("ring_version", 0)))

    def dumps(self) -> str:
        return json.dumps(self.to_wire())

    @classmethod
    def loads(cls, text: str) -> ClusterState:
        return cls.from_wire(json.loads(text))


class Health:
    """This node's view of which peers are up."""

    def __init__(self) -> None:
        self._down: dict[str, float] = {}
        self.last_heard: dict[str, float] = {}

    def is_up(self, name: str) -> bool:
        return name not in self._down

    def down(self) -> list[str]:
        return sorted(self._down)

    def failed(self, name: str) -> None:
        self._down.setdefault(name, time.monotonic())

    def answered(self, name: str) -> None:
        self._down.pop(name, None)
        self.last_heard[name] = time.monotonic()
