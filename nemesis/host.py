"""A node's host made ready for faults, and cleared of what an earlier run left.

``prepare`` runs at install, before the node starts (``harness.dynamo_system`` calls it):
it removes our iptables chains, ends a strobe loop and sets the clock offset to 0 — the
leftovers of a harness that was SIGKILLed mid-fault — and writes ``node.env`` so the node
starts under libfaketime. Every step is idempotent.
"""

from __future__ import annotations

import shlex
from typing import Protocol

from nemesis import clock, iptables


class Runs(Protocol):
    def run(self, command: str, *, timeout: float | None = ..., check: bool = ...) -> object: ...


def prepare_command(node_dir: str) -> str:
    env = shlex.quote(f"{node_dir}/node.env")
    return (
        f"{iptables.remove_all()}; {clock.reset(node_dir)} && "
        f"{{ {clock.env_lines(node_dir)}; }} > {env}.tmp && mv -f {env}.tmp {env}"
    )


def prepare(remote: Runs, node_dir: str) -> None:
    remote.run(prepare_command(node_dir), timeout=60)
