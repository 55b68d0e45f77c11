"""A cluster as the runner sees it: named hosts reachable over SSH, and where their nodes listen.

Providers make clusters; systems, the runner and nemeses only use them. ``remote_dir`` is
the one place on a host where everything of a node lives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from harness.remote import Host, Remote, on_all

ROOT_DIR = "/var/lib/dynamo-harness"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
"""A cluster's name: it becomes a directory on every host and part of namespace names, and
flows into remote shell commands, so letters, digits and '-' only, at most 32."""


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(
            f"cluster name {name!r}: use letters, digits and '-' (not first), at most 32"
        )
    return name


@dataclass
class Cluster:
    """Hosts n1…nN of one test, with an SSH connection to each.

    ``addresses`` are where nodes listen and clients connect (on real hosts a private
    network, not necessarily the SSH address). ``control_address`` is the harness's own
    address as the nodes see it, when known: a nemesis must never cut it off.
    """

    name: str
    hosts: list[Host]
    addresses: dict[str, str]
    control_address: str | None = None
    remotes: dict[str, Remote] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        for h in self.hosts:
            self.remotes.setdefault(h.name, Remote(h))

    @property
    def nodes(self) -> list[str]:
        return [h.name for h in self.hosts]

    def remote(self, node: str) -> Remote:
        return self.remotes[node]

    def remote_dir(self, node: str) -> str:
        return f"{ROOT_DIR}/{self.name}/{node}"

    def all_remotes(self) -> list[Remote]:
        return [self.remotes[n] for n in self.nodes]

    def discover_control_address(self) -> str | None:
        """Fill ``control_address`` from where the first host sees our SSH session come from.

        ``$SSH_CONNECTION`` is seen from the node's side, so it is right behind NAT too
        (Vagrant's forwarded ports), where our own socket's address would not be.
        """
        if self.control_address is None and self.hosts:
            out = self.remote(self.nodes[0]).run_shell('echo "$SSH_CONNECTION"', timeout=15).stdout
            self.control_address = out.split()[0] if out.split() else None
        return self.control_address

    def connect(self) -> None:
        on_all(self.all_remotes(), Remote.connect)

    def close(self) -> None:
        for r in self.remotes.values():
            r.close()


class Provider(Protocol):
    """Where hosts come from. ``session`` yields a ready cluster and releases what it made."""

    name: str

    def session(self) -> AbstractContextManager[Cluster]: ...


def iter_blocks(text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Parse ``ssh -G``/``vagrant ssh-config`` style text into (Host, {key: value}) blocks."""
    current: str | None = None
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key.lower() == "host":
            if current is not None:
                yield current, fields
            current, fields = value.strip(), {}
        elif current is not None:
            fields[key.lower()] = value.strip().strip('"')
    if current is not None:
        yield current, fields
