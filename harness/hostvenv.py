"""A virtualenv on a host, installed from the run's wheels with no package index.

The run builds the project's wheels once (``Bundle.build``, ``harness.wheels``); each host
gets them in ``<dir>/dist/`` with a ``MANIFEST`` of their hashes and a virtualenv in
``<dir>/venv/``. A host whose manifest matches and whose virtualenv still answers ``probe``
is left alone, so a second run on the same hosts installs nothing. The base interpreter is
the one ``scripts/prepare-node.sh`` finds (it installs what a host lacks, where it can).

Two users: the reference node's own virtualenv (``systems.dynamo``) and the power-loss
fault's tools for a system with no Python of its own (``nemesis.power``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness import wheels
from harness.wheels import DISTRIBUTION, INSTALLER, source_root

if TYPE_CHECKING:
    from harness.remote import Remote

log = logging.getLogger(__name__)

PREPARE_SCRIPT = "scripts/prepare-node.sh"
EXTRAS = (("fast", "uvloop-"), ("powerfs", "mfusepy-"))
"""Extras of the project, each installed when its wheel (by name prefix) is in the bundle."""


@dataclass(frozen=True)
class Bundle:
    """The wheels every host installs from, and their manifest (equal: nothing to do)."""

    wheels: tuple[Path, ...] = ()
    manifest: str = ""

    @classmethod
    def build(cls, out: Path) -> Bundle:
        built = wheels.build(out)
        return cls(tuple(built), wheels.manifest(built))

    def extras(self, wanted: Sequence[str]) -> list[str]:
        """Those of ``wanted`` whose wheel the bundle holds (uvloop is optional, say)."""
        have = dict(EXTRAS)
        return [
            e for e in wanted if e in have and any(w.name.startswith(have[e]) for w in self.wheels)
        ]


def prepare_host(remote: Remote, directory: str, timeout: float) -> str:
    """Run ``prepare-node.sh`` in ``directory`` (made, mode 755); the base Python it names."""
    remote.run(["mkdir", "-p", directory])
    remote.run(["chmod", "755", directory])
    remote.put(source_root() / PREPARE_SCRIPT, f"{directory}/prepare-node.sh")
    out = remote.run(["sh", f"{directory}/prepare-node.sh"], timeout=timeout).stdout
    return out.strip().splitlines()[-1].removeprefix("python=")


def install_command(directory: str, bundle: Bundle, extras: Sequence[str]) -> list[str]:
    """pip, run from its own wheel, installing the project (with ``extras``) from ``dist/``."""
    extra = f"[{','.join(extras)}]" if extras else ""
    pip = next(w.name for w in bundle.wheels if w.name.startswith(f"{INSTALLER}-"))
    return [
        *(f"{directory}/venv/bin/python", f"{directory}/dist/{pip}/pip", "install", "--isolated"),
        *("--quiet", "--no-index", "--disable-pip-version-check"),
        *("--find-links", f"{directory}/dist", f"{DISTRIBUTION}{extra}"),
    ]


def install(
    remote: Remote,
    directory: str,
    bundle: Bundle,
    *,
    python: str,
    extras: Sequence[str],
    probe: Sequence[str],
    timeout: float,
) -> bool:
    """``directory/venv`` made from ``python`` with the bundle installed, unless the host
    already has this manifest and ``probe`` (an argument vector) succeeds; True if it
    installed."""
    have = remote.run_shell('cat "$1" 2>/dev/null', f"{directory}/dist/MANIFEST", check=False)
    if have.stdout == bundle.manifest and remote.run(list(probe), check=False).ok:
        return False
    log.info("%s: installing %d wheels in %s", remote.name, len(bundle.wheels), directory)
    remote.run(["rm", "-rf", f"{directory}/venv", f"{directory}/dist"])
    remote.run(["mkdir", "-p", f"{directory}/dist"])
    for w in bundle.wheels:
        remote.put(w, f"{directory}/dist/{w.name}")
    venv = f"{directory}/venv"
    remote.run([python, "-m", "venv", "--without-pip", venv], timeout=timeout)
    remote.run(install_command(directory, bundle, bundle.extras(extras)), timeout=timeout)
    remote.write_file(f"{directory}/dist/MANIFEST", bundle.manifest)
    return True
