"""A cluster of real node processes on loopback, for ``dynamo cluster``, tests and benches.

No root, no SSH: each node is ``python -m dynamo node`` on 127.0.0.1 with its own data
directory and log file. Nodes can be killed with any signal and restarted on the same port
and data, as a user's init system would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dynamo.client import Client
from dynamo.errors import DynamoError


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports the kernel says are free now (bound together, so they are distinct)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class LoopbackCluster:
    data_dir: Path
    size: int = 5
    host: str = "127.0.0.1"
    base_port: int | None = None
    node_args: list[str] = field(default_factory=list)
    """Extra ``dynamo node`` options for every node, e.g. ``["--n", "3", "--mode", "lww"]``."""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        ports = (
            list(range(self.base_port, self.base_port + self.size))
            if self.base_port
            else free_ports(self.size, self.host)
        )
        self.addresses = {f"n{i + 1}": f"{self.host}:{port}" for i, port in enumerate(ports)}
        self.seeds = dict(self.addresses)
        """The initial members; a node added later starts outside the ring until it joins."""

    @property
    def names(self) -> list[str]:
        return list(self.addresses)

    def command(self, name: str) -> list[str]:
        seeds = ",".join(f"{n}={a}" for n, a in self.seeds.items())
        return [
            sys.executable,
            "-m",
            "dynamo",
            "node",
            "--name",
            name,
            "--listen",
            self.addresses[name],
            "--seeds",
            seeds,
            "--data-dir",
            str(self.data_dir / name),
            *self.node_args,
        ]

    def start(self, names: list[str] | None = None, *, wait: float = 15.0) -> None:
        for name in names or self.names:
            (self.data_dir / name).mkdir(parents=True, exist_ok=True)
            log = (self.data_dir / name / "node.log").open("ab")
            self.procs[name] = subprocess.Popen(
                self.command(name), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
        for name in names or self.names:
            self.wait_ready(name, wait)

    def add(self, name: str) -> str:
        """Start one more node, outside the ring (``dynamo admin join`` brings it in)."""
        self.addresses[name] = f"{self.host}:{free_ports(1, self.host)[0]}"
        self.start([name])
        return self.addresses[name]

    def wait_ready(self, name: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                log = (self.data_dir / name / "node.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"node {name} exited with {proc.returncode}:\n{log}")
            try:
                with Client(self.addresses[name], timeout=1.0) as c:
                    c.ping()
                return
            except DynamoError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node {name} did not answer in {timeout:g}s") from None
                time.sleep(0.05)

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs[name]
        os.kill(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait()

    def kill(self, name: str) -> None:
        self.signal(name, signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every node (resuming paused ones), then SIGKILL what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                for sig in (signal.SIGCONT, signal.SIGTERM):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, sig)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def client(self, *names: str, timeout: float = 5.0) -> Client:
        return Client([self.addresses[n] for n in (names or self.names)], timeout)

    def __enter__(self) -> LoopbackCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
