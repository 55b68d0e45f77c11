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
        f"#!/bin/sh\ncd {quote_all([directory])} || exit 1\necho $$ > {quote_all([name])}.pid\n"
        "if [ -f node.env ]; then set -a; . ./node.env; set +a; fi\n"
        f"exec {quote_all(argv)}\n"
    )


def install(remote: Remote, directory: str, name: str, argv: Sequence[object]) -> None:
    remote.write_file(f"{directory}/{name}.sh", script(directory, name, argv), mode=0o755)


# The shell below is fixed text: the directory, daemon names and numbers reach it as its
# positional parameters (``Remote.run_shell``), never pasted in.
_START = 'cd "$1" && rm -f "$2.pid" && setsid -f sh "$1/$2.sh" >> "$1/$2.log" 2>&1 < /dev/null'
_SIGNAL = 'p=$(cat "$1/$2.pid" 2>/dev/null) && kill -"$3" "$p"'
_ALIVE = 'p=$(cat "$1/$2.pid" 2>/dev/null) && kill -0 "$p"'
_STOP = (
    'd=$1 tries=$2; shift 2; for name in "$@"; do ('
    ' p=$(cat "$d/$name.pid" 2>/dev/null) || exit 0;'
    ' kill -0 "$p" 2>/dev/null || exit 0; kill -CONT "$p"; kill -TERM "$p";'
    ' for i in $(seq "$tries"); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.1; done;'
    ' kill -KILL "$p"; for i in $(seq 50); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.1; done'
    " ); done"
)
_WAIT = (
    'd=$1 name=$2 tries=$3; shift 3; for i in $(seq "$tries"); do'
    ' "$@" >/dev/null 2>&1 && exit 0;'
    ' [ -f "$d/$name.pid" ] && ! kill -0 "$(cat "$d/$name.pid")" 2>/dev/null && exit 3;'
    " sleep 0.2; done; exit 4"
)


def start(remote: Remote, directory: str, name: str) -> None:
    """Start ``name`` detached, its output appended to ``<name>.log``."""
    remote.run_shell(_START, directory, name, timeout=15)


def signal(remote: Remote, directory: str, name: str, sig: str, *, check: bool = True) -> None:
    """Send ``sig`` to ``name``; with ``check``, fail when it is not running."""
    remote.run_shell(_SIGNAL, directory, name, sig, timeout=15, check=check)


def stop(remote: Remote, directory: str, names: Sequence[str], grace: float = 10.0) -> None:
    """End each of ``names``: CONT and TERM, up to ``grace`` s, then KILL; waits until gone."""
    if names:
        tries = max(1, int(grace / 0.1))
        remote.run_shell(_STOP, directory, tries, *names, timeout=grace + 20, check=False)


def alive(remote: Remote, directory: str, name: str) -> bool:
    return remote.run_shell(_ALIVE, directory, name, timeout=15, check=False).ok


def wait_until(
    remote: Remote, directory: str, name: str, probe: Sequence[object], timeout: float
) -> None:
    """Run the command ``probe`` (an argument list) every 0.2 s until it succeeds; fail at
    once if the daemon died."""
    tries = max(1, int(timeout / 0.2))
    r = remote.run_shell(_WAIT, directory, name, tries, *probe, timeout=timeout + 30, check=False)
    if not r.ok:
        why = "exited" if r.exit_code == 3 else f"did not answer in {timeout:g}s"
        tail = remote.run(["tail", "-n", "20", f"{directory}/{name}.log"], check=False).stdout
        raise RuntimeError(f"{remote.name}: {name} {why}; last log lines:\n{tail}")


def ensure_programs(remote: Remote, programs: Sequence[str], packages: Sequence[str]) -> None:
    """Install Debian ``packages`` on a host that lacks one of ``programs`` (a real VM: the
    namespace hosts share this machine's, which ``scripts/setup.sh`` installs)."""
    have = 'for p in "$@"; do command -v "$p" >/dev/null || exit 1; done'
    if remote.run_shell(have, *programs, check=False).ok:
        return
    r = remote.run_shell(
        "command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
        '--no-install-recommends "$@"',
        *packages,
        timeout=600,
        check=False,
    )
    if not r.ok:
        raise RuntimeError(
            f"{remote.name}: {', '.join(programs)} missing and could not be installed "
            f"(install Debian's {' and '.join(packages)})"
        )
