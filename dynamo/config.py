"""A node's configuration: one definition read by the CLI and the node."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dynamo.admission import DEFAULT_PER_CONNECTION, DEFAULT_TOTAL
from dynamo.connection import split_address
from dynamo.protocol import DEFAULT_MAX_FRAME, DEFAULT_MAX_VALUE
from dynamo.ring import DEFAULT_PARTITIONS

Mode = Literal["siblings", "lww"]
MODES: tuple[Mode, ...] = ("siblings", "lww")
Engine = Literal["log", "sqlite"]
ENGINES: tuple[Engine, ...] = ("log", "sqlite")


@dataclass
class NodeConfig:
    name: str
    listen: str
    """``HOST:PORT`` the node binds; also the address it gives peers unless ``advertise``."""
    seeds: dict[str, str] = field(default_factory=dict)
    """Every member's name to ``HOST:PORT`` (the node itself may be among them)."""
    data_dir: Path | None = None
    """None keeps data in memory (tests only)."""
    n: int = 3
    r: int = 2
    w: int = 2
    mode: Mode = "siblings"
    buffered: bool = False
    storage: Engine = "log"
    """The storage engine under ``data_dir``: an append-only log (``data.log/``,
    ``dynamo.logstore``) or SQLite (``data.sqlite``). Both ack a put only after ``fdatasync``;
    the log costs less CPU per put (docs/performance.md)."""
    partitions: int = DEFAULT_PARTITIONS
    request_timeout: float = 2.0
    connect_timeout: float = 1.0
    max_frame: int = DEFAULT_MAX_FRAME
    max_value: int = DEFAULT_MAX_VALUE
    advertise: str | None = None
    secret: bytes | None = field(default=None, repr=False)
    """The cluster secret (``dynamo.auth``); None: peer operations only from loopback."""
    max_inflight_per_connection: int = DEFAULT_PER_CONNECTION
    """Requests one connection may have in flight before the node stops reading it."""
    max_inflight: int = DEFAULT_TOTAL
    """Requests in flight in total before the node stops reading any connection that sends."""
    sloppy: bool = True
    """Sloppy quorum (fallbacks with hints); False asks the N owners only (strict quorum)."""
    gossip_interval: float = 1.0
    """Seconds between gossip rounds with a random peer (and probes of down peers)."""
    handoff_interval: float = 1.0
    """Seconds between hinted hand-off rounds."""
    anti_entropy_interval: float = 1.0
    """Seconds between Merkle exchanges of one partition with its replicas; 0 disables."""
    unsafe_early_ack: bool = False
    """TEST ONLY: acknowledge a put at once and write it 200 ms later (a write-behind bug) —
    a deliberately broken node, so a test can show that the harness catches lost writes."""
    tombstone_grace: float = 10.0
    """Seconds a tombstone is kept at least before it may be reaped; negative: never reap."""

    def __post_init__(self) -> None:
        split_address(self.listen)
        for address in self.seeds.values():
            split_address(address)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.storage not in ENGINES:
            raise ValueError(f"storage must be one of {', '.join(ENGINES)}, not {self.storage!r}")
        if not self.n >= 1:
            raise ValueError("n must be at least 1")
        for name, value in (("r", self.r), ("w", self.w)):
            if not 1 <= value <= self.n:
                raise ValueError(f"{name} must be between 1 and n={self.n}, not {value}")
        if self.max_inflight_per_connection < 1 or self.max_inflight < 1:
            raise ValueError("in-flight bounds must be at least 1")
        members = set(self.seeds) | {self.name}
        if len(members) < self.n:
            raise ValueError(f"n={self.n} needs at least {self.n} members, got {len(members)}")

    @property
    def address(self) -> str:
        return self.advertise or self.listen

    @property
    def members(self) -> dict[str, str]:
        return {**self.seeds, self.name: self.address}


def parse_seeds(text: str) -> dict[str, str]:
    """``"n1=127.0.0.1:7001,n2=127.0.0.1:7002"`` to a dict; ``ValueError`` if malformed."""
    seeds: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, address = item.partition("=")
        if not sep or not name:
            raise ValueError(f"a seed is NAME=HOST:PORT, not {item!r}")
        split_address(address)
        seeds[name] = address
    return seeds
