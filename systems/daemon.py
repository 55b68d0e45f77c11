"""Daemons on a host, by pid file: start detached, signal, stop, and wait for them to go.

Each daemon has a run script ``<dir>/<name>.sh`` that records its pid and ``exec``s the
program, so the pid file names the program itself; ``setsid -f`` detaches it from the SSH
session. Every command goes through the host's ``Remote`` (the one SSH path).
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.remote import Remote, quote_all


def script(directory: str, name: str, argv: Sequence[object]) -> str:
    """The run script of daemon ``name``: cd, record the pid, export what ``node.env`` holds
    (what the run's nemesis needs of the host, e.g. libfaketime), exec ``argv``."""
    return (
        f"#!/bin/sh\ncd {directory} || exit 1\necho $$ > {name}.pid\n"
        "if [ -f node.env ]; then set -a; . ./node.env; set +a; fi\n"
        f"exec {quote_all(argv)}\n"
    )


def install(remote: Remote, directory: str, name: str, argv: Sequence[object]) -> None:
    remote.write_file(f"{directory}/{name}.sh", script(directory, name, argv), mode=0o755)


def start(remote: Remote, directory: str, name: str) -> None:
    """Start ``name`` detached, its output appended to ``<name>.log``."""
    d = directory
    remote.run(
        f"cd {d} && rm -f {name}.pid && "
        f"setsid -f sh {d}/{name}.sh >> {d}/{name}.log 2>&1 < /dev/null",
        timeout=15,
    )


def signal(remote: Remote, directory: str, name: str, sig: str, *, check: bool = True) -> None:
    """Send ``sig`` to ``name``; with ``check``, fail when it is not running."""
    remote.run(
        f"p=$(cat {directory}/{name}.pid 2>/dev/null) && kill -{sig} $p",
        timeout=15,
        check=check,
    )


def stop_command(directory: str, name: str, grace: float = 10.0) -> str:
    """Shell that ends ``name``: CONT and TERM, up to ``grace`` s, then KILL; waits until gone."""
    tries = max(1, int(grace / 0.1))
    return (
        f"p=$(cat {directory}/{name}.pid 2>/dev/null) || exit 0; "
        f"kill -0 $p 2>/dev/null || exit 0; kill -CONT $p; kill -TERM $p; "
        f"for i in $(seq {tries}); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done; "
        f"kill -KILL $p; for i in $(seq 50); do kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done"
    )


def stop(remote: Remote, directory: str, names: Sequence[str], grace: float = 10.0) -> None:
    if names:
        cmd = " ; ".join(f"( {stop_command(directory, n, grace)} )" for n in names)
        remote.run(cmd, timeout=grace + 20, check=False)


def alive(remote: Remote, directory: str, name: str) -> bool:
    r = remote.run(
        f"p=$(cat {directory}/{name}.pid 2>/dev/null) && kill -0 $p", timeout=15, check=False
    )
    return r.ok


def wait_until(remote: Remote, directory: str, name: str, probe: str, timeout: float) -> None:
    """Run ``probe`` every 0.2 s until it succeeds; fail at once if the daemon died."""
    tries = max(1, int(timeout / 0.2))
    cmd = (
        f"for i in $(seq {tries}); do {probe} >/dev/null 2>&1 && exit 0; "
        f"  [ -f {directory}/{name}.pid ] && ! kill -0 $(cat {directory}/{name}.pid) 2>/dev/null "
        f"&& exit 3; sleep 0.2; done; exit 4"
    )
    r = remote.run(cmd, timeout=timeout + 30, check=False)
    if not r.ok:
        why = "exited" if r.exit_code == 3 else f"did not answer in {timeout:g}s"
        tail = remote.run(f"tail -n 20 {directory}/{name}.log", check=False).stdout
        raise RuntimeError(f"{remote.name}: {name} {why}; last log lines:\n{tail}")


def ensure_programs(remote: Remote, programs: Sequence[str], packages: Sequence[str]) -> None:
    """Install Debian ``packages`` on a host that lacks one of ``programs`` (a real VM: the
    namespace hosts share this machine's, which ``scripts/setup.sh`` installs)."""
    check = " && ".join(f"command -v {p}" for p in programs)
    if remote.run(check, check=False).ok:
        return
    r = remote.run(
        "command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        f"--no-install-recommends {' '.join(packages)}",
        timeout=600,
        check=False,
    )
    if not r.ok:
        raise RuntimeError(
            f"{remote.name}: {', '.join(programs)} missing and could not be installed "
            f"(install Debian's {' and '.join(packages)})"
        )
