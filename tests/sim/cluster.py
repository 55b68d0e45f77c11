"""The simulated cluster: real ``Node`` objects on a ``Network``, each over its own ``Disk``.

Every node gets the seams ``dynamo.node.Node`` offers: a ``SimStorage`` on its disk, a
transport on the simulated network, a wall clock read off the virtual one, and a random
source derived from the run's seed, its name and its incarnation — so a run is a function of
its seed and its schedule. What the operator (or the schedule) can do to a node: crash it
(``kill -9``: unsynced writes lost, connections broken), restart it on the same disk, wipe
its disk, add a new node that joins, ask one to leave.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dynamo.config import NodeConfig
from dynamo.node import Node
from dynamo.versions import VersionedObject
from tests.sim.disk import Disk, SimStorage
from tests.sim.network import Endpoint, Network, SimTransport, address_of

EPOCH = 1_800_000_000.0
"""The wall clock at virtual time 0 (any fixed value: runs must not read the real clock)."""


@dataclass(frozen=True)
class Settings:
    """The node options every simulated node runs with (the node's defaults, but fewer
    partitions and a short tombstone grace so that reaping happens within a schedule)."""

    n: int = 3
    r: int = 2
    w: int = 2
    partitions: int = 16
    request_timeout: float = 2.0
    gossip_interval: float = 1.0
    handoff_interval: float = 1.0
    anti_entropy_interval: float = 1.0
    tombstone_grace: float = 3.0
    buffered: bool = False


@dataclass
class Member:
    """One node's slot in the simulation: its disk outlives its incarnations."""

    name: str
    seeds: dict[str, str]
    disk: Disk = field(default_factory=Disk)
    node: Node | None = None
    storage: SimStorage | None = None
    endpoint: Endpoint | None = None
    incarnations: int = 0
    wipes: list[float] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.node is not None


class ErrorLog(logging.Handler):
    """Records every error a node logs: a request or background task that failed with an
    exception the node did not expect is a bug, whatever the client saw."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]!r}"
        self.records.append(text)


class Cluster:
    def __init__(
        self,
        names: list[str],
        seed: int,
        settings: Settings,
        network: Network,
        *,
        on_unhint: Callable[[str, str, str, VersionedObject | None], None] | None = None,
    ) -> None:
        self.seed = seed
        self.settings = settings
        self.network = network
        self.on_unhint = on_unhint
        self.seeds = {n: address_of(n) for n in names}
        self.members: dict[str, Member] = {n: Member(n, self.seeds) for n in names}

    def config(self, member: Member) -> NodeConfig:
        s = self.settings
        return NodeConfig(
            name=member.name,
            listen=address_of(member.name),
            seeds=dict(member.seeds),
            n=s.n,
            r=s.r,
            w=s.w,
            partitions=s.partitions,
            request_timeout=s.request_timeout,
            gossip_interval=s.gossip_interval,
            handoff_interval=s.handoff_interval,
            anti_entropy_interval=s.anti_entropy_interval,
            tombstone_grace=s.tombstone_grace,
            buffered=s.buffered,
        )

    # --- life and death --------------------------------------------------------------------

    async def start(self, name: str) -> Node:
        member = self.members[name]
        assert member.node is None, f"{name} is already up"
        member.incarnations += 1
        tag = f"{self.seed}:{name}:{member.incarnations}"
        loop = asyncio.get_running_loop()
        storage = SimStorage(
            member.disk,
            random.Random(f"disk:{tag}"),
            buffered=self.settings.buffered,
            on_unhint=(lambda target, key, obj: self.on_unhint(name, target, key, obj))
            if self.on_unhint
            else None,
        )
        endpoint = self.network.attach(name)
        node = Node(
            self.config(member),
            storage=storage,
            transport=SimTransport(self.network, endpoint),
            clock=lambda: EPOCH + loop.time(),
            rng=random.Random(f"node:{tag}"),
        )
        endpoint.handler = node.respond
        member.node, member.storage, member.endpoint = node, storage, endpoint
        await node.start(listen=False)
        return node

    def crash(self, name: str) -> int:
        """``kill -9``: every task stops where it is; writes not yet synced are lost
        (returned: how many)."""
        member = self.members[name]
        node, storage = member.node, member.storage
        if node is None or storage is None:
            return 0
        lost = storage.crash()
        self.network.detach(name)
        for task in [*node._loops, *sorted(node._tasks, key=_creation)]:
            task.cancel()  # in a fixed order, so a replay schedules the same callbacks
        node.abort()
        member.node = member.storage = member.endpoint = None
        return lost

    def wipe(self, name: str, now: float) -> None:
        """Crash the node and give it an empty disk (it restarts as a new incarnation)."""
        self.crash(name)
        member = self.members[name]
        member.disk = Disk()
        member.wipes.append(now)

    def add(self, name: str) -> Member:
        """A new member that knows the initial nodes as its seeds (it joins when asked)."""
        member = Member(name, self.seeds)
        self.members[name] = member
        return member

    # --- views -----------------------------------------------------------------------------

    def up(self) -> list[Node]:
        return [m.node for m in self.members.values() if m.node is not None]

    def node(self, name: str) -> Node | None:
        return self.members[name].node


def _creation(task: asyncio.Future) -> int:
    """A task's creation number (asyncio names tasks ``Task-<n>`` in creation order)."""
    name = task.get_name() if isinstance(task, asyncio.Task) else ""
    match = re.fullmatch(r"Task-(\d+)", name)
    return int(match.group(1)) if match else 0
