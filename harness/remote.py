"""The one SSH path: every command the harness, a system or a nemesis runs on a node.

A ``Host`` says how to reach a node; a ``Remote`` is an open (lazy) SSH connection to it
with a connect timeout and a per-command timeout. Nothing else in the project opens SSH
connections, so a fault that breaks SSH breaks it the same way for everyone.

Commands are argument vectors: ``Remote.run(["rm", "-rf", path])`` quotes every
argument (``shlex.join``), so a name with spaces, ``;`` or ``$(…)`` stays one argument
and is never read as shell. Shell syntax — pipes, redirects, loops — only through the
explicitly named ``Remote.run_shell(script, *args)``: the script is fixed text and the
values it works on are passed as its positional parameters (``"$1"``…), quoted the same
way, never pasted into it. Commands run as the login user (root on every provider here).
"""

from __future__ import annotations

import io
import logging
import os
import shlex
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import invoke
import paramiko
from fabric import Config, Connection

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_COMMAND_TIMEOUT = 120.0


class RemoteError(Exception):
    """A command failed on a node, timed out, or the node could not be reached."""

    def __init__(self, host: str, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(f"{host}: {message}")
        self.host = host
        self.exit_code = exit_code


def trust_file() -> Path:
    """Where the harness keeps host keys it trusted on first use (no ``--ssh-known-hosts``):
    ``$XDG_STATE_HOME/dynamo-harness/known_hosts``, by default under ``~/.local/state``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dynamo-harness" / "known_hosts"


class TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """A host never seen before: its key is recorded in ``path`` and trusted from then on.
    A host seen before is checked against the recorded key (paramiko refuses a changed key
    with ``BadHostKeyException`` before this policy is asked), so a host whose key changed
    — a man in the middle, or a reinstalled machine — is refused, never silently accepted."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning(
            "trusting %s's host key on first use (%s %s), kept in %s",
            hostname,
            key.get_name(),
            key.fingerprint,
            self.path,
        )


@dataclass(frozen=True)
class Host:
    """How to reach one node: its name in the test (n1…), and its SSH coordinates."""

    name: str
    address: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    known_hosts: Path | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    host: str
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def quote_all(args: Iterable[object]) -> str:
    """One shell word per argument (``shlex.join`` over ``str`` of each)."""
    return shlex.join(str(a) for a in args)


def command_line(argv: Sequence[object]) -> str:
    """The command line that runs ``argv`` as given: each element one argument."""
    if isinstance(argv, str | bytes):
        raise TypeError(
            f"a remote command is an argument list, not {type(argv).__name__} {argv!r}: "
            "pass [program, arg, ...], or use run_shell() for shell syntax"
        )
    if not argv:
        raise ValueError("an empty remote command")
    return quote_all(argv)


def shell_line(script: str, args: Sequence[object] = ()) -> str:
    """The command line that runs ``script`` with ``sh -c``, ``args`` as its ``$1``…"""
    return command_line(["sh", "-c", script, "sh", *args])


