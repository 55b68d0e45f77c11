"""A node's host made ready for faults, and cleared of what an earlier run left.

``prepare`` runs on every host before the system is installed (``harness.run`` calls it):
it removes our iptables chains, unmounts powerfs mounts in the node's directory, ends a
strobe loop and sets the clock offset to 0 — the leftovers of a harness that was SIGKILLed
mid-fault — and writes ``node.env`` with the lines the run's nemesis asks for
(``host_env``: libfaketime for clock faults, nothing otherwise). Every step is idempotent.
"""

from __future__ import annotations

import shlex
from typing import Protocol

from nemesis import clock, iptables, power


class Runs(Protocol):
    def run_shell(
        self, script: str, *args: object, timeout: float | None = ..., check: bool = ...
    ) -> object: ...


def prepare_command(node_dir: str, env_lines: str = "") -> str:
    env = shlex.quote(f"{node_dir}/node.env")
    lines = f"{{ {env_lines}; }}" if env_lines else "true"
    return (
        f"mkdir -p {shlex.quote(node_dir)} && {{ {iptables.remove_all()}; }}; "
        f"{{ {power.unmount_command(node_dir)}; }}; "
        f"{clock.reset(node_dir)} && {lines} > {env}.tmp && mv -f {env}.tmp {env}"
    )


def prepare(remote: Runs, node_dir: str, env_lines: str = "") -> None:
    remote.run_shell(prepare_command(node_dir, env_lines), timeout=60)