class Remote:
    """An SSH connection to one host. Thread-safe: each command is its own channel."""

    def __init__(self, host: Host, *, command_timeout: float = DEFAULT_COMMAND_TIMEOUT) -> None:
        self.host = host
        self.command_timeout = command_timeout
        self._lock = threading.Lock()
        self._conn: Connection | None = None

    @property
    def name(self) -> str:
        return self.host.name

    def _connection(self) -> Connection:
        with self._lock:
            if self._conn is not None and self._conn.is_connected:
                return self._conn
            h = self.host
            # Never read the user's ~/.ssh/config, agent or default keys: a test reaches
            # only the hosts and keys it was given.
            config = Config(ssh_config=paramiko.SSHConfig(), lazy=True)
            kwargs: dict[str, object] = {
                "look_for_keys": False,
                "allow_agent": False,
                "banner_timeout": h.connect_timeout,
                "auth_timeout": h.connect_timeout,
                "channel_timeout": h.connect_timeout,
            }
            if h.key_file is not None:
                kwargs["key_filename"] = str(h.key_file)
            conn = Connection(
                h.address,
                user=h.user,
                port=h.port,
                config=config,
                connect_timeout=h.connect_timeout,
                connect_kwargs=kwargs,
            )
            if h.known_hosts is not None:
                conn.client.load_host_keys(str(h.known_hosts))
                conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
            else:
                tofu = trust_file()
                if tofu.exists():
                    conn.client.load_host_keys(str(tofu))
                conn.client.set_missing_host_key_policy(TrustOnFirstUse(tofu))
            try:
                conn.open()
            except Exception as e:  # socket errors, auth, host key: all mean "unreachable"
                conn.close()
                raise RemoteError(h.name, f"cannot connect to {h.address}:{h.port}: {e}") from e
            transport = conn.client.get_transport()
            if transport is not None:
                transport.set_keepalive(5)
            self._conn = conn
            return conn

    def connect(self) -> None:
        self._connection()

    def run(
        self,
        argv: Sequence[object],
        *,
        timeout: float | None = None,
        check: bool = True,
    ) -> Result:
        """Run the program ``argv[0]`` with the arguments ``argv[1:]``, each passed as is
        (quoted); raise ``RemoteError`` if it fails and ``check`` is set."""
        return self._run(command_line(argv), timeout, check)

    def run_shell(
        self,
        script: str,
        *args: object,
        timeout: float | None = None,
        check: bool = True,
    ) -> Result:
        """Run shell text — for pipes, redirects, loops — with ``sh -c``; ``args`` are its
        positional parameters (``"$1"``…), quoted, so no value is ever pasted into
        ``script``."""
        return self._run(shell_line(script, args), timeout, check)

    def _run(self, command: str, timeout: float | None, check: bool) -> Result:
        conn = self._connection()
        t = self.command_timeout if timeout is None else timeout
        log.debug("%s$ %s", self.name, command)
        kwargs: dict[str, object] = {"hide": True, "warn": True, "timeout": t, "in_stream": False}
        try:
            r = conn.run(command, **kwargs)
        except invoke.CommandTimedOut as e:
            raise RemoteError(self.name, f"timed out after {t:g}s: {command}") from e
        except (OSError, paramiko.SSHException, EOFError) as e:
            self.close()
            raise RemoteError(self.name, f"connection lost running {command!r}: {e}") from e
        result = Result(self.name, command, r.exited, r.stdout, r.stderr)
        if check and not result.ok:
            detail = (r.stderr or r.stdout).strip()[-2000:]
            raise RemoteError(
                self.name, f"exit {r.exited}: {command}\n{detail}", exit_code=r.exited
            )
        return result

    def put(self, local: Path, remote: str) -> None:
        try:
            self._connection().put(str(local), remote)
        except (OSError, paramiko.SSHException) as e:
            raise RemoteError(self.name, f"upload {local} -> {remote}: {e}") from e

    def get(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection().get(remote, str(local))
        except (OSError, paramiko.SSHException) as e:
            raise RemoteError(self.name, f"download {remote} -> {local}: {e}") from e

    def write_file(self, remote: str, text: str, mode: int = 0o644) -> None:
        """Write ``text`` to ``remote`` (via a temp file and rename: readers see all or none)."""
        tmp = f"{remote}.tmp"
        try:
            self._connection().put(io.BytesIO(text.encode()), tmp)
        except (OSError, paramiko.SSHException) as e:
            raise RemoteError(self.name, f"write {remote}: {e}") from e
        self.run_shell('chmod "$1" "$2" && mv -f "$2" "$3"', f"{mode:o}", tmp, remote)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    def __repr__(self) -> str:
        return f"Remote({self.host.name}@{self.host.address}:{self.host.port})"


def on_all(remotes: Sequence[Remote], fn: Callable[[Remote], T]) -> dict[str, T]:
    """Run ``fn`` on every remote in parallel threads; re-raise the first failure.

    On an exception (also Ctrl-C) the connections are closed, which ends commands that are
    still running, so the caller's cleanup never waits on a slow remote step.
    """
    if not remotes:
        return {}
    pool = ThreadPoolExecutor(max_workers=len(remotes), thread_name_prefix="remote")
    try:
        futures = {r.name: pool.submit(fn, r) for r in remotes}
        return {name: f.result() for name, f in futures.items()}
    except BaseException:
        for r in remotes:
            r.close()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
